"""Demo teams and tickets: complaints, feedback, inquiries and compliments with their history.

The small scale is a queue to click through: every status, kind and severity, tickets past
their deadline and tickets due today, a paused clock, extended clocks, a restarted one, notes
and responses in Chinese and English. The large scale is a firm's three years: 300,000
tickets, about 3.5 % of them still open (the recent ones, and a backlog of stuck ones), each with
its history of events.

Every stored deadline is what the tickets room's services would have stored: the clocks are
computed with the same functions (`clocks.deadlines`, `BusinessCalendar.add_business_hours`)
under the deployment's regulatory profile, the regulatory deadlines cached per receipt day,
as they depend on nothing else. Tickets get their ids and references in order of receipt and
the reference counters end at the last number given, so the next intake continues the
sequence. Rows go in by table in chunks, like the customers room's (portal/demo/customers.py).

This module is the tickets' lifecycle: who sends each ticket and about what, where it is
routed, and how it moves through its statuses and clocks. Their words, in both languages,
are data in ticket_texts.py.
"""

from __future__ import annotations

from bisect import bisect
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import JSON, bindparam, func, insert, select, text
from tqdm import tqdm

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.extensions import db, dialect_name
from portal.core.timeutil import as_utc
from portal.customers.models import CreditAccount, Customer
from portal.demo import ticket_texts as texts
from portal.demo.base import SeedContext, bulk_insert, pick, store_reference_counters
from portal.tickets import clocks, deadlines
from portal.tickets.models import (
    OPEN_STATUSES,
    REFERENCE_PREFIX,
    REMEDIES,
    Kind,
    Notification,
    ReferenceCounter,
    Severity,
    Status,
    Team,
    TeamMember,
    Ticket,
    TicketEvent,
)
from portal.tickets.notifications import message_for
from portal.tickets.watch import WATCH_ACTOR

OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)
DEMO_HANDLER_EMAIL = "handler@demo.example.com"
DEMO_LEAD_EMAIL = "lead@demo.example.com"


@dataclass(frozen=True)
class Volume:
    tickets: int  # besides the showcase tickets of the demo handler
    days: int  # how far back tickets were received
    open_factor: float  # scales the chance that a ticket of a given age is still open
    feature_factor: float  # scales how often clocks are paused, restarted, tickets merged


VOLUMES = {
    "small": Volume(400, 150, 1.5, 4.0),
    "large": Volume(300_000, 3 * 365, 1.0, 1.0),
}
CHUNK = 5_000  # tickets whose rows are built and inserted together
VARIANTS = 16  # pre-rendered texts per (language, cause)

# The chance that a ticket received `age` days ago is still open, by age: the open share of
# the large seed comes to about 3.5 %, the recent tickets and a backlog of stuck ones.
OPEN_BY_AGE = ((1, 0.97), (3, 0.9), (7, 0.8), (15, 0.65), (30, 0.55), (60, 0.45), (120, 0.03))
OPEN_OLD = (365, 0.004, 0.001)  # up to a year, and beyond
OTHER_KINDS_OPEN = 0.3  # past a week, inquiries, feedback and compliments are rarely still open


# ---------------------------------------------------------------- teams

TEAMS = {"small": len(texts.DESKS), "large": len(texts.REGIONS) * len(texts.DESKS)}


def team_names(scale: str) -> list[str]:
    """Team names in order: desk by desk for the small seed, region by desk for the large."""
    if TEAMS[scale] == len(texts.DESKS):
        return [f"{zh} {en}" for zh, en in texts.DESKS]
    return [f"{rzh}{dzh} {ren}: {den}" for rzh, ren in texts.REGIONS for dzh, den in texts.DESKS]


@dataclass
class _Staff:
    team_ids: list[int]
    members: dict[int, list[int]]  # team id -> handlers who work its tickets
    leads: dict[int, int]  # team id -> lead
    emails: dict[int, str]
    registrars: list[int]  # who registers the tickets nobody is assigned to
    demo_handler: int | None
    lead_ids: list[int] = field(default_factory=list)  # every lead, by id: lead_of's order
    locales: dict[int, str | None] = field(default_factory=dict)  # notifications' language


def seed_teams(ctx: SeedContext) -> _Staff:
    """Teams with a lead each (the demo lead leads the first) and the handlers spread over
    them (the demo handler in the first team)."""
    users = db.session.execute(
        select(User.id, User.email, User.role, User.locale).where(User.active).order_by(User.id)
    ).all()
    emails = {u.id: u.email for u in users}
    handlers = [u.id for u in users if u.role == Role.HANDLER.value]
    leads = [u.id for u in users if u.role == Role.LEAD.value]
    demo_handler = next((u.id for u in users if u.email == DEMO_HANDLER_EMAIL), None)
    demo_lead = next((u.id for u in users if u.email == DEMO_LEAD_EMAIL), None)
    for person, group in ((demo_handler, handlers), (demo_lead, leads)):
        if person in group:  # first in line: the first team is the demo accounts' team
            group.remove(person)
            group.insert(0, person)
    names = team_names(ctx.scale)
    staff = _Staff([], {}, {}, emails, [], demo_handler)
    staff.lead_ids = sorted(leads)
    staff.locales = {u.id: u.locale for u in users}
    for position, name in enumerate(names):
        lead = leads[position % len(leads)] if leads else None
        team = Team(name=name, lead_id=lead, created_at=ctx.now, updated_at=ctx.now)
        db.session.add(team)
        db.session.flush()
        staff.team_ids.append(team.id)
        staff.members[team.id] = handlers[position :: len(names)] or ([lead] if lead else [])
        if lead is not None:
            staff.leads[team.id] = lead
        members = set(staff.members[team.id]) | ({lead} if lead else set())
        db.session.add_all(TeamMember(team_id=team.id, user_id=m) for m in sorted(members))
    db.session.commit()
    ctx.counts["teams"] = len(names)
    staff.registrars = handlers + leads or [u.id for u in users]
    return staff


# ---------------------------------------------------------------- the taxonomy in use

KINDS = pick(
    {
        Kind.COMPLAINT.value: 72,
        Kind.INQUIRY.value: 13,
        Kind.FEEDBACK.value: 10,
        Kind.COMPLIMENT.value: 5,
    }
)
CHANNELS = pick(
    {
        "A0303": 27,  # mobile app
        "A0302": 25,  # phone banking, the hotline
        "A01": 14,  # in-branch
        "A0304": 9,  # online platforms
        "A0301": 7,  # online banking
        "A04": 6,  # third parties, regulators' referrals among them
        "A0305": 2,
        "A02": 2,
        "A05": 3,
        "A99": 5,
    }
)
BUSINESSES = pick(
    {
        "B0302": 34,  # credit cards
        "B0201": 29,  # consumer loans
        "B0202": 7,
        "B0203": 6,
        "B0204": 3,
        "B0301": 5,
        "B04": 6,
        "B06": 4,
        "B01": 2,
        "B05": 1,
        "B99": 3,
    }
)
CAUSES = pick(
    {
        "C07": 22,  # pricing and fees
        "C08": 18,  # debt-collection conduct
        "C01": 13,
        "C06": 9,
        "C04": 9,
        "C03": 7,
        "C05": 6,
        "C02": 5,
        "C11": 3,
        "C10": 2,
        "C09": 2,
        "C99": 4,
    }
)
KIND_CAUSES = {  # what the other kinds are about
    Kind.INQUIRY.value: pick({"C03": 40, "C05": 30, "C07": 20, "C99": 10}),
    Kind.FEEDBACK.value: pick({"C02": 45, "C03": 25, "C01": 20, "C99": 10}),
    Kind.COMPLIMENT.value: pick({"C01": 90, "C99": 10}),
}
SEVERITIES = pick({"low": 22, "medium": 52, "high": 21, "critical": 5})
SERIOUS_CAUSES = {"C08", "C10", "C11"}  # collection conduct, fund and data security
ACCOUNT_BUSINESS = {
    "credit_card": "B0302",
    "personal_loan": "B0201",
    "mortgage": "B0202",
    "auto_loan": "B0203",
}
CARD_DESK = {"B0301", "B0302", "B04"}
LOAN_DESK = {"B0201", "B0202", "B0203", "B0204"}


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    received: datetime
    kind: str
    open: bool
    showcase: str | None = None  # a demo handler's ticket in a given state (see SHOWCASE)


# The demo handler's own open complaints, in days before now, with the state each shows.
SHOWCASE = (
    ("breached", 19.5),
    ("due_today", 14.6),
    ("warned", 12.7),
    ("paused", 8.3),
    ("extended", 20.2),
    ("extended_twice", 40.4),
    ("restarted", 11.1),
    ("waiting", 4.2),
    ("new", 0.1),
)


@dataclass
class _Rows:
    tickets: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Recent:
    """A recent complaint a repeat can be merged into."""

    ticket_id: int
    reference: str
    customer_id: int
    account_id: int | None
    business: str
    cause: str
    received: datetime
    ends: datetime | None  # None while open


class _Generator:
    def __init__(self, ctx: SeedContext, staff: _Staff) -> None:
        self.ctx, self.rng, self.now = ctx, ctx.rng, ctx.now
        self.volume = VOLUMES[ctx.scale]
        self.staff = staff
        settings = deadlines.clock_settings()
        self.zone = settings.zone
        self.profile_code = settings.profile
        # The profile as the services apply it (the deployment may roll weekends).
        self.profile = deadlines.profile_for(Ticket(profile=settings.profile))
        self.calendar = clocks.PROFILES[self.profile_code].calendar
        self.today = self.now.astimezone(self.zone).date()
        self.deadline_cache: dict[tuple[date, date | None, int, int], clocks.Deadlines] = {}
        self.next_id = {
            model: (db.session.scalar(select(func.max(model.id))) or 0) + 1
            for model in (Ticket, TicketEvent)
        }
        self.counters = {
            (c.prefix, c.year): c.last for c in db.session.scalars(select(ReferenceCounter))
        }
        self.recent: deque[_Recent] = deque(maxlen=300)
        self._load_customers()
        self._render_texts()

    # -- who complains

    def _load_customers(self) -> None:
        self.customers = db.session.execute(
            select(Customer.id, Customer.locale)
            .where(Customer.erased_at.is_(None))
            .order_by(Customer.id)
        ).all()
        self.accounts: dict[int, list[tuple[int, str]]] = {}
        for account_id, customer_id, product in db.session.execute(
            select(CreditAccount.id, CreditAccount.customer_id, CreditAccount.product).order_by(
                CreditAccount.id
            )
        ):
            self.accounts.setdefault(customer_id, []).append((account_id, product))

    def _customer(self) -> tuple[int, str] | None:
        if not self.customers:
            return None
        # Customers of longer standing have more to complain about: favour lower ids a little.
        customer = self.customers[int(len(self.customers) * self.rng.random() ** 1.2)]
        return customer.id, "zh" if customer.locale.startswith("zh") else "en"

    # -- texts

    def _render_texts(self) -> None:
        rng = self.rng
        self.descriptions: dict[tuple[str, str], list[str]] = {}
        for cause, (zh, en) in texts.COMPLAINT_TEXTS.items():
            for lang, pairs in (("zh", zh), ("en", en)):
                self.descriptions[lang, cause] = [
                    self._describe(lang, rng.choice(pairs)[0]) for _ in range(VARIANTS)
                ]
        self.resolutions = {
            lang: [
                rng.choice(pool).format(amount=f"{rng.randrange(50, 5_000, 10):,}")
                for _ in range(VARIANTS)
            ]
            for lang, pool in (("zh", texts.ZH_RESOLUTIONS), ("en", texts.EN_RESOLUTIONS))
        }

    def _describe(self, lang: str, subject: str) -> str:
        rng = self.rng
        day = self.today - timedelta(days=rng.randint(1, 20))
        amount = f"{rng.randrange(100, 20_000, 10):,}"
        if lang == "zh":
            template = rng.choice(texts.ZH_DESCRIPTIONS)
            return template.format(
                day=f"{day.month}月{day.day}日",
                subject=subject,
                amount=amount,
                mood=rng.choice(texts.ZH_MOODS),
                product=rng.choice(texts.ZH_DESCRIBED_PRODUCTS),
            )
        template = rng.choice(texts.EN_DESCRIPTIONS)
        return template.format(
            day=day.strftime("%d %b"),
            subject=subject,
            amount=amount,
            mood=rng.choice(texts.EN_MOODS),
            product=rng.choice(texts.EN_DESCRIBED_PRODUCTS),
        )

    # -- clocks, as the services compute them

    def _deadlines(
        self, received: datetime, counting_from: date | None, extensions: int, paused_days: int
    ) -> clocks.Deadlines:
        """The regulatory deadlines of a running clock; they depend only on the day counting
        starts, the extensions and the paused days, so they are computed once per such key."""
        key = (received.astimezone(self.zone).date(), counting_from, extensions, paused_days)
        found = self.deadline_cache.get(key)
        if found is None:
            state = clocks.ClockState(
                profile=self.profile_code,
                received_at=received,
                counting_from=counting_from,
                extensions=extensions,
                paused_days=paused_days,
            )
            found = self.deadline_cache[key] = clocks.deadlines(
                state, self.zone, profile=self.profile
            )
        return found

    def _sla_due(self, received: datetime, severity: str, paused_hours: float) -> datetime:
        hours = deadlines.SLA_HOURS[Severity(severity)] + paused_hours
        return self.calendar.add_business_hours(received, hours, self.zone)

    def _clock_event(
        self,
        life: _Life,
        received: datetime,
        at: datetime,
        actor: int | None,
        what: tuple[str, str | None],
        before: tuple[date | None, int, int],
        after: tuple[date | None, int, int],
        approver: str | None = None,
    ) -> str:
        """A clock change as the services record it: the deadline before and after, given
        (counting from, extensions, paused days) of each; returns the new deadline."""
        due_before, due_after = (
            self._deadlines(received, *key).respond_by for key in (before, after)
        )
        assert due_before is not None and due_after is not None
        action, reason = what
        life.add(
            at,
            actor,
            action,
            reason=reason,
            data={
                "due_before": due_before.isoformat(),
                "due_after": due_after.isoformat(),
                "extensions": after[1],
                "paused_days": after[2],
                "approver": approver,
            },
        )
        return (due_after - timedelta(seconds=1)).astimezone(self.zone).strftime("%Y-%m-%d")

    def _pause(
        self,
        life: _Life,
        received: datetime,
        at: datetime,
        actor: int | None,
        key: tuple[date | None, int, int],
    ) -> None:
        reason = texts.ZH_PAUSE if life.lang == "zh" else texts.EN_PAUSE
        self._clock_event(life, received, at, actor, ("clock.paused", reason), key, key)
        life.notice(at, actor, reason, "clock.paused")

    def _extension(
        self, life: _Life, state: _State, at: datetime, extension: int, actor: int | None
    ) -> None:
        zh = life.lang == "zh"
        paused = state.paused_days if state.paused_since is None else 0
        last_day = self._clock_event(
            life,
            state.received,
            at,
            actor,
            ("clock.extended", self.rng.choice(texts.ZH_EXTEND if zh else texts.EN_EXTEND)),
            (state.counting_from, extension - 1, paused),
            (state.counting_from, extension, paused),
            approver=self.staff.emails.get(actor) if extension == 2 and actor else None,
        )
        notice = (texts.ZH_EXTEND_NOTICE if zh else texts.EN_EXTEND_NOTICE).format(due=last_day)
        life.notice(at, actor, notice, "clock.extended")

    # -- the plan: when tickets arrived, and which are still open

    def plans(self) -> list[_Plan]:
        rng, volume = self.rng, self.volume
        midnight = datetime.combine(self.today, time(), tzinfo=self.zone)
        weights = []
        for back in range(volume.days):
            day = self.today - timedelta(days=back)
            growth = 1.3 - 0.6 * back / max(volume.days, 1)  # volumes grew over the years
            weights.append(growth * (0.45 if day.weekday() >= 5 else 1.0))
        total, running, cumulative = sum(weights), 0.0, []
        for weight in weights:
            running += weight
            cumulative.append(running / total)
        plans = []
        for _ in range(volume.tickets):
            back = min(bisect(cumulative, rng.random()), volume.days - 1)
            if rng.random() < 0.85:  # office hours, mostly
                seconds = rng.randint(8 * 3600 + 1800, 20 * 3600 + 1800)
            else:
                seconds = rng.randrange(86_400)
            received = (midnight - timedelta(days=back) + timedelta(seconds=seconds)).astimezone(
                UTC
            )
            if received > self.now:
                received = self.now - timedelta(seconds=rng.randrange(60, 4 * 3600))
            age = (self.now - received).total_seconds() / 86_400
            kind = KINDS(rng.random())
            plans.append(_Plan(received, kind, rng.random() < self._open_chance(age, kind)))
        if self.staff.demo_handler is not None:
            for state, days in SHOWCASE:
                received = self.now - timedelta(days=days)
                plans.append(_Plan(received, Kind.COMPLAINT.value, True, state))
        plans.sort(key=lambda plan: plan.received)
        return plans

    def _open_chance(self, age: float, kind: str) -> float:
        chance = next((p for limit, p in OPEN_BY_AGE if age < limit), None)
        if chance is None:
            limit, within_year, older = OPEN_OLD
            chance = within_year if age < limit else older
        if kind != Kind.COMPLAINT.value and age > 7:
            chance *= OTHER_KINDS_OPEN
        return min(chance * self.volume.open_factor, 0.98)

    # -- one ticket

    def _take(self, model: Any) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    def _reference(self, kind: str, received: datetime) -> str:
        prefix = REFERENCE_PREFIX[Kind(kind)]
        key = (prefix, received.astimezone(self.zone).year)
        number = self.counters.get(key, 0) + 1
        self.counters[key] = number
        return f"{prefix}-{key[1]}-{number:06d}"

    def _team_for(self, business: str, severity: str, channel: str, region: int) -> int | None:
        teams = self.staff.team_ids
        if not teams:
            return None
        if severity == "critical" or channel == "A04":
            desk = 2
        elif business in CARD_DESK:
            desk = 0
        elif business in LOAN_DESK:
            desk = 1
        else:
            desk = 2
        index = desk + len(texts.DESKS) * (region % max(len(teams) // len(texts.DESKS), 1))
        return teams[index % len(teams)]

    # -- its steps, in order: each draws from the random generator in turn

    def ticket(self, plan: _Plan, rows: _Rows) -> None:
        """One ticket with its events, as the services would have stored them."""
        age_days = (self.now - plan.received).total_seconds() / 86_400
        draft = _Draft(plan, age_days, self._repeat_of(plan))
        self._choose_sender(draft)
        self._choose_topic(draft)
        state = _State(received=plan.received, severity=draft.severity)
        self._route(draft, state)
        self._word(draft)
        life = self._register(draft, rows)
        end: datetime | None = None  # when it was merged, withdrawn or resolved
        if draft.repeat is not None:
            end = self._merged_life(draft, life, state)
        elif plan.open:
            self._open_life(draft, life, state)
        else:
            end = self._finished_life(draft, life, state)
        clock = self._clocks(draft, state)
        self._opening_events(draft, life, state, clock)
        watched = self._watch(life, state, clock, end)
        if state.is_open and state.merged_into is None:
            self._notifications(draft, clock, watched, rows)
        closing = self._closing(draft, life, state)
        events = life.finish()
        rows.tickets.append(self._ticket_row(draft, state, clock, watched, closing, events))
        if draft.complaint and draft.customer_id is not None and state.merged_into is None:
            self.recent.append(
                _Recent(
                    draft.ticket_id,
                    draft.reference,
                    draft.customer_id,
                    draft.account_id,
                    draft.business,
                    draft.cause,
                    draft.received,
                    None if state.is_open else end,
                )
            )

    def _repeat_of(self, plan: _Plan) -> _Recent | None:
        """Now and then a complaint is sent again while the first is open: the one it repeats."""
        received, now = plan.received, self.now
        if (
            plan.kind == Kind.COMPLAINT.value
            and not plan.showcase
            and self.rng.random() < 0.003 * self.volume.feature_factor
        ):
            return next(
                (r for r in self.recent if r.received < received and (r.ends or now) > received),
                None,
            )
        return None

    def _choose_sender(self, d: _Draft) -> None:
        """Who sent it (a repeat's customer, a customer, or someone who is not one), in which
        language, and about which of their accounts."""
        rng = self.rng
        d.customer_id, d.lang, d.account_id, d.product_code = None, "zh", None, None
        chosen = None if rng.random() > (0.88 if d.complaint else 0.6) else self._customer()
        if d.repeat is not None:
            d.customer_id, d.account_id = d.repeat.customer_id, d.repeat.account_id
            d.lang = "zh" if rng.random() < 0.75 else "en"
        elif chosen is not None:
            d.customer_id, d.lang = chosen
            owned = self.accounts.get(d.customer_id) or []
            if owned and rng.random() < 0.6:
                d.account_id, product = rng.choice(owned)
                d.product_code = ACCOUNT_BUSINESS.get(product)
        else:
            d.lang = "zh" if rng.random() < 0.75 else "en"

    def _choose_topic(self, d: _Draft) -> None:
        """Business and cause (a repeat's own), channel and severity, from the mix in use."""
        rng, kind = self.rng, d.plan.kind
        if d.repeat is not None:
            d.business, d.cause = d.repeat.business, d.repeat.cause
        else:
            d.business = d.product_code or BUSINESSES(rng.random())
            d.cause = CAUSES(rng.random()) if d.complaint else KIND_CAUSES[kind](rng.random())
        d.channel = CHANNELS(rng.random())
        severity = SEVERITIES(rng.random()) if kind != Kind.COMPLIMENT.value else "low"
        if d.cause in SERIOUS_CAUSES and severity in ("low", "medium") and rng.random() < 0.5:
            severity = "high"
        if d.plan.showcase == "breached":
            severity = "high"
        d.severity = severity

    def _route(self, d: _Draft, state: _State) -> None:
        """Its team, handler and lead; a showcase goes to the demo handler."""
        rng, plan = self.rng, d.plan
        region = (d.customer_id or rng.randrange(1_000)) % len(texts.REGIONS)
        team_id = self._team_for(d.business, d.severity, d.channel, region)
        members = self.staff.members.get(team_id, []) if team_id else []
        # Not yet acknowledged, and often not yet assigned.
        state.stays_new = plan.open and d.repeat is None and self._stays_new(plan, d.age_days)
        if plan.showcase and self.staff.demo_handler is not None:
            team_id = self.staff.team_ids[0] if self.staff.team_ids else None
            assignee = self.staff.demo_handler
        elif state.stays_new and rng.random() < 0.5:
            assignee = None
            team_id = team_id if rng.random() < 0.6 else None
        else:
            assignee = rng.choice(members) if members else None
        d.team_id, d.assignee = team_id, assignee
        d.lead = self.staff.leads.get(team_id) if team_id else None

    def _word(self, d: _Draft) -> None:
        """Subject, request and description in the sender's language, and the product's name."""
        rng, zh = self.rng, d.lang == "zh"
        if d.complaint:
            subjects = texts.COMPLAINT_TEXTS[d.cause][0 if zh else 1]
        else:
            subjects = texts.OTHER_TEXTS[d.plan.kind][0 if zh else 1]
        subject, d.request = rng.choice(subjects)
        if d.repeat is not None:
            subject = (texts.ZH_AGAIN if zh else texts.EN_AGAIN) + subject
        d.subject = subject
        d.description = (
            rng.choice(self.descriptions[d.lang, d.cause])
            if d.complaint
            else subject + ("。" if zh else ".")
        )
        names = texts.PRODUCT_NAMES.get(d.business)
        d.product = names[0 if zh else 1] if names else None

    def _register(self, d: _Draft, rows: _Rows) -> _Life:
        """Its id and reference, who registered it and when: its first events."""
        rng = self.rng
        d.ticket_id = self._take(Ticket)
        d.reference = self._reference(d.plan.kind, d.received)
        d.registrar = d.assignee or rng.choice(self.staff.registrars)
        d.created = min(d.received + timedelta(seconds=rng.randint(60, 1800)), self.now)
        life = _Life(self, rows, d.ticket_id, d.lang)
        life.add(d.created, d.registrar, "created")  # data filled in later, once clocks are known
        if d.assignee or d.team_id:
            life.add(
                d.created,
                d.registrar,
                "assigned",
                data={"assignee_id": d.assignee, "team_id": d.team_id},
            )
        return life

    # -- the clocks the services would have stored, and what the clock watch did

    def _clocks(self, d: _Draft, state: _State) -> _Clocks:
        """The deadlines as they stand after the clock's extensions, pauses and restarts."""
        received = d.received
        sla_due = self._sla_due(received, d.severity, state.sla_paused_hours)
        summary_due = None
        if d.complaint:
            found = self._deadlines(
                received, state.counting_from, state.extensions, state.paused_days
            )
            assert found.respond_by is not None
            due, summary_due = found.respond_by, found.summary_by
        else:
            due = sla_due
        warn_at = received + (due - received) * deadlines.WARN_SHARE
        return _Clocks(due, summary_due, sla_due, warn_at)

    def _opening_events(self, d: _Draft, life: _Life, state: _State, clock: _Clocks) -> None:
        """The created event's data (the deadlines as first set) and the extension events."""
        received = d.received
        first = self._deadlines(received, None, 0, 0) if d.complaint else None
        first_sla = (
            self._sla_due(received, d.severity, 0.0) if state.sla_paused_hours else clock.sla_due
        )
        life.created_data(
            {
                "reference": d.reference,
                "kind": d.plan.kind,
                "profile": self.profile_code,
                "received_at": received.isoformat(),
                "due_at": (first.respond_by if first else first_sla).isoformat(),
                "sla_due_at": first_sla.isoformat(),
                "source": "staff",
            }
        )
        for extension, at in enumerate(state.extended_at, 1):
            self._extension(life, state, at, extension, d.lead if extension == 2 else d.assignee)

    def _watch(
        self, life: _Life, state: _State, clock: _Clocks, end: datetime | None
    ) -> tuple[datetime | None, datetime | None]:
        """(warned at, escalated at): the clock watch, as if it had run every few minutes up to
        the seed's moment, so that its next run finds nothing the seed has not done."""
        rng = self.rng
        watch_end = end or self.now
        if state.paused_since is not None:
            watch_end = min(watch_end, state.paused_since)
        warned_at = escalated_at = None
        due = clock.due
        if clock.warn_at < watch_end and state.merged_into is None:
            warned_at = min(clock.warn_at + timedelta(minutes=rng.randint(1, 10)), self.now)
            life.add(warned_at, None, "clock.warning", data={"due_at": due.isoformat()})
        if due < watch_end and state.merged_into is None:
            escalated_at = min(due + timedelta(minutes=rng.randint(1, 10)), self.now)
            life.add(escalated_at, None, "clock.breached", data={"due_at": due.isoformat()})
        return warned_at, escalated_at

    def _notifications(
        self,
        d: _Draft,
        clock: _Clocks,
        watched: tuple[datetime | None, datetime | None],
        rows: _Rows,
    ) -> None:
        """The bell's notifications of an open ticket's warning and breach, unread, with the
        keys `tickets.clock_watch` writes: to the assignee (the lead when nobody is assigned)
        at 80 %, to the team's lead (every lead when the ticket has no team) on a breach.
        Those of closed tickets would long have been read; the seed leaves them out."""
        leads = [d.lead] if d.lead is not None else self.staff.lead_ids
        due = as_utc(clock.due).isoformat()
        # Unsaved: only what a notification's words read (the reference and the deadline).
        named = Ticket(
            reference=d.reference, kind=d.plan.kind, profile=self.profile_code, due_at=clock.due
        )
        for action, at, recipients in (
            ("clock.warning", watched[0], [d.assignee] if d.assignee else leads),
            ("clock.breached", watched[1], leads),
        ):
            if at is None:
                continue
            for user_id in recipients:
                rows.notifications.append(
                    {
                        "user_id": user_id,
                        "key": f"{action}:{d.ticket_id}:{due}:{user_id}",
                        "kind": action,
                        "ticket_id": d.ticket_id,
                        "message": message_for(action, named, self.staff.locales.get(user_id)),
                        "created_at": at,
                        "read_at": None,
                    }
                )

    # -- how it closed, and its row

    def _closing(self, d: _Draft, life: _Life, state: _State) -> _Closing:
        """The resolution of a resolved ticket and what is recorded with it: remedies told
        (CN), redress, root cause, the company's response (US)."""
        rng, complaint = self.rng, d.complaint
        resolution = state.resolution
        remedies = company_response = redress_kind = redress_amount = root_cause = None
        if state.resolved_at is not None:
            resolution = rng.choice(self.resolutions[d.lang])
            if complaint and self.profile_code == "CN":
                remedies = list(REMEDIES) if rng.random() < 0.8 else ["review", "mediation"]
            if complaint and rng.random() < 0.3:
                redress_kind = rng.choice(("refund", "fee_waiver", "compensation", "goodwill"))
                redress_amount = Decimal(rng.randrange(2_000, 500_000)).scaleb(-2)
            if complaint and rng.random() < 0.25:
                root_cause = rng.choice(texts.ZH_ROOT if d.lang == "zh" else texts.EN_ROOT)
            if complaint and self.profile_code == "US":
                company_response = (
                    "Closed with monetary relief" if redress_amount else "Closed with explanation"
                )
            life.resolution(state.resolved_at, d.assignee or d.registrar, resolution)
        elif complaint and self.profile_code == "US" and state.extensions:
            company_response = "In progress"
        return _Closing(
            resolution, remedies, company_response, redress_kind, redress_amount, root_cause
        )

    def _ticket_row(
        self,
        d: _Draft,
        state: _State,
        clock: _Clocks,
        watched: tuple[datetime | None, datetime | None],
        closing: _Closing,
        events: list[dict[str, Any]],
    ) -> dict[str, Any]:
        warned_at, escalated_at = watched
        return {
            "id": d.ticket_id,
            "reference": d.reference,
            "kind": d.plan.kind,
            "status": state.status,
            "is_open": state.is_open,
            "customer_id": d.customer_id,
            "account_id": d.account_id,
            "product": d.product,
            "channel_code": d.channel,
            "business_code": d.business,
            "cause_code": d.cause,
            "severity": d.severity,
            "subject": d.subject,
            "request": d.request,
            "description": d.description,
            "assignee_id": d.assignee,
            "team_id": d.team_id,
            "registered_by_id": d.registrar,
            "resolution": closing.resolution,
            "redress_kind": closing.redress_kind,
            "redress_amount": closing.redress_amount,
            "root_cause": closing.root_cause,
            "remedies_told": closing.remedies,
            "company_response": closing.company_response,
            "merged_into_id": state.merged_into,
            "profile": self.profile_code,
            "received_at": d.received,
            "counting_from": state.counting_from,
            "extensions": state.extensions,
            "paused_since": state.paused_since,
            "paused_days": state.paused_days,
            "due_at": clock.due,
            "summary_due_at": clock.summary_due,
            "sla_due_at": clock.sla_due,
            "sla_paused_since": state.sla_paused_since,
            "sla_paused_hours": state.sla_paused_hours,
            "acknowledged_at": state.acknowledged_at,
            "resolved_at": state.resolved_at,
            "closed_at": state.closed_at,
            "warn_at": clock.warn_at,
            "warned_at": warned_at,
            "escalated_at": escalated_at,
            "source": "staff",
            "external_id": None,
            "original": None,
            "version": 1 + sum(e["action"] in VERSIONED for e in events),
            "created_at": d.created,
            "updated_at": max([d.created, *(e["occurred_at"] for e in events)]),
        }

    # -- lives of tickets

    def _stays_new(self, plan: _Plan, age: float) -> bool:
        if plan.showcase is not None:
            return plan.showcase == "new"
        return self.rng.random() < (0.6 if age < 1 else 0.1 if age < 3 else 0.02)

    def _merged_life(self, d: _Draft, life: _Life, state: _State) -> datetime:
        """A repeat, merged into the complaint it repeats; returns when that was done."""
        repeat = d.repeat
        assert repeat is not None
        state.status = Status.CLOSED.value
        ends = min(d.received + timedelta(hours=self.rng.uniform(1, 48)), self.now)
        if repeat.ends is not None:
            ends = min(ends, repeat.ends)
        ends = max(ends, d.created)
        state.closed_at = ends
        state.merged_into = repeat.ticket_id
        state.resolution = f"Merged into {repeat.reference}"
        reason = texts.ZH_DUPLICATE if d.lang == "zh" else texts.EN_DUPLICATE
        life.add(
            ends,
            d.assignee or d.registrar,
            "merged.into",
            reason=reason,
            data={"into": repeat.reference, "from_status": Status.NEW.value},
        )
        merged_from = life.row(
            repeat.ticket_id,
            ends,
            d.assignee or d.registrar,
            "merged.from",
            reason=reason,
            data={"duplicate": d.reference},
        )
        merged_from["id"] = self._take(TicketEvent)
        life.rows.events.append(merged_from)
        return ends

    def _open_life(self, d: _Draft, life: _Life, state: _State) -> None:
        """An open ticket: how far it got, and its clock's extensions, pauses and restarts."""
        rng, now, age = self.rng, self.now, d.age_days
        showcase = d.plan.showcase
        actor = d.assignee or d.lead
        if state.stays_new:
            return
        acknowledged = _between(rng, d.created, now, 0.2 / 24, min(1.0, age * 0.3))
        state.acknowledged_at = acknowledged
        life.status(acknowledged, actor, Status.NEW, Status.ACKNOWLEDGED)
        if d.complaint and rng.random() < 0.5:
            life.response(acknowledged, actor, "ack")
        state.status = Status.ACKNOWLEDGED.value
        if showcase is None and rng.random() < (0.75 if age < 1 else 0.1):
            return
        working = _between(rng, acknowledged, now, 0.05, min(2.0, age * 0.3))
        life.status(working, actor, Status.ACKNOWLEDGED, Status.IN_PROGRESS)
        state.status = Status.IN_PROGRESS.value
        if rng.random() < 0.5:
            life.note(_between(rng, working, now, 0.01, 3.0), actor)
        if d.complaint:
            self._extended_while_open(d, state)
            self._restarted_or_paused(d, life, state, working)
        if showcase == "waiting" or (showcase is None and rng.random() < 0.22):
            waiting = _between(rng, working, now, 0.05, min(age * 0.5, 6.0))
            life.status(waiting, actor, Status.IN_PROGRESS, Status.WAITING)
            state.status = Status.WAITING.value
            state.sla_paused_since = waiting

    def _extended_while_open(self, d: _Draft, state: _State) -> None:
        """An open complaint near the end of its period is extended (and again, near the end
        of the first extension) where the profile allows it."""
        rng, profile, showcase, age = self.rng, self.profile, d.plan.showcase, d.age_days
        period = profile.response_days
        wants = showcase in ("extended", "extended_twice") or (
            showcase is None and age > period - 2 and rng.random() < 0.9
        )
        if profile.extended_days and wants:
            state.extended_at.append(received_plus(state.received, period - rng.uniform(1, 3)))
            second = showcase == "extended_twice" or (
                showcase is None and age > 28 and rng.random() < 0.85
            )
            if len(profile.extended_days) > 1 and second:
                state.extended_at.append(
                    received_plus(state.received, profile.extended_days[0] - rng.uniform(1, 3))
                )
            state.extensions = len(state.extended_at)

    def _restarted_or_paused(
        self, d: _Draft, life: _Life, state: _State, working: datetime
    ) -> None:
        """Now and then an open complaint's clock restarted on new facts, or paused."""
        rng, profile, showcase, age = self.rng, self.profile, d.plan.showcase, d.age_days
        factor, actor = self.volume.feature_factor, d.assignee or d.lead
        restart = profile.can_restart and age > 3
        restart = restart and (
            showcase == "restarted" or (showcase is None and rng.random() < 0.01 * factor)
        )
        pause = profile.can_pause and age > 3 and not restart
        pause = pause and (
            showcase == "paused" or (showcase is None and rng.random() < 0.06 * factor)
        )
        if restart:
            facts = received_plus(state.received, rng.uniform(2, min(age - 0.5, 6)))
            state.counting_from = facts.astimezone(self.zone).date()
            reason = texts.ZH_RESTART if life.lang == "zh" else texts.EN_RESTART
            self._clock_event(
                life,
                state.received,
                facts,
                actor,
                ("clock.restarted", reason),
                (None, 0, 0),
                (state.counting_from, 0, 0),
            )
        elif pause:
            since = _between(rng, working, self.now, 0.5, min(age * 0.6, 10.0))
            state.paused_since = since
            done = sum(at <= since for at in state.extended_at)
            self._pause(life, state.received, since, actor, (None, done, 0))

    def _finished_life(self, d: _Draft, life: _Life, state: _State) -> datetime:
        """A ticket that was resolved (and mostly closed) or withdrawn; returns when it ended."""
        rng, profile = self.rng, self.profile
        took = _handling_days(rng, d.complaint)
        if took > d.age_days:
            took = d.age_days * rng.uniform(0.3, 0.95)
        ends = max(received_plus(state.received, took), d.created + timedelta(minutes=5))
        ends = min(ends, self.now)
        acknowledged, current = self._worked_on(d, life, state, took, ends)
        if d.complaint and profile.extended_days:
            self._extended_in_time(state, took, ends)
        factor = self.volume.feature_factor
        if d.complaint and profile.can_pause and rng.random() < 0.03 * factor and took > 4:
            self._paused_for_appraisal(d, life, state, (acknowledged, ends), took)
        return self._ended(d, life, state, current, ends)

    def _worked_on(
        self, d: _Draft, life: _Life, state: _State, took: float, ends: datetime
    ) -> tuple[datetime, Status]:
        """Acknowledged, maybe worked on (and waited on the customer), maybe a note; returns
        when it was acknowledged and the status it got to."""
        rng, actor = self.rng, d.assignee or d.lead
        acknowledged = _between(rng, d.created, ends, 0.05, min(1.0, took * 0.3))
        state.acknowledged_at = acknowledged
        life.status(acknowledged, actor, Status.NEW, Status.ACKNOWLEDGED)
        if d.complaint and rng.random() < 0.3:
            life.response(acknowledged, actor, "ack")
        current = Status.ACKNOWLEDGED
        if rng.random() < 0.4:
            working = _between(rng, acknowledged, ends, 0.02, took * 0.3)
            life.status(working, actor, current, Status.IN_PROGRESS)
            current = Status.IN_PROGRESS
            if rng.random() < 0.25:
                waiting = _between(rng, working, ends, 0.02, took * 0.3)
                back = _between(rng, waiting, ends, 0.02, took * 0.5)
                life.status(waiting, actor, current, Status.WAITING)
                life.status(back, actor, Status.WAITING, Status.IN_PROGRESS)
                state.sla_paused_hours = self.calendar.business_hours_between(
                    waiting, back, self.zone
                )
        if rng.random() < 0.3:
            life.note(_between(rng, acknowledged, ends, 0.01, took), actor)
        return acknowledged, current

    def _extended_in_time(self, state: _State, took: float, ends: datetime) -> None:
        """A complaint that took past its period was mostly extended before it ran out."""
        rng, profile = self.rng, self.profile
        period = profile.response_days
        if took > period - 1.5 and rng.random() < 0.9:
            state.extended_at.append(received_plus(state.received, period - rng.uniform(1, 3)))
            if len(profile.extended_days) > 1 and took > profile.extended_days[0] - 1.5:
                state.extended_at.append(
                    received_plus(state.received, profile.extended_days[0] - rng.uniform(1, 3))
                )
            state.extended_at = [min(at, ends) for at in state.extended_at]
            state.extensions = len(state.extended_at)

    def _paused_for_appraisal(
        self,
        d: _Draft,
        life: _Life,
        state: _State,
        span: tuple[datetime, datetime],
        took: float,
    ) -> None:
        """A complaint's clock paused for an outside appraisal within `span` (acknowledged,
        ended), and resumed when the report came back."""
        rng, actor = self.rng, d.assignee or d.lead
        acknowledged, ends = span
        since = _between(rng, acknowledged, ends, 0.1, took * 0.3)
        until = _between(rng, since, ends, 1.0, took * 0.5)
        done = sum(at <= since for at in state.extended_at)
        self._pause(life, state.received, since, actor, (None, done, 0))
        resumed = clocks.resume(
            clocks.ClockState(self.profile_code, state.received, paused_since=since),
            until,
            self.zone,
        )
        state.paused_days = resumed.paused_days
        done = sum(at <= until for at in state.extended_at)
        reason = texts.ZH_RESUME if life.lang == "zh" else texts.EN_RESUME
        self._clock_event(
            life,
            state.received,
            until,
            actor,
            ("clock.resumed", reason),
            (None, done, 0),
            (None, done, state.paused_days),
        )

    def _ended(
        self, d: _Draft, life: _Life, state: _State, current: Status, ends: datetime
    ) -> datetime:
        """Withdrawn, or resolved and, once a few days have passed, closed; returns `ends`."""
        rng, actor = self.rng, d.assignee or d.lead
        withdrawn = rng.random() < (0.03 if d.complaint else 0.01)
        if withdrawn:
            life.status(
                ends,
                actor,
                current,
                Status.WITHDRAWN,
                reason=texts.ZH_WITHDRAW if life.lang == "zh" else texts.EN_WITHDRAW,
            )
            state.status = Status.WITHDRAWN.value
            return ends
        life.status(ends, actor, current, Status.RESOLVED)
        state.resolved_at = ends
        state.status = Status.RESOLVED.value
        closes = ends + timedelta(days=rng.uniform(1, 10))
        if closes <= self.now:
            life.status(closes, actor, Status.RESOLVED, Status.CLOSED)
            state.closed_at = closes
            state.status = Status.CLOSED.value
        return ends


VERSIONED = {"assigned", "status", "clock.extended", "clock.paused", "clock.resumed"}


def received_plus(received: datetime, days: float) -> datetime:
    return received + timedelta(days=days)


def _between(rng: Any, start: datetime, end: datetime, low: float, high: float) -> datetime:
    """A moment `low` to `high` days after `start`, but never after `end`."""
    high = max(high, low)
    moment = start + timedelta(days=rng.uniform(low, high))
    return max(min(moment, end), start)


def _handling_days(rng: Any, complaint: bool) -> float:
    """How long a ticket took: most within days, a tail into extensions and the odd overrun."""
    u = rng.random()
    if not complaint:
        return rng.uniform(0.05, 1.5) if u < 0.7 else rng.uniform(1.5, 8)
    if u < 0.45:
        return rng.uniform(0.2, 5)
    if u < 0.80:
        return rng.uniform(5, 12)
    if u < 0.92:
        return rng.uniform(12, 14.3)
    if u < 0.97:
        return rng.uniform(15, 28)
    if u < 0.99:
        return rng.uniform(30, 55)
    return rng.uniform(15.5, 25)  # overran the first deadline without an extension


@dataclass
class _Draft:
    """A ticket as its steps decide it: who sent it, about what, where it went, in which words,
    and how it was registered. Each step sets its own fields; the row is written from them."""

    plan: _Plan
    age_days: float
    repeat: _Recent | None  # the recent complaint this one repeats: merged into it
    # _choose_sender
    customer_id: int | None = field(init=False)
    lang: str = field(init=False)
    account_id: int | None = field(init=False)
    product_code: str | None = field(init=False)  # the business of that account's product
    # _choose_topic
    business: str = field(init=False)
    cause: str = field(init=False)
    channel: str = field(init=False)
    severity: str = field(init=False)
    # _route
    team_id: int | None = field(init=False)
    assignee: int | None = field(init=False)
    lead: int | None = field(init=False)
    # _word
    subject: str = field(init=False)
    request: str = field(init=False)
    description: str = field(init=False)
    product: str | None = field(init=False)
    # _register
    ticket_id: int = field(init=False)
    reference: str = field(init=False)
    registrar: int = field(init=False)
    created: datetime = field(init=False)

    @property
    def received(self) -> datetime:
        return self.plan.received

    @property
    def complaint(self) -> bool:
        return self.plan.kind == Kind.COMPLAINT.value


class _Clocks(NamedTuple):
    """A ticket's deadlines as stored: the regulatory one (complaints) or else the SLA's."""

    due: datetime
    summary_due: datetime | None
    sla_due: datetime
    warn_at: datetime


class _Closing(NamedTuple):
    resolution: str | None
    remedies: list[str] | None
    company_response: str | None
    redress_kind: str | None
    redress_amount: Decimal | None
    root_cause: str | None


@dataclass
class _State:
    received: datetime
    severity: str
    status: str = Status.NEW.value
    stays_new: bool = False
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    merged_into: int | None = None
    counting_from: date | None = None
    extended_at: list[datetime] = field(default_factory=list)
    extensions: int = 0
    paused_since: datetime | None = None
    paused_days: int = 0
    sla_paused_since: datetime | None = None
    sla_paused_hours: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_VALUES


class _Life:
    """The events of one ticket, ordered by time when finished (ids follow that order)."""

    def __init__(self, generator: _Generator, rows: _Rows, ticket_id: int, lang: str) -> None:
        self.generator, self.rows, self.ticket_id, self.lang = generator, rows, ticket_id, lang
        self.events: list[dict[str, Any]] = []

    def row(
        self,
        ticket_id: int,
        at: datetime,
        user_id: int | None,
        action: str,
        *,
        body: str | None = None,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        label = (
            self.generator.staff.emails.get(user_id, "demo-seed")
            if user_id is not None
            else WATCH_ACTOR.label
        )
        return {
            "id": None,
            "ticket_id": ticket_id,
            "occurred_at": min(at, self.generator.now),
            "actor_id": user_id,
            "actor_label": label,
            "action": action,
            "body": body,
            "reason": reason,
            "data": data,
        }

    def add(self, at: datetime, user_id: int | None, action: str, **kwargs: Any) -> None:
        self.events.append(self.row(self.ticket_id, at, user_id, action, **kwargs))

    def created_data(self, data: dict[str, Any]) -> None:
        self.events[0]["data"] = data

    def status(
        self,
        at: datetime,
        user_id: int | None,
        before: Status,
        after: Status,
        reason: str | None = None,
    ) -> None:
        self.add(
            at, user_id, "status", reason=reason, data={"from": before.value, "to": after.value}
        )

    def note(self, at: datetime, user_id: int | None) -> None:
        rng = self.generator.rng
        self.add(
            at,
            user_id,
            "note",
            body=rng.choice(texts.ZH_NOTES if self.lang == "zh" else texts.EN_NOTES),
        )

    def response(self, at: datetime, user_id: int | None, what: str) -> None:
        template = texts.ZH_ACK if self.lang == "zh" else texts.EN_ACK
        ref = texts.ZH_ACK_REF if self.lang == "zh" else texts.EN_ACK_REF
        self.add(at, user_id, "response", body=template.format(ref=ref))

    def notice(self, at: datetime, user_id: int | None, body: str, action: str) -> None:
        """What the customer was told of a clock change (the services' response event)."""
        self.add(at, user_id, "response", body=body, data={"notice": action})

    def resolution(self, at: datetime, user_id: int | None, body: str) -> None:
        # The services write the resolution right after the status change to resolved.
        for position, event in enumerate(self.events):
            if event["action"] == "status" and event["data"]["to"] == Status.RESOLVED.value:
                self.events.insert(
                    position + 1, self.row(self.ticket_id, at, user_id, "resolution", body=body)
                )
                return

    def finish(self) -> list[dict[str, Any]]:
        self.events.sort(key=lambda e: e["occurred_at"])  # stable: same-moment order kept
        for event in self.events:
            event["id"] = self.generator._take(TicketEvent)
        self.rows.events.extend(self.events)
        return self.events


# ---------------------------------------------------------------- inserting


def _insert_statement(model: Any, json_columns: tuple[str, ...] = ()) -> Any:
    """A Core insert of the table; the named JSON columns store None as SQL NULL (as an unset
    ORM attribute does), not as the JSON value null."""
    statement = insert(model.__table__)
    if json_columns:
        statement = statement.values(
            {name: bindparam(name, type_=JSON(none_as_null=True)) for name in json_columns}
        )
    return statement


def _insert(ctx: SeedContext, rows: _Rows) -> None:
    bulk_insert(
        ctx,
        _insert_statement(Ticket, ("remedies_told", "original")),
        rows.tickets,
        len(rows.tickets),
        "tickets",
    )
    bulk_insert(ctx, TicketEvent.__table__, rows.events, len(rows.events), "ticket events")
    bulk_insert(
        ctx, Notification.__table__, rows.notifications, len(rows.notifications), "notifications"
    )


def _finish(generator: _Generator) -> None:
    """Counters at the last number given per prefix and year; sequences past the ids given;
    fresh planner statistics (see portal/demo/customers.py) and, on PostgreSQL, a vacuum."""
    store_reference_counters(generator.counters)  # they started at what was stored
    if dialect_name() == "postgresql":
        for model in (Ticket, TicketEvent):
            table = model.__tablename__
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    for model in (Team, TeamMember, Ticket, TicketEvent, Notification, ReferenceCounter):
        db.session.execute(text(f"ANALYZE {model.__tablename__}"))
    db.session.commit()
    if dialect_name() == "postgresql":
        # A bulk load leaves the visibility map unset until autovacuum comes by: until then an
        # index-only scan (the queue's capped counts) still reads every row from the heap.
        # SKIP_LOCKED: inside someone's open transaction (the tests') it leaves it to autovacuum.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for model in (Ticket, TicketEvent):
                connection.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {model.__tablename__}")


def seed_tickets(ctx: SeedContext) -> None:
    staff = seed_teams(ctx)
    generator = _Generator(ctx, staff)
    plans = generator.plans()
    quiet = replace(ctx, show_progress=False)
    with tqdm(
        total=len(plans),
        desc="tickets and their events",
        unit="tickets",
        disable=not ctx.show_progress,
    ) as bar:
        for first in range(0, len(plans), CHUNK):
            rows = _Rows()
            for plan in plans[first : first + CHUNK]:
                generator.ticket(plan, rows)
            _insert(quiet, rows)
            bar.update(len(rows.tickets))
    _finish(generator)
