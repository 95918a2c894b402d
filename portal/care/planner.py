"""`care.plan`: for "today" in each customer's time zone, the birthday, festival and repayment
reminder messages the enabled care rules ask for, queued through the outbox.

At any instant the world's zones fall on one to three local dates. The planner groups the IANA
zones by their local date and, per group and rule, streams only the matching rows with SQL
filters, in keyset pages of `BATCH`; each page goes through `messaging.services.queue` (which
applies the contact policy to the whole page) in a transaction of its own. Nothing is loaded
whole, so memory stays flat however many customers there are.

- Birthdays: `birthday IN (every date with today's month and day over the last 130 years)`, a
  set filter the database checks in one pass (and could answer from an index on `birthday`).
  In a year without 29 February, those born on it are greeted on 28 February.
- Festivals (see `festivals.py`): customers of a fitting language and zone, on the festival.
- Reminders: accounts due `n` days after today for each `n` of the rule's "7,1", through
  `ix_credit_accounts_next_due`; transactional, so no marketing consent is needed, but caps and
  quiet hours apply.

Erased customers are nobody's candidates (their accounts stay, their data does not).

Each message has a natural dedupe key (birthday:<customer>:<year>,
festival:<festival>:<customer>:<year>, reminder:<account>:<due date>:<days before>), so a re-run
of the same day — or a second process — adds nothing. Only the local "today" of the instant
planned is ever considered, and a rule only sends for local dates on or after its `enabled_on`:
a restart, a missed day or a rule switched on again never sends for days already past (a replay
with `--at` plans the day of that instant, and still nothing before `enabled_on`). The send
time is the rule's hour in the customer's local time on that date, or now when the plan runs
later that day.
"""

import threading
from calendar import isleap
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import or_, select

from portal.care.festivals import Festival, festivals_on, zones_in
from portal.care.models import CareRule, RuleKey
from portal.core.extensions import db
from portal.core.pagination import keyset_batches
from portal.core.timeutil import as_utc
from portal.core.transaction import transaction
from portal.customers.models import AccountStatus, CreditAccount, Customer
from portal.messaging import services as messaging
from portal.messaging.models import Purpose

BATCH = 5_000
BIRTH_YEARS = 130  # nobody older is greeted


@dataclass(frozen=True)
class ActiveRule:
    """An enabled rule as plain values (an ORM row would reload itself after every commit)."""

    key: str
    template_key: str
    send_hour: int
    enabled_on: date
    lead_days: tuple[int, ...]


@dataclass(frozen=True)
class DayGroup:
    """The zones whose local date is `day` at the planning instant."""

    day: date
    zones: tuple[str, ...]


@dataclass
class PlanSummary:
    days: list[str] = field(default_factory=list)
    drafted: Counter[str] = field(default_factory=Counter)  # by rule
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, rule: str, drafted: int, result: messaging.QueueResult) -> None:
        self.drafted[rule] += drafted
        self.statuses[rule].update(result.counts)
        self.reasons.update(result.reasons)

    def as_dict(self) -> dict[str, Any]:
        written = {rule: sum(counts.values()) for rule, counts in self.statuses.items()}
        return {
            "days": self.days,
            **{rule: dict(counts) for rule, counts in sorted(self.statuses.items())},
            "already_planned": sum(self.drafted.values()) - sum(written.values()),
            "reasons": dict(self.reasons.most_common()),
        }


def active_rules() -> list[ActiveRule]:
    rules = db.session.scalars(
        select(CareRule)
        .where(CareRule.enabled.is_(True), CareRule.enabled_on.is_not(None))
        .order_by(CareRule.key)
    )
    return [
        ActiveRule(
            rule.key, rule.template_key, rule.send_hour, rule.enabled_on, tuple(rule.lead_days())
        )
        for rule in rules
        if rule.enabled_on is not None
    ]


@lru_cache(maxsize=1)
def _zones() -> tuple[ZoneInfo, ...]:
    return tuple(ZoneInfo(name) for name in sorted(available_timezones()))


def local_days(now: datetime) -> list[DayGroup]:
    """Every IANA zone grouped by its local date at `now`, earliest date first."""
    groups: dict[date, list[str]] = defaultdict(list)
    for zone in _zones():
        groups[now.astimezone(zone).date()].append(zone.key)
    return [DayGroup(day, tuple(zones)) for day, zones in sorted(groups.items())]


def send_time(day: date, zone: str, hour: int, now: datetime) -> datetime:
    """`hour` o'clock on `day` in `zone`, or `now` if that has passed."""
    return max(datetime.combine(day, time(hour), ZoneInfo(zone)).astimezone(UTC), now)


def birthday_dates(day: date) -> list[date]:
    """Birth dates greeted on `day`: same month and day; 29 February on 28 February when the
    year has no 29th."""
    wanted = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not isleap(day.year):
        wanted.append((2, 29))
    return [
        date(year, month, dom)
        for year in range(day.year - BIRTH_YEARS, day.year)
        for month, dom in wanted
        if not ((month, dom) == (2, 29) and not isleap(year))
    ]


def plan_day(now: datetime, stop: threading.Event | None = None) -> dict[str, Any]:
    """Queue every care message due for the local "today" of each zone at `now`.

    Setting `stop` ends it between two pages, with what it queued so far kept and summed up
    (`"stopped": true`); the next run adds the rest."""
    now = as_utc(now)
    rules = active_rules()
    summary = PlanSummary()
    for group in local_days(now):
        summary.days.append(group.day.isoformat())
        for rule in rules:
            if group.day < rule.enabled_on:
                continue  # a rule never sends for a date before it was switched on
            for drafts in _drafts(rule, group, now):
                if stop is not None and stop.is_set():
                    return {**summary.as_dict(), "stopped": True}
                with transaction():
                    result = messaging.queue(drafts, now)
                summary.add(rule.key, len(drafts), result)
    return summary.as_dict()


def _drafts(rule: ActiveRule, group: DayGroup, now: datetime) -> Iterator[list[messaging.Draft]]:
    if rule.key == RuleKey.BIRTHDAY:
        yield from _birthday_drafts(rule, group, now)
    elif rule.key == RuleKey.FESTIVAL:
        for festival in festivals_on(group.day):
            yield from _festival_drafts(rule, festival, group, now)
    elif rule.key == RuleKey.REMINDER:
        for days_before in rule.lead_days:
            yield from _reminder_drafts(rule, days_before, group, now)


def _birthday_drafts(
    rule: ActiveRule, group: DayGroup, now: datetime
) -> Iterator[list[messaging.Draft]]:
    query = select(Customer.id, Customer.timezone).where(
        Customer.birthday.in_(birthday_dates(group.day)),
        Customer.timezone.in_(group.zones),
        Customer.erased_at.is_(None),
    )
    for rows in keyset_batches(query, Customer.id, BATCH):
        yield [
            _greeting(
                f"birthday:{cid}:{group.day.year}", cid, zone, RuleKey.BIRTHDAY, rule, group, now
            )
            for cid, zone in rows
        ]


def _festival_drafts(
    rule: ActiveRule, festival: Festival, group: DayGroup, now: datetime
) -> Iterator[list[messaging.Draft]]:
    zones = group.zones
    if festival.regions:
        zones = tuple(sorted(set(zones) & set(zones_in(festival.regions))))
    query = select(Customer.id, Customer.timezone, Customer.locale).where(
        Customer.timezone.in_(zones),
        Customer.erased_at.is_(None),
        or_(*(Customer.locale.like(f"{language}%") for language in sorted(festival.languages))),
    )
    for rows in keyset_batches(query, Customer.id, BATCH):
        yield [
            _greeting(
                f"festival:{festival.key}:{cid}:{group.day.year}",
                cid,
                zone,
                RuleKey.FESTIVAL,
                rule,
                group,
                now,
                festival=festival.name_for(locale),
            )
            for cid, zone, locale in rows
        ]


def _greeting(
    key: str,
    customer_id: int,
    zone: str,
    kind: str,
    rule: ActiveRule,
    group: DayGroup,
    now: datetime,
    **context: str,
) -> messaging.Draft:
    return messaging.Draft(
        dedupe_key=key,
        customer_id=customer_id,
        purpose=Purpose.CARE.value,
        kind=kind,
        template_key=rule.template_key,
        send_at=send_time(group.day, zone, rule.send_hour, now),
        context=dict(context),
        source_id=f"care:{rule.key}",
    )


def _reminder_drafts(
    rule: ActiveRule, days_before: int, group: DayGroup, now: datetime
) -> Iterator[list[messaging.Draft]]:
    due = group.day + timedelta(days=days_before)
    query = (
        select(CreditAccount.id, CreditAccount.customer_id, CreditAccount.number, Customer.timezone)
        .join(Customer, Customer.id == CreditAccount.customer_id)
        .where(
            CreditAccount.next_due_on == due,
            CreditAccount.status == AccountStatus.ACTIVE.value,
            Customer.timezone.in_(group.zones),
            Customer.erased_at.is_(None),
        )
    )
    for rows in keyset_batches(query, CreditAccount.id, BATCH):
        yield [
            messaging.Draft(
                dedupe_key=f"reminder:{account_id}:{due.isoformat()}:{days_before}",
                customer_id=customer_id,
                purpose=Purpose.SERVICE.value,
                kind=RuleKey.REMINDER.value,
                template_key=rule.template_key,
                send_at=send_time(group.day, zone, rule.send_hour, now),
                transactional=True,
                context={"due_on": due.isoformat(), "account_last4": number[-4:]},
                source_id=f"care:{rule.key}",
            )
            for account_id, customer_id, number, zone in rows
        ]
