"""Care rules and campaigns: what admins change, each change an audit event.

Rules need no migration or set-up step: until an admin first saves one, the three rules exist
as disabled defaults (shown on /admin/care, skipped by `care.plan`). Switching a rule on stamps
`enabled_on` with today's date in the firm's zone (DEFAULT_TIMEZONE); the planner sends for no
date before it.

A campaign is a one-off message to an audience (a segment, optionally narrowed to customers
with given flags). Its preview runs the contact policy over the whole audience without writing
anything; sending queues the same drafts through the outbox, once, and keeps the outcome.
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.care.models import Campaign, CampaignStatus, CareRule, RuleKey
from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.core.transaction import transaction, use_case
from portal.customers.models import FLAGS, Customer, Segment
from portal.messaging import services as messaging
from portal.messaging.models import Purpose
from portal.messaging.templates import default_keys, default_template

NAME_MAX = 120
LEAD_DAYS_MAX = 60
BATCH = 5_000
CAMPAIGN_PURPOSES = (Purpose.CARE.value, Purpose.SERVICE.value)

# Values each kind of message is rendered with, besides those every message gets.
COMMON_VALUES = frozenset({"first_name", "firm", "unsubscribe_url"})
RULE_VALUES = {
    RuleKey.BIRTHDAY.value: frozenset(),
    RuleKey.FESTIVAL.value: frozenset({"festival"}),
    RuleKey.REMINDER.value: frozenset({"due_on", "account_last4"}),
}
CAMPAIGN_VALUES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleDefault:
    template_key: str
    send_hour: int
    days_before: str = ""


DEFAULT_RULES = {
    RuleKey.BIRTHDAY.value: RuleDefault("birthday", 9),
    RuleKey.FESTIVAL.value: RuleDefault("festival", 9),
    RuleKey.REMINDER.value: RuleDefault("reminder", 10, "7,1"),
}


def require_admin(actor: Actor) -> None:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins manage care rules and campaigns."))


def firm_today(now: datetime | None = None) -> date:
    zone = ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])
    return (now or utc_now()).astimezone(zone).date()


# ---------------------------------------------------------------- templates per use

_names_env = SandboxedEnvironment()


@lru_cache(maxsize=64)
def _values_used(key: str) -> frozenset[str]:
    """The values the shipped templates of `key` use (admins' edits are held to the same)."""
    used: set[str] = set()
    for locale in ("en", "zh_Hans"):
        for source in (default_template(key, locale) or ())[:3]:
            used |= meta.find_undeclared_variables(_names_env.parse(str(source)))
    return frozenset(used - set(_names_env.globals))


def template_keys(provided: frozenset[str]) -> list[str]:
    """Template kinds that render with only the values `provided` (plus the common ones)."""
    return [key for key in default_keys() if _values_used(key) <= COMMON_VALUES | provided]


def _check_template_key(key: str, provided: frozenset[str]) -> str:
    if key not in template_keys(provided):
        raise ValidationFailed(
            _l("Choose a template that this kind of message can fill in."), field="template_key"
        )
    return key


# ---------------------------------------------------------------- care rules


def _default_rule(key: str) -> CareRule:
    default = DEFAULT_RULES[key]
    return CareRule(
        key=key,
        enabled=False,
        enabled_on=None,
        template_key=default.template_key,
        send_hour=default.send_hour,
        days_before=default.days_before,
        version=0,
    )


def rules(actor: Actor) -> list[CareRule]:
    """The three rules, stored ones as they are and the others as their disabled defaults
    (not stored: showing the page writes nothing)."""
    require_admin(actor)
    stored = {rule.key: rule for rule in db.session.scalars(select(CareRule))}
    return [stored.get(key) or _default_rule(key) for key in DEFAULT_RULES]


def rule(actor: Actor, key: str) -> CareRule:
    """One rule, stored or as its disabled default."""
    require_admin(actor)
    if key not in DEFAULT_RULES:
        raise NotFound(_l("No such care rule."))
    return db.session.get(CareRule, key) or _default_rule(key)


def parse_lead_days(text: str) -> str:
    """ "7, 1" → "7,1" (largest first, no repeats); refuses anything but 0–60 days."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) <= LEAD_DAYS_MAX for p in parts):
        raise ValidationFailed(
            _l(
                "Give the days before the due date as whole numbers from 0 to %(max)d, "
                'separated by commas, e.g. "7,1".',
                max=LEAD_DAYS_MAX,
            ),
            field="days_before",
        )
    return ",".join(str(n) for n in sorted({int(p) for p in parts}, reverse=True))


def _rule_changed(*_use_case_args: Any, **_use_case_kwargs: Any) -> Conflict:
    return Conflict(_l("Someone else changed this rule in the meantime. Reload and try again."))


# Two admins saving a rule for the first time both insert it: IntegrityError.
@use_case(stale=_rule_changed, conflicts=(StaleDataError, IntegrityError))
def save_rule(
    actor: Actor,
    key: str,
    *,
    enabled: bool,
    template_key: str,
    send_hour: int | None,
    days_before: str,
    version: int | None,
    now: datetime | None = None,
) -> CareRule:
    """Change one rule, made from `version` (0: the default, not stored yet; None, a form that
    lost it, is refused like an outdated one); switching it on stamps `enabled_on` with the
    firm's today. Saving it unchanged writes nothing."""
    current = rule(actor, key)
    if version != current.version:
        raise _rule_changed()
    if send_hour is None or not 0 <= send_hour <= 23:
        raise ValidationFailed(_l("The send hour is a whole hour from 0 to 23."), field="send_hour")
    changes = {
        "enabled": enabled,
        "enabled_on": firm_today(now) if enabled and not current.enabled else current.enabled_on,
        "template_key": _check_template_key(template_key, RULE_VALUES[key]),
        "send_hour": send_hour,
        "days_before": parse_lead_days(days_before) if key == RuleKey.REMINDER else "",
    }
    stored = current.version != 0  # a default not stored yet is version 0
    before = current.snapshot() if stored else None
    if stored and all(getattr(current, name) == value for name, value in changes.items()):
        return current
    if not stored:
        current.version = 1
        db.session.add(current)
    for name, value in changes.items():
        setattr(current, name, value)
    record_event(
        actor, "care.rule_changed", "care_rule", key, before=before, after=current.snapshot()
    )
    return current


@use_case
def enable_default_rules(actor: Actor, today: date) -> list[CareRule]:
    """Store and switch on every rule not stored yet, sending from `today` (the demo seed)."""
    added = []
    for key, default in DEFAULT_RULES.items():
        if db.session.get(CareRule, key) is not None:
            continue
        switched_on = CareRule(
            key=key,
            enabled=True,
            enabled_on=today,
            template_key=default.template_key,
            send_hour=default.send_hour,
            days_before=default.days_before,
        )
        db.session.add(switched_on)
        record_event(actor, "care.rule_changed", "care_rule", key, after=switched_on.snapshot())
        added.append(switched_on)
    return added


# ---------------------------------------------------------------- campaigns


@dataclass(frozen=True)
class Audience:
    segment: str = ""  # empty: every segment
    flags: tuple[str, ...] = ()  # customers with every one of these flags

    def as_json(self) -> dict[str, Any]:
        return {"segment": self.segment, "flags": list(self.flags)}

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> "Audience":
        value = value or {}
        return cls(str(value.get("segment") or ""), tuple(value.get("flags") or ()))


@dataclass
class Outcome:
    """How many of an audience the policy lets through, defers or holds back, and why."""

    audience: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, drafted: int, result: messaging.QueueResult) -> None:
        self.audience += drafted
        self.counts.update(result.counts)
        self.reasons.update(result.reasons)

    @property
    def receiving(self) -> int:
        return self.counts["queued"] + self.counts["deferred"]

    def held_back(self) -> list[tuple[str, int]]:
        """Reasons a customer gets nothing, most common first (quiet hours only delays)."""
        return [(r, n) for r, n in self.reasons.most_common() if r != "quiet hours"]

    def as_json(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "counts": dict(self.counts),
            "reasons": dict(self.reasons.most_common()),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> "Outcome":
        value = value or {}
        return cls(
            int(value.get("audience") or 0),
            Counter(value.get("counts") or {}),
            Counter(value.get("reasons") or {}),
        )


def check_audience(segment: str, flags: Sequence[str]) -> Audience:
    if segment and segment not in {s.value for s in Segment}:
        raise ValidationFailed(_l("Choose a segment from the list."), field="segment")
    if any(flag not in FLAGS for flag in flags):
        raise ValidationFailed(_l("Choose flags from the list."), field="flags")
    return Audience(segment, tuple(sorted(set(flags))))


@use_case
def create_campaign(
    actor: Actor,
    name: str,
    purpose: str,
    template_key: str,
    segment: str = "",
    flags: Sequence[str] = (),
) -> Campaign:
    """A draft campaign to the customers of `segment` (empty: every segment) who carry every
    one of `flags`."""
    require_admin(actor)
    name = " ".join((name or "").split())
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            _l("Give the campaign a name of at most %(max)d characters.", max=NAME_MAX),
            field="name",
        )
    if purpose not in CAMPAIGN_PURPOSES:
        raise ValidationFailed(_l("Choose what the campaign is for."), field="purpose")
    campaign = Campaign(
        name=name,
        purpose=purpose,
        template_key=_check_template_key(template_key, CAMPAIGN_VALUES),
        audience=check_audience(segment, flags).as_json(),
        status=CampaignStatus.DRAFT.value,
        created_by_id=actor.user_id,
    )
    db.session.add(campaign)
    db.session.flush()
    record_event(
        actor,
        "campaign.created",
        "campaign",
        campaign.id,
        after={
            "name": name,
            "purpose": purpose,
            "template_key": campaign.template_key,
            "audience": campaign.audience,
        },
    )
    return campaign


def get_campaign(actor: Actor, campaign_id: int | None) -> Campaign:
    require_admin(actor)
    campaign = db.session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign is None:
        raise NotFound(_l("No such campaign."))
    return campaign


def campaigns(actor: Actor, limit: int = 100) -> list[Campaign]:
    require_admin(actor)
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def _audience_pages(audience: Audience) -> Iterator[list[int]]:
    """The audience's customer ids in keyset pages (erased customers are nobody's audience)."""
    query = select(Customer.id).where(Customer.erased_at.is_(None))
    if audience.segment:
        query = query.where(Customer.segment == audience.segment)
    for flag in audience.flags:
        query = query.where(getattr(Customer, flag).is_(True))
    last = 0
    while True:
        ids = list(
            db.session.scalars(query.where(Customer.id > last).order_by(Customer.id).limit(BATCH))
        )
        if ids:
            yield ids
        if len(ids) < BATCH:
            return
        last = ids[-1]


@dataclass(frozen=True)
class _Sending:
    """What every draft of a campaign shares (plain values: the row reloads after commits)."""

    campaign_id: int
    purpose: str
    template_key: str
    audience: Audience

    @classmethod
    def of(cls, campaign: Campaign) -> "_Sending":
        return cls(
            campaign.id,
            campaign.purpose,
            campaign.template_key,
            Audience.from_json(campaign.audience),
        )

    def drafts(self, ids: list[int], now: datetime) -> list[messaging.Draft]:
        return [
            messaging.Draft(
                dedupe_key=f"campaign:{self.campaign_id}:{customer_id}",
                customer_id=customer_id,
                purpose=self.purpose,
                kind="campaign",
                template_key=self.template_key,
                send_at=now,
                transactional=self.purpose == Purpose.SERVICE.value,
                source_id=f"campaign:{self.campaign_id}",
            )
            for customer_id in ids
        ]


def _already_sent() -> Conflict:
    return Conflict(_l("This campaign has been sent already."))


def preview(actor: Actor, campaign_id: int, now: datetime | None = None) -> Outcome:
    """What sending a draft campaign now would do, decided by the contact policy; writes
    nothing. A campaign already sent has its outcome instead."""
    now = now or utc_now()
    campaign = get_campaign(actor, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise _already_sent()
    sending = _Sending.of(campaign)
    outcome = Outcome()
    for ids in _audience_pages(sending.audience):
        # A transaction per page, ended at once: on SQLite every transaction but a GET
        # request's holds the write lock, which a long preview would keep from other writers.
        with transaction():
            outcome.add(len(ids), messaging.plan(sending.drafts(ids, now), now))
    return outcome


@dataclass(frozen=True)
class CampaignPage:
    campaign: Campaign
    outcome: Outcome | None  # kept when it was sent
    preview: Outcome | None  # what sending it now would do, for a draft, when asked


def campaign_page(actor: Actor, campaign_id: int, with_preview: bool = False) -> CampaignPage:
    campaign = get_campaign(actor, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        outcome = Outcome.from_json(campaign.outcome) if campaign.outcome else None  # sending
        return CampaignPage(campaign, outcome, None)
    return CampaignPage(campaign, None, preview(actor, campaign_id) if with_preview else None)


def send_campaign(actor: Actor, campaign_id: int, now: datetime | None = None) -> Outcome:
    """Queue the campaign through the outbox, page by page, and keep the outcome. A campaign
    is sent once: the draft → queued change is made first, and only one request can make it.

    Each step is its own transaction (the change to queued, each page, the outcome), so a
    campaign to a million customers never holds one transaction open for long, and a page
    queued is kept whatever happens to the next.
    """
    require_admin(actor)
    now = now or utc_now()
    with transaction():
        sending = _Sending.of(get_campaign(actor, campaign_id))
        claimed = db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.DRAFT.value)
            .values(status=CampaignStatus.QUEUED.value, queued_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            raise _already_sent()
        record_event(
            actor,
            "campaign.queued",
            "campaign",
            campaign_id,
            before={"status": CampaignStatus.DRAFT.value},
            after={"status": CampaignStatus.QUEUED.value, "queued_at": now.isoformat()},
        )
    outcome = Outcome()
    for ids in _audience_pages(sending.audience):
        with transaction():
            outcome.add(len(ids), messaging.queue(sending.drafts(ids, now), now))
    with transaction():
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(outcome=outcome.as_json(), updated_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        record_event(actor, "campaign.sent", "campaign", campaign_id, after=outcome.as_json())
    return outcome
