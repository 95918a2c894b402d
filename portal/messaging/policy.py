"""The one contact policy every outbound message passes before it is queued (DOMAIN.md §4).

Decisions are made for a batch of candidates at once — one query for the batch's recent
messages, one per registered state rule — so a job planning a million customers asks the
database a few times per thousand customers, not a few times per customer.

Rooms above messaging (tickets: "has an open complaint") register state rules here at app
start, so this room never imports them.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.messaging.models import Message, MessageStatus, Purpose, Suppression

# Rules that hold a customer back because of their state: name → ids among those given.
StateRule = Callable[[list[int]], set[int]]
_state_rules: dict[str, StateRule] = {}

# Flags on the customer that count as states too.
FLAG_STATES = ("in_arrears", "hardship", "vulnerable")
COUNTED = (MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING, MessageStatus.SENT)


def register_state_rule(name: str, rule: StateRule) -> None:
    _state_rules[name] = rule


def state_rule_names() -> list[str]:
    return sorted([*FLAG_STATES, *_state_rules])


@dataclass(frozen=True)
class Cap:
    """At most `limit` messages of `purposes` per customer in any `days` days."""

    purposes: frozenset[str]
    limit: int
    days: int
    include_transactional: bool = False

    def describe(self) -> str:
        return f"{'+'.join(sorted(self.purposes))}: {self.limit}/{self.days}d"


@dataclass(frozen=True)
class PolicySettings:
    caps: tuple[Cap, ...]
    quiet_start: time
    quiet_end: time
    # Which states hold back which purpose (transactional messages are never held by state).
    suppress_when: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict) -> "PolicySettings":
        return cls(
            caps=parse_caps(config.get("CONTACT_CAPS", DEFAULT_CAPS)),
            quiet_start=parse_quiet(config.get("QUIET_HOURS", DEFAULT_QUIET))[0],
            quiet_end=parse_quiet(config.get("QUIET_HOURS", DEFAULT_QUIET))[1],
            suppress_when={
                purpose.value: frozenset(
                    s.strip()
                    for s in str(
                        config.get(f"SUPPRESS_{purpose.value.upper()}_WHEN", DEFAULT_SUPPRESS)
                    ).split(",")
                    if s.strip()
                )
                for purpose in Purpose
            },
        )


DEFAULT_CAPS = "survey:1/30,care+survey:3/7,care+survey+service!:6/7"
DEFAULT_QUIET = "22:00-08:00"
DEFAULT_SUPPRESS = "open_complaint,in_arrears,hardship,vulnerable"


def parse_caps(text: str) -> tuple[Cap, ...]:
    """ "survey:1/30,care+survey:3/7" → caps; a trailing "!" counts transactional ones too."""
    caps = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            names, rule = part.split(":")
            limit, days = rule.split("/")
            transactional = names.endswith("!")
            purposes = frozenset(names.rstrip("!").split("+"))
            cap = Cap(purposes, int(limit), int(days), transactional)
        except ValueError as error:
            raise ValueError(f"a cap reads like survey:1/30, not {part!r}") from error
        unknown = purposes - {p.value for p in Purpose}
        if unknown or cap.limit < 0 or cap.days <= 0:
            raise ValueError(f"a cap reads like survey:1/30, not {part!r}")
        caps.append(cap)
    return tuple(caps)


def parse_quiet(text: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(t.strip()) for t in text.split("-"))
    except ValueError as error:
        raise ValueError(f"quiet hours read like 22:00-08:00, not {text!r}") from error
    return start, end


@dataclass(frozen=True)
class Candidate:
    """A message about to be queued: to whom, for what, and when it would go."""

    customer_id: int
    purpose: str
    transactional: bool
    send_at: datetime


@dataclass(frozen=True)
class Recipient:
    """What the policy reads about a customer (a row, not an ORM object: batches are big)."""

    id: int
    email: str | None
    timezone: str
    consent_care: bool
    consent_survey: bool
    consent_service: bool
    deceased: bool
    do_not_contact: bool
    in_arrears: bool
    hardship: bool
    vulnerable: bool
    erased: bool = False


@dataclass(frozen=True)
class Decision:
    status: str  # queued, deferred or suppressed
    send_at: datetime
    reason: str | None = None


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(moment: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`moment` if it is outside quiet hours in `zone`, else the first minute after them."""
    local = moment.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return moment
    day = local.date()
    if start > end and local.time() >= start:  # quiet hours run past midnight
        day += timedelta(days=1)
    return datetime.combine(day, end, zone).astimezone(as_utc(moment).tzinfo)


def _recent_counts(
    customer_ids: list[int], settings: PolicySettings, now: datetime
) -> dict[int, list[tuple[str, bool, datetime]]]:
    """Each customer's messages inside the longest cap window: (purpose, transactional, time)."""
    if not settings.caps or not customer_ids:
        return {}
    longest = max(cap.days for cap in settings.caps)
    rows = db.session.execute(
        select(
            Message.customer_id,
            Message.purpose,
            Message.transactional,
            func.coalesce(Message.next_attempt_at, Message.created_at),
        ).where(
            Message.customer_id.in_(customer_ids),
            Message.status.in_([s.value for s in COUNTED]),
            Message.created_at >= now - timedelta(days=longest),
        )
    )
    found: dict[int, list[tuple[str, bool, datetime]]] = defaultdict(list)
    for customer_id, purpose, transactional, when in rows:
        found[customer_id].append((purpose, transactional, as_utc(when)))
    return found


def suppressed_addresses(addresses: Iterable[str]) -> dict[str, str]:
    wanted = sorted({a.lower() for a in addresses if a})
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Suppression.address, Suppression.reason).where(Suppression.address.in_(wanted))
        ).all()
    )


def _over_cap(times: list[datetime], new: datetime, cap: Cap) -> bool:
    """Whether adding `new` puts more than `cap.limit` messages in some window of `cap.days`
    (the fullest windows start at a message, so only those starts are tried)."""
    span = timedelta(days=cap.days)
    every = sorted([*times, new])
    for start in every:
        if start <= new < start + span:
            inside = sum(1 for moment in every if start <= moment < start + span)
            if inside > cap.limit:
                return True
    return False


def decide(
    candidates: list[Candidate],
    recipients: dict[int, Recipient],
    settings: PolicySettings,
    now: datetime,
) -> list[Decision]:
    """The policy's answer for each candidate, in order. Candidates decided together count
    against each other's caps, so a batch can never overshoot a cap."""
    ids = sorted({c.customer_id for c in candidates})
    history = _recent_counts(ids, settings, now)
    states: dict[str, set[int]] = {name: rule(ids) for name, rule in _state_rules.items()}
    bounced = suppressed_addresses(r.email or "" for r in recipients.values())
    decisions = []
    for candidate in candidates:
        recipient = recipients.get(candidate.customer_id)
        decision = _decide_one(candidate, recipient, settings, history, states, bounced)
        if decision.status != MessageStatus.SUPPRESSED:
            history.setdefault(candidate.customer_id, []).append(
                (candidate.purpose, candidate.transactional, decision.send_at)
            )
        decisions.append(decision)
    return decisions


def _decide_one(
    candidate: Candidate,
    recipient: Recipient | None,
    settings: PolicySettings,
    history: dict[int, list[tuple[str, bool, datetime]]],
    states: dict[str, set[int]],
    bounced: dict[str, str],
) -> Decision:
    def held(reason: str) -> Decision:
        return Decision(MessageStatus.SUPPRESSED.value, candidate.send_at, reason)

    if recipient is None or recipient.erased:
        return held("customer not found or erased")
    if recipient.deceased:
        return held("customer is deceased")
    if recipient.do_not_contact:
        return held("customer asked not to be contacted")
    if not recipient.email:
        return held("no email address")
    if recipient.email.lower() in bounced:
        return held(f"address suppressed: {bounced[recipient.email.lower()]}")
    if not getattr(recipient, f"consent_{candidate.purpose}"):
        return held(f"no consent for {candidate.purpose} messages")
    if not candidate.transactional:
        for state in sorted(settings.suppress_when.get(candidate.purpose, frozenset())):
            if state in FLAG_STATES and getattr(recipient, state):
                return held(f"customer is flagged {state.replace('_', ' ')}")
            if state in states and candidate.customer_id in states[state]:
                return held(f"customer has an {state.replace('_', ' ')}")
    zone = ZoneInfo(recipient.timezone)
    send_at = next_allowed(candidate.send_at, zone, settings.quiet_start, settings.quiet_end)
    past = history.get(candidate.customer_id, [])
    for cap in settings.caps:
        if candidate.purpose not in cap.purposes:
            continue
        if candidate.transactional and not cap.include_transactional:
            continue
        times = [
            when
            for purpose, transactional, when in past
            if purpose in cap.purposes and (cap.include_transactional or not transactional)
        ]
        if _over_cap(times, send_at, cap):
            return held(f"frequency cap {cap.describe()} reached")
    if send_at > candidate.send_at:
        return Decision(MessageStatus.DEFERRED.value, send_at, "quiet hours")
    return Decision(MessageStatus.QUEUED.value, send_at)
