"""The one contact policy every outbound message passes before it is queued: who may not be
written to at all (erased, deceased, do not contact, no address, a suppressed address), consent
per purpose, the states that hold back what is not transactional (flags on the customer, rules
registered by other rooms) and frequency caps, counted at the time the message would go; quiet
hours in the customer's own zone defer a message rather than drop it. The checks run in that
order, and the first that holds a message back is the reason recorded on its row.

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
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from portal.core.extensions import among, db, dialect_name
from portal.core.registry import contribute, contributions
from portal.core.timeutil import as_utc
from portal.messaging.models import Message, MessageStatus, Purpose, Suppression

# Rules that hold a customer back because of their state: name → ids among those given.
StateRule = Callable[[list[int]], set[int]]
STATE_RULES = "messaging.state_rules"

# Flags on the customer that count as states too.
FLAG_STATES = ("in_arrears", "hardship", "vulnerable")
COUNTED = (MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING, MessageStatus.SENT)


def register_state_rule(app: Flask, name: str, rule: StateRule) -> None:
    contribute(app, STATE_RULES, name, rule)


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
    # Quiet hours of someone who is not a customer: the zone a customer gets when none is
    # given (DEFAULT_TIMEZONE).
    default_timezone: str = "UTC"

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
            default_timezone=config.get("DEFAULT_TIMEZONE") or "UTC",
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


# Candidates, recipients and decisions are named tuples: a day's plan makes millions of them,
# and a tuple is made several times faster than a frozen dataclass.


class Candidate(NamedTuple):
    """A message about to be queued: to whom, for what, and when it would go.

    `address`, when given, is where it goes instead of the customer's email. Without a
    customer it is a transactional message to someone who is not one: no consent, flags,
    states or caps apply; the address must be there and not on the suppression list (delivery
    checks that it is valid, as for everyone), and quiet hours are those of DEFAULT_TIMEZONE,
    the zone of a customer who gave none.
    """

    customer_id: int | None
    purpose: str
    transactional: bool
    send_at: datetime
    address: str | None = None
    # A transactional answer to the customer's own message, expected at once: no quiet hours.
    immediate: bool = False


class Recipient(NamedTuple):
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


class Decision(NamedTuple):
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
    # Written so that both databases read ix_messages_customer_created, for the page's
    # customers only, however many messages the outbox holds: the statuses as NOT IN the ones
    # not counted, or either would look them up in ix_messages_due, which holds most of the
    # outbox; on PostgreSQL also the page's id range (redundant: a plan's pages come in id
    # order), without which it prefers reading the whole outbox once per page.
    conditions = [
        among(Message.customer_id, customer_ids),
        Message.status.not_in([s.value for s in MessageStatus if s not in COUNTED]),
        Message.created_at >= now - timedelta(days=longest),
    ]
    if dialect_name() == "postgresql":
        conditions.append(Message.customer_id.between(min(customer_ids), max(customer_ids)))
    rows = db.session.execute(
        select(
            Message.customer_id,
            Message.purpose,
            Message.transactional,
            func.coalesce(Message.next_attempt_at, Message.created_at),
        ).where(*conditions)
    )
    found: dict[int, list[tuple[str, bool, datetime]]] = defaultdict(list)
    for customer_id, purpose, transactional, when in rows:
        found[customer_id].append((purpose, transactional, as_utc(when)))
    return found


def suppressed_addresses(addresses: Iterable[str]) -> dict[str, str]:
    wanted = sorted({a.strip().lower() for a in addresses if a and a.strip()})
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Suppression.address, Suppression.reason).where(
                among(Suppression.address, wanted)
            )
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
    ids = sorted({c.customer_id for c in candidates if c.customer_id is not None})
    history = _recent_counts(ids, settings, now)
    states = _states(candidates, settings)
    bounced = suppressed_addresses(
        [
            *(r.email or "" for r in recipients.values()),
            *(c.address.strip() for c in candidates if c.address),
        ]
    )
    decisions = []
    for candidate in candidates:
        if candidate.customer_id is None:
            decisions.append(_decide_unknown(candidate, settings, bounced))
            continue
        recipient = recipients.get(candidate.customer_id)
        decision = _decide_one(candidate, recipient, settings, history, states, bounced)
        if decision.status != MessageStatus.SUPPRESSED:
            history.setdefault(candidate.customer_id, []).append(
                (candidate.purpose, candidate.transactional, decision.send_at)
            )
        decisions.append(decision)
    return decisions


def _states(candidates: list[Candidate], settings: PolicySettings) -> dict[str, set[int]]:
    """Each registered state rule's answer, asked only about the customers it could hold back:
    those with a message that is not transactional and of a purpose the state holds back."""
    rules: dict[str, StateRule] = contributions(STATE_RULES)
    asked: dict[str, set[int]] = defaultdict(set)
    for candidate in candidates:
        if candidate.transactional or candidate.customer_id is None:
            continue
        for state in settings.suppress_when.get(candidate.purpose, ()):
            if state in rules:
                asked[state].add(candidate.customer_id)
    return {name: rules[name](sorted(ids)) for name, ids in asked.items()}


def _held(candidate: Candidate, reason: str) -> Decision:
    return Decision(MessageStatus.SUPPRESSED.value, candidate.send_at, reason)


def _in_time(candidate: Candidate, zone: ZoneInfo, settings: PolicySettings) -> Decision:
    """Queued, or deferred to the end of quiet hours in `zone`."""
    if candidate.immediate:
        return Decision(MessageStatus.QUEUED.value, candidate.send_at)
    send_at = next_allowed(candidate.send_at, zone, settings.quiet_start, settings.quiet_end)
    if send_at > candidate.send_at:
        return Decision(MessageStatus.DEFERRED.value, send_at, "quiet hours")
    return Decision(MessageStatus.QUEUED.value, send_at)


def _decide_unknown(
    candidate: Candidate, settings: PolicySettings, bounced: dict[str, str]
) -> Decision:
    """A message to someone who is not a customer (see Candidate)."""
    if not candidate.transactional:
        return _held(candidate, "customer not found or erased")
    address = (candidate.address or "").strip().lower()
    if not address:
        return _held(candidate, "no email address")
    if address in bounced:
        return _held(candidate, f"address suppressed: {bounced[address]}")
    return _in_time(candidate, ZoneInfo(settings.default_timezone), settings)


def _decide_one(
    candidate: Candidate,
    recipient: Recipient | None,
    settings: PolicySettings,
    history: dict[int, list[tuple[str, bool, datetime]]],
    states: dict[str, set[int]],
    bounced: dict[str, str],
) -> Decision:
    def held(reason: str) -> Decision:
        return _held(candidate, reason)

    if recipient is None or recipient.erased:
        return held("customer not found or erased")
    if recipient.deceased:
        return held("customer is deceased")
    if recipient.do_not_contact:
        return held("customer asked not to be contacted")
    address = (candidate.address if candidate.address is not None else recipient.email) or ""
    if not address.strip():
        return held("no email address")
    if address.strip().lower() in bounced:
        return held(f"address suppressed: {bounced[address.strip().lower()]}")
    if not getattr(recipient, f"consent_{candidate.purpose}"):
        return held(f"no consent for {candidate.purpose} messages")
    if not candidate.transactional:
        for state in sorted(settings.suppress_when.get(candidate.purpose, frozenset())):
            if state in FLAG_STATES and getattr(recipient, state):
                return held(f"customer is flagged {state.replace('_', ' ')}")
            if state in states and candidate.customer_id in states[state]:
                return held(f"customer has an {state.replace('_', ' ')}")
    zone = ZoneInfo(recipient.timezone)
    timed = _in_time(candidate, zone, settings)
    send_at = timed.send_at
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
    return timed
