"""Use cases for tickets: intake, status, assignment, clocks, notes, merging. Each owns its
transaction; every change is a ticket event with actor and reason (the ticket's audit trail)."""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import among, db
from portal.core.timeutil import as_utc, utc_now
from portal.customers.models import CreditAccount, Customer
from portal.customers.timeline import Cursor, Source, TimelineEntry
from portal.tickets import clocks
from portal.tickets.labels import NOTICE_LABELS, STATUS_LABELS, US_RESPONSES
from portal.tickets.models import (
    OPEN_STATUSES,
    REFERENCE_PREFIX,
    REMEDIES,
    Axis,
    Kind,
    NoticeKind,
    RedressKind,
    ReferenceCounter,
    Severity,
    Status,
    Team,
    TeamMember,
    Ticket,
    TicketEvent,
)
from portal.tickets.notifications import notify_assigned
from portal.tickets.taxonomy import check_code, preload

SUBJECT_MAX = 200
TEXT_MAX = 20_000
REASON_MAX = 2_000
PRODUCT_MAX = 120
AMOUNT_MAX = Decimal("999999999999.99")
WARN_SHARE = 0.8  # the clock watch warns at 80 % of the time
STAFF = (Role.ADMIN, Role.HANDLER, Role.LEAD)
SENIOR = (Role.ADMIN, Role.LEAD)
# Internal resolution targets per severity, in business hours (DOMAIN.md §2, "Internal SLA").
SLA_HOURS = {
    Severity.CRITICAL: 8,
    Severity.HIGH: 24,
    Severity.MEDIUM: 40,
    Severity.LOW: 80,
}

TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.WITHDRAWN),
    Status.ACKNOWLEDGED: (Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED, Status.WITHDRAWN),
    Status.IN_PROGRESS: (Status.WAITING, Status.RESOLVED, Status.WITHDRAWN),
    Status.WAITING: (Status.IN_PROGRESS, Status.RESOLVED, Status.WITHDRAWN),
    Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
    Status.CLOSED: (Status.IN_PROGRESS,),
    Status.WITHDRAWN: (),
}


# ---------------------------------------------------------------- the deployment's clock


@dataclass(frozen=True)
class ClockSettings:
    profile: str
    zone: ZoneInfo
    roll_weekends: bool = False


def clock_settings() -> ClockSettings:
    config = current_app.config
    return ClockSettings(
        config.get("COMPLAINT_PROFILE", "CN"),
        ZoneInfo(config["DEFAULT_TIMEZONE"]),
        bool(config.get("COMPLAINT_ROLL_WEEKENDS", False)),
    )


def profile_for(ticket: Ticket) -> clocks.RegulatoryProfile:
    profile = clocks.PROFILES[ticket.profile]
    if profile.code == "CN" and clock_settings().roll_weekends:
        profile = replace(profile, roll_weekends=True)
    return profile


def clock_state(ticket: Ticket) -> clocks.ClockState:
    return clocks.ClockState(
        profile=ticket.profile,
        received_at=as_utc(ticket.received_at),
        counting_from=ticket.counting_from,
        extensions=ticket.extensions,
        paused_since=as_utc(ticket.paused_since) if ticket.paused_since else None,
        paused_days=ticket.paused_days,
    )


def is_regulated(ticket: Ticket) -> bool:
    """Regulatory clocks run for complaints; other kinds have the internal SLA only."""
    return ticket.kind == Kind.COMPLAINT


def apply_clock(ticket: Ticket, state: clocks.ClockState) -> None:
    """Store a clock state and the deadlines it gives; a new deadline re-arms the watch."""
    zone = clock_settings().zone
    ticket.counting_from = state.counting_from
    ticket.extensions = state.extensions
    ticket.paused_since = state.paused_since
    ticket.paused_days = state.paused_days
    if is_regulated(ticket):
        # While paused, keep the deadline as it stood when the pause began.
        running = replace(state, paused_since=None)
        found = clocks.deadlines(running, zone, profile=profile_for(ticket))
        due = found.respond_by
        ticket.summary_due_at = found.summary_by
    else:
        due = ticket.sla_due_at
    assert due is not None
    if ticket.due_at is None or as_utc(ticket.due_at) != due:
        ticket.due_at = due
        ticket.warned_at = None
        ticket.escalated_at = None
    start = as_utc(ticket.received_at)
    ticket.warn_at = start + (due - start) * WARN_SHARE


def apply_sla(ticket: Ticket) -> None:
    settings = clock_settings()
    hours = SLA_HOURS[Severity(ticket.severity)] + (ticket.sla_paused_hours or 0.0)
    calendar = clocks.PROFILES[ticket.profile].calendar
    ticket.sla_due_at = calendar.add_business_hours(
        as_utc(ticket.received_at), hours, settings.zone
    )


# ---------------------------------------------------------------- events


def add_event(
    actor: Actor,
    ticket: Ticket,
    action: str,
    *,
    body: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        occurred_at=at or utc_now(),
        actor_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        body=body,
        reason=reason,
        data=data,
    )
    db.session.add(event)
    return event


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# ---------------------------------------------------------------- validation


def clean_text(raw: str | None, field: str, limit: int = TEXT_MAX, required: bool = False) -> str:
    value = (raw or "").strip()
    if "\x00" in value:
        raise ValidationFailed(_l("Text cannot contain NUL characters."), field=field)
    if len(value) > limit:
        raise ValidationFailed(
            _l(
                "At most %(limit)d characters, please (%(count)d given).",
                limit=limit,
                count=len(value),
            ),
            field=field,
        )
    if required and not value:
        raise ValidationFailed(_l("This field is required."), field=field)
    return value


def _reason(raw: str | None) -> str:
    return clean_text(raw, "reason", REASON_MAX, required=True)


def _choice(raw: str | None, choices: type, field: str) -> str:
    value = (raw or "").strip().lower()
    if value not in {c.value for c in choices}:
        raise ValidationFailed(
            _l("'%(value)s' is not a valid choice.", value=(raw or "")[:40]), field=field
        )
    return value


def clean_amount(raw: Decimal | str | None) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        amount = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation as error:
        raise ValidationFailed(
            _l("Enter an amount such as 120.50."), field="redress_amount"
        ) from error
    if not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX:
        raise ValidationFailed(_l("Enter an amount such as 120.50."), field="redress_amount")
    return amount.quantize(Decimal("0.01"))


def _check_staff(user_id: int | None, field: str) -> int | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationFailed(_l("Choose an active staff member."), field=field)
    return user.id


def _check_team(team_id: int | None) -> int | None:
    if team_id is None:
        return None
    if db.session.get(Team, team_id) is None:
        raise ValidationFailed(_l("Choose an existing team."), field="team_id")
    return team_id


# ---------------------------------------------------------------- access


def can_handle(actor: Actor) -> bool:
    return actor.is_system or actor.role in STAFF


def can_view(actor: Actor, ticket: Ticket) -> bool:
    if can_handle(actor):
        return True
    if actor.role == Role.RM and ticket.customer_id is not None:
        owner = db.session.scalar(
            select(Customer.owner_id).where(Customer.id == ticket.customer_id)
        )
        return owner == actor.user_id
    return False


def get_ticket(actor: Actor, ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(_l("No such ticket."))
    if not can_view(actor, ticket):
        raise PermissionDenied(
            _l("This ticket belongs to another relationship manager's customer.")
        )
    return ticket


def require_handler(actor: Actor) -> None:
    if not can_handle(actor):
        raise PermissionDenied(_l("Only complaint handlers, leads and admins can do this."))


# ---------------------------------------------------------------- intake


@dataclass
class TicketInput:
    kind: str
    subject: str
    channel_code: str
    business_code: str
    cause_code: str
    customer_id: int | None = None
    account_id: int | None = None
    product: str | None = None
    severity: str = Severity.MEDIUM.value
    request: str = ""
    description: str = ""
    assignee_id: int | None = None
    team_id: int | None = None
    received_at: datetime | None = None


def allocate_reference(kind: str, year: int) -> str:
    """The next reference for `kind` in `year`, e.g. CMP-2026-000123, never given twice: the
    counter row is incremented in the caller's transaction (a row lock on PostgreSQL, the
    database write lock on SQLite), so concurrent intakes queue on it instead of colliding."""
    prefix = REFERENCE_PREFIX[Kind(kind)]
    bump = (
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    )
    number = db.session.execute(bump).scalar()
    if number is None:
        try:
            with db.session.begin_nested():
                db.session.add(ReferenceCounter(prefix=prefix, year=year, last=1))
            number = 1
        except IntegrityError:  # another intake created the row a moment ago
            number = db.session.execute(bump).scalar_one()
    return f"{prefix}-{year}-{number:06d}"


def _check_input(actor: Actor, data: TicketInput, now: datetime) -> dict[str, Any]:
    preload(data.channel_code, data.business_code, data.cause_code)
    received = as_utc(data.received_at) if data.received_at else now
    if received > now + timedelta(minutes=5):
        raise ValidationFailed(
            _l("A ticket cannot be received in the future."), field="received_at"
        )
    if received.year < 2000:
        raise ValidationFailed(_l("Enter a date after 2000."), field="received_at")
    customer_id = data.customer_id
    if customer_id is not None:
        customer = db.session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            raise ValidationFailed(_l("Choose an existing customer."), field="customer_id")
        if actor.role == Role.RM and customer.owner_id != actor.user_id:
            raise PermissionDenied(_l("This customer belongs to another relationship manager."))
    account_id = data.account_id
    if account_id is not None:
        account = db.session.get(CreditAccount, account_id)
        if account is None or account.customer_id != customer_id:
            raise ValidationFailed(
                _l("Choose one of this customer's accounts."), field="account_id"
            )
    return {
        "kind": _choice(data.kind, Kind, "kind"),
        "subject": clean_text(data.subject, "subject", SUBJECT_MAX, required=True),
        "channel_code": check_code(data.channel_code, Axis.CHANNEL, "channel_code"),
        "business_code": check_code(data.business_code, Axis.BUSINESS, "business_code"),
        "cause_code": check_code(data.cause_code, Axis.CAUSE, "cause_code"),
        "severity": _choice(data.severity or "medium", Severity, "severity"),
        "request": clean_text(data.request, "request"),
        "description": clean_text(data.description, "description"),
        "product": clean_text(data.product, "product", PRODUCT_MAX) or None,
        "customer_id": customer_id,
        "account_id": account_id,
        "assignee_id": _check_staff(data.assignee_id, "assignee_id"),
        "team_id": _check_team(data.team_id),
        "received_at": received,
    }


def create_ticket(
    actor: Actor,
    data: TicketInput,
    *,
    source: str = "staff",
    external_id: str | None = None,
    original: dict[str, Any] | None = None,
    commit: bool = True,
    profile: str | None = None,
    prospect_id: int | None = None,
    acknowledge: bool = False,
) -> Ticket:
    """Register a ticket (首问负责制: whoever received it registers it) under the deployment's
    regulatory profile, or `profile` (an import of another regime's complaints), with both
    clocks computed and stored. `acknowledge` emails the complainant the acknowledgement at
    once when they have an address (an import of past complaints does not)."""
    now = utc_now()
    values = _check_input(actor, data, now)
    settings = clock_settings()
    if profile is not None and profile not in clocks.PROFILES:
        raise ValueError(f"unknown regulatory profile {profile!r}")
    ticket = Ticket(
        **values,
        reference=allocate_reference(
            values["kind"], values["received_at"].astimezone(settings.zone).year
        ),
        status=Status.NEW.value,
        is_open=True,
        profile=profile or settings.profile,
        extensions=0,
        paused_days=0,
        sla_paused_hours=0.0,
        registered_by_id=actor.user_id,
        source=source,
        external_id=external_id,
        original=original,
        prospect_id=prospect_id,
    )
    apply_sla(ticket)
    apply_clock(ticket, clock_state(ticket))
    db.session.add(ticket)
    db.session.flush()
    add_event(
        actor,
        ticket,
        "created",
        data={
            "reference": ticket.reference,
            "kind": ticket.kind,
            "profile": ticket.profile,
            "received_at": plain(ticket.received_at),
            "due_at": plain(ticket.due_at),
            "sla_due_at": plain(ticket.sla_due_at),
            "source": source,
        },
        at=now,
    )
    if ticket.assignee_id or ticket.team_id:
        add_event(
            actor,
            ticket,
            "assigned",
            data=_assignment(ticket.assignee_id, ticket.team_id),
            at=now,
        )
        if ticket.assignee_id is not None and ticket.assignee_id != actor.user_id:
            notify_assigned(ticket, ticket.assignee_id)
    if acknowledge:
        from portal.tickets import notices  # notices builds on this module

        if notices.complainant(ticket).email:
            notices.send(actor, ticket, NoticeKind.ACKNOWLEDGEMENT, automatic=True, now=now)
    if commit:
        db.session.commit()
    return ticket


# ---------------------------------------------------------------- saving under a version


def locked_for_change(actor: Actor, ticket_id: int, version: int | None) -> Ticket:
    """The ticket to change, refused with who changed it and when if `version` is stale."""
    ticket = get_ticket(actor, ticket_id)
    if version is not None and ticket.version != version:
        _stale(ticket)
    return ticket


def _stale(ticket: Ticket) -> None:
    last = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    ).first()
    who = last.actor_label if last else "?"
    when = as_utc(last.occurred_at).strftime("%Y-%m-%d %H:%M UTC") if last else "?"
    raise Conflict(
        _l(
            "%(reference)s was changed by %(who)s at %(when)s while you were editing. "
            "Reload to see the change, then try again.",
            reference=ticket.reference,
            who=who,
            when=when,
        )
    )


def commit_change(ticket: Ticket) -> Ticket:
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        db.session.expire_all()
        _stale(db.session.get(Ticket, ticket.id))  # raises
    return ticket


# ---------------------------------------------------------------- status


def change_status(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    to: str,
    *,
    reason: str = "",
    resolution: str | None = None,
    remedies: list[str] | None = None,
    company_response: str | None = None,
) -> Ticket:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    target = _choice(to, Status, "status")
    if ticket.merged_into_id is not None:
        raise ValidationFailed(_l("This ticket was merged into another; work on that one."))
    if target not in TRANSITIONS[Status(ticket.status)]:
        raise ValidationFailed(
            _l(
                "A %(current)s ticket cannot become %(target)s.",
                current=status_label(ticket.status),
                target=status_label(target),
            ),
            field="status",
        )
    now = utc_now()
    before = ticket.status
    note = clean_text(reason, "reason", REASON_MAX)
    if target == Status.RESOLVED:
        ticket.resolution = clean_text(resolution, "resolution", required=True)
        chosen = [r for r in (remedies or []) if r in REMEDIES]
        if len(chosen) != len(remedies or []):
            raise ValidationFailed(_l("Unknown remedy."), field="remedies")
        ticket.remedies_told = chosen or None
        if company_response:
            if company_response not in US_RESPONSES:
                raise ValidationFailed(_l("Unknown response category."), field="company_response")
            ticket.company_response = company_response
        ticket.resolved_at = now
    reopening = before in (Status.RESOLVED, Status.CLOSED) and target in OPEN_STATUSES
    if target == Status.WITHDRAWN or reopening:
        note = _reason(reason)  # withdrawing and reopening need a reason
    if target == Status.CLOSED:
        from portal.tickets import notices  # notices builds on this module

        missing = notices.missing_at_close(ticket)
        if missing:
            raise ValidationFailed(
                _l(
                    "Before closing, send the %(notice)s to the complainant, or record how it "
                    "was given another way.",
                    notice=" / ".join(str(NOTICE_LABELS[kind]) for kind in missing),
                ),
                field="status",
            )
        ticket.closed_at = now
    if target == Status.ACKNOWLEDGED or (
        target == Status.IN_PROGRESS and ticket.acknowledged_at is None
    ):
        ticket.acknowledged_at = ticket.acknowledged_at or now
    _move_sla(ticket, before, target, now)
    ticket.status = target
    ticket.is_open = target in OPEN_STATUSES
    if ticket.is_open and before in (Status.RESOLVED, Status.CLOSED):
        ticket.resolved_at = ticket.closed_at = None  # reopened: the clocks run on
    add_event(
        actor, ticket, "status", reason=note or None, data={"from": before, "to": target}, at=now
    )
    if target == Status.RESOLVED:
        add_event(actor, ticket, "resolution", body=ticket.resolution, at=now)
    return commit_change(ticket)


def _move_sla(ticket: Ticket, before: str, target: str, now: datetime) -> None:
    """The internal SLA stops while the ticket waits on the customer (business hours)."""
    if target == Status.WAITING and before != Status.WAITING:
        ticket.sla_paused_since = now
    elif before == Status.WAITING and ticket.sla_paused_since is not None:
        calendar = clocks.PROFILES[ticket.profile].calendar
        paused = calendar.business_hours_between(
            as_utc(ticket.sla_paused_since), now, clock_settings().zone
        )
        ticket.sla_paused_hours = (ticket.sla_paused_hours or 0.0) + paused
        ticket.sla_paused_since = None
        apply_sla(ticket)
        if not is_regulated(ticket):
            apply_clock(ticket, clock_state(ticket))


# ---------------------------------------------------------------- details


@dataclass
class DetailsInput:
    subject: str
    channel_code: str
    business_code: str
    cause_code: str
    severity: str
    product: str | None = None
    request: str = ""
    description: str = ""
    root_cause: str | None = None
    redress_kind: str | None = None
    redress_amount: Decimal | str | None = None


DETAIL_FIELDS = (
    "subject",
    "channel_code",
    "business_code",
    "cause_code",
    "severity",
    "product",
    "request",
    "description",
    "root_cause",
    "redress_kind",
    "redress_amount",
)


def update_details(actor: Actor, ticket_id: int, version: int | None, data: DetailsInput) -> Ticket:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    preload(data.channel_code, data.business_code, data.cause_code)
    values = {
        "subject": clean_text(data.subject, "subject", SUBJECT_MAX, required=True),
        "channel_code": check_code(data.channel_code, Axis.CHANNEL, "channel_code"),
        "business_code": check_code(data.business_code, Axis.BUSINESS, "business_code"),
        "cause_code": check_code(data.cause_code, Axis.CAUSE, "cause_code"),
        "severity": _choice(data.severity, Severity, "severity"),
        "product": clean_text(data.product, "product", PRODUCT_MAX) or None,
        "request": clean_text(data.request, "request"),
        "description": clean_text(data.description, "description"),
        "root_cause": clean_text(data.root_cause, "root_cause") or None,
        "redress_kind": _choice(data.redress_kind, RedressKind, "redress_kind")
        if data.redress_kind
        else None,
        "redress_amount": clean_amount(data.redress_amount),
    }
    if values["redress_amount"] is not None and values["redress_kind"] in (None, "none"):
        raise ValidationFailed(
            _l("Choose the kind of redress for the amount."), field="redress_kind"
        )
    before = {f: plain(getattr(ticket, f)) for f in DETAIL_FIELDS}
    for name, value in values.items():
        setattr(ticket, name, value)
    after = {f: plain(getattr(ticket, f)) for f in DETAIL_FIELDS}
    changed = {f for f in DETAIL_FIELDS if before[f] != after[f]}
    if not changed:
        return ticket
    if "severity" in changed:
        apply_sla(ticket)
        if not is_regulated(ticket):
            apply_clock(ticket, clock_state(ticket))
    add_event(
        actor,
        ticket,
        "edited",
        data={
            "before": {f: before[f] for f in sorted(changed)},
            "after": {f: after[f] for f in sorted(changed)},
        },
    )
    return commit_change(ticket)


# ---------------------------------------------------------------- assignment


def assign(
    actor: Actor,
    ticket_ids: list[int],
    assignee_id: int | None,
    team_id: int | None,
    *,
    versions: dict[int, int] | None = None,
) -> int:
    """Assign tickets (one, or a bulk selection) to a handler and/or team; returns how many
    changed. A handler may take unassigned tickets; reassigning others' needs a lead/admin."""
    if not ticket_ids:
        raise ValidationFailed(_l("Select at least one ticket."))
    if len(ticket_ids) > 500:
        raise ValidationFailed(_l("Assign at most 500 tickets at once."))
    if not can_handle(actor):
        raise PermissionDenied(_l("Only complaint handlers, leads and admins can do this."))
    assignee_id = _check_staff(assignee_id, "assignee_id")
    team_id = _check_team(team_id)
    if assignee_id is not None:
        role = db.session.scalar(select(User.role).where(User.id == assignee_id))
        if role not in STAFF:
            raise ValidationFailed(
                _l("Tickets go to complaint handlers, leads or admins."), field="assignee_id"
            )
    tickets = list(
        db.session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id))
    )
    if len(tickets) != len(set(ticket_ids)):
        raise NotFound(_l("No such ticket."))
    changed = 0
    for ticket in tickets:
        if versions and ticket.id in versions and versions[ticket.id] != ticket.version:
            _stale(ticket)
        if not ticket.is_open:
            raise ValidationFailed(
                _l("%(reference)s is no longer open.", reference=ticket.reference)
            )
        if (
            actor.role == Role.HANDLER
            and ticket.assignee_id not in (None, actor.user_id)
            and assignee_id != ticket.assignee_id
        ):
            raise PermissionDenied(
                _l("Only a lead or admin can take a ticket from another handler.")
            )
        new_team = team_id if team_id is not None else ticket.team_id
        if (ticket.assignee_id, ticket.team_id) == (assignee_id, new_team):
            continue
        before = {"assignee_id": ticket.assignee_id, "team_id": ticket.team_id}
        ticket.assignee_id = assignee_id
        ticket.team_id = new_team
        add_event(
            actor,
            ticket,
            "assigned",
            data={"before": _assignment(*before.values()), **_assignment(assignee_id, new_team)},
        )
        if assignee_id is not None and assignee_id != actor.user_id:
            notify_assigned(ticket, assignee_id)
        changed += 1
    try:
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise Conflict(
            _l("Some of these tickets changed in the meantime. Reload and try again.")
        ) from error
    return changed


def _assignment(assignee_id: int | None, team_id: int | None) -> dict[str, Any]:
    """Who and which team, by id and by name: the history must read without a lookup."""
    assignee = db.session.get(User, assignee_id) if assignee_id else None
    team = db.session.get(Team, team_id) if team_id else None
    return {
        "assignee_id": assignee_id,
        "assignee": assignee.name if assignee else None,
        "team_id": team_id,
        "team": team.name if team else None,
    }


# ---------------------------------------------------------------- clocks


def _clock_change(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    action: str,
    reason: str,
    notice: str | None,
    change: Any,
    told_via: str | None = None,
) -> Ticket:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    if not is_regulated(ticket):
        raise ValidationFailed(_l("Only complaints run on a regulatory clock."))
    if not ticket.is_open:
        raise ValidationFailed(_l("The clock of a closed ticket cannot change."))
    why = _reason(reason)
    told = clean_text(notice, "notice") if notice is not None else None
    before_due = plain(ticket.due_at)
    try:
        state = change(clock_state(ticket))
    except clocks.ClockError as error:
        raise ValidationFailed(clock_message(error), field="clock") from error
    apply_clock(ticket, state)
    now = utc_now()
    add_event(
        actor,
        ticket,
        action,
        reason=why,
        data={
            "due_before": before_due,
            "due_after": plain(ticket.due_at),
            "extensions": ticket.extensions,
            "paused_days": ticket.paused_days,
            "approver": actor.label
            if action == "clock.extended" and ticket.extensions == 2
            else None,
        },
        at=now,
    )
    _tell(actor, ticket, action, told, told_via, now)
    return commit_change(ticket)


CLOCK_NOTICES = {
    "clock.extended": NoticeKind.EXTENSION,
    "clock.paused": NoticeKind.PAUSE,
    "clock.resumed": NoticeKind.RESUME,
}


def _tell(
    actor: Actor, ticket: Ticket, action: str, told: str | None, via: str | None, now: datetime
) -> None:
    """CN clock changes are notices to the complainant: by email, or recorded as given another
    way with what was said. Other regimes record what the customer was told as a response."""
    from portal.tickets import notices  # notices builds on this module

    kind = CLOCK_NOTICES.get(action)
    if kind is None or kind not in notices.notices_for(ticket):
        if told:
            add_event(actor, ticket, "response", body=told, data={"notice": action}, at=now)
        return
    has_email = bool(notices.complainant(ticket).email)
    if via is None:  # by email when the complainant has an address
        via = "email" if has_email else "other"
    if via == "email":
        if told is not None or has_email:
            notices.send(actor, ticket, kind, message=told or "", now=now)
    elif told:
        notices.record(actor, ticket, kind, via, told, now)


def clock_message(error: clocks.ClockError) -> str:
    """Clock refusals in the viewer's language."""
    text = str(error)
    messages = {
        "cannot be extended further": _l("This ticket's clock cannot be extended further."),
        "needs a lead or admin": _l("The extension to 60 days needs a lead or admin as approver."),
        "cannot be paused": _l("This profile's clock cannot be paused."),
        "already paused": _l("The clock is already paused."),
        "is not paused": _l("The clock is not paused."),
        "before it began": _l("A pause cannot end before it began."),
        "cannot be restarted": _l("This profile's clock cannot be restarted."),
    }
    for needle, message in messages.items():
        if needle in text:
            return str(message)
    return text


def _need_notice(notice: str | None) -> str:
    return clean_text(notice, "notice", required=True)


def extend_clock(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    reason: str,
    notice: str,
    told_via: str | None = None,
) -> Ticket:
    """CN: to 30 days, then (lead/admin) to 60, telling the customer; US: mark in progress."""
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    senior = actor.is_system or actor.role in SENIOR
    updated = _clock_change(
        actor,
        ticket_id,
        version,
        "clock.extended",
        reason,
        notice or None,
        lambda state: clocks.extend(state, approved_by_senior=senior),
        told_via,
    )
    if updated.profile == "US":
        updated.company_response = "In progress"
        db.session.commit()
    return updated


def pause_clock(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    reason: str,
    notice: str,
    told_via: str | None = None,
) -> Ticket:
    """CN: outside appraisal, testing or assessment; the complainant is told."""
    now = utc_now()
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.paused",
        reason,
        notice or None,
        lambda state: clocks.pause(state, now),
        told_via,
    )


def resume_clock(actor: Actor, ticket_id: int, version: int | None, reason: str) -> Ticket:
    now = utc_now()
    zone = clock_settings().zone
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.resumed",
        reason,
        None,
        lambda state: clocks.resume(state, now, zone),
    )


def restart_clock(
    actor: Actor, ticket_id: int, version: int | None, reason: str, new_facts_on: date | None
) -> Ticket:
    """CN: new facts or material restart the period from the day they arrived."""
    today = utc_now().astimezone(clock_settings().zone).date()
    day = new_facts_on or today
    ticket = get_ticket(actor, ticket_id)
    received = as_utc(ticket.received_at).astimezone(clock_settings().zone).date()
    if day > today or day < received:
        raise ValidationFailed(
            _l("New facts arrive between the day of receipt and today."), field="new_facts_on"
        )
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.restarted",
        reason,
        None,
        lambda state: clocks.restart(state, day),
    )


# ---------------------------------------------------------------- notes and responses


def add_note(
    actor: Actor, ticket_id: int, body: str, *, customer_facing: bool = False
) -> TicketEvent:
    """An internal note, or a response the customer was given; neither changes the ticket's
    version, so writing one never collides with someone's edit."""
    ticket = get_ticket(actor, ticket_id)
    if customer_facing:
        require_handler(actor)
    text = clean_text(body, "body", required=True)
    event = add_event(actor, ticket, "response" if customer_facing else "note", body=text)
    db.session.commit()
    return event


# ---------------------------------------------------------------- merging repeats


def merge(actor: Actor, ticket_id: int, duplicate_reference: str, reason: str) -> Ticket:
    """Fold a repeat of the same complaint into this ticket: the repeat closes, pointing here;
    both histories say so."""
    require_handler(actor)
    why = _reason(reason)
    ticket = get_ticket(actor, ticket_id)
    reference = (duplicate_reference or "").strip().upper()
    duplicate = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
    if duplicate is None:
        raise ValidationFailed(
            _l("No ticket %(reference)s.", reference=reference[:30]), field="duplicate"
        )
    if duplicate.id == ticket.id:
        raise ValidationFailed(_l("A ticket cannot be merged into itself."), field="duplicate")
    if not ticket.is_open or not duplicate.is_open:
        raise ValidationFailed(_l("Both tickets must be open to merge."), field="duplicate")
    if duplicate.customer_id != ticket.customer_id or (
        ticket.customer_id is None and duplicate.prospect_id != ticket.prospect_id
    ):
        raise ValidationFailed(
            _l("Only a repeat from the same customer can be merged."), field="duplicate"
        )
    now = utc_now()
    before = duplicate.status
    duplicate.status = Status.CLOSED.value
    duplicate.is_open = False
    duplicate.closed_at = now
    duplicate.merged_into_id = ticket.id
    duplicate.resolution = f"Merged into {ticket.reference}"
    add_event(
        actor,
        duplicate,
        "merged.into",
        reason=why,
        data={"into": ticket.reference, "from_status": before},
        at=now,
    )
    add_event(
        actor, ticket, "merged.from", reason=why, data={"duplicate": duplicate.reference}, at=now
    )
    ticket.updated_at = now  # bumps the version: whoever edits this ticket sees the merge
    return commit_change(ticket)


# ---------------------------------------------------------------- reading


def events_of(ticket_id: int, limit: int | None = None) -> list[TicketEvent]:
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))


def handlers() -> list[Any]:
    """(id, name) of every active handler, lead and admin: who tickets can go to."""
    return list(
        db.session.execute(
            select(User.id, User.name)
            .where(User.role.in_([r.value for r in STAFF]), User.active)
            .order_by(User.name)
            .limit(1000)
        )
    )


def lead_of(ticket: Ticket) -> list[int]:
    """Who a breach escalates to: the team's lead, else every active lead."""
    if ticket.team_id is not None:
        lead = db.session.scalar(select(Team.lead_id).where(Team.id == ticket.team_id))
        if lead is not None:
            return [lead]
    return list(
        db.session.scalars(
            select(User.id).where(User.role == Role.LEAD, User.active).order_by(User.id)
        )
    )


@dataclass(frozen=True)
class TeamOverview:
    team: Team
    lead: str | None
    members: list[str]


def team_overview() -> list[TeamOverview]:
    names: dict[int, str] = {
        row.id: row.name for row in db.session.execute(select(User.id, User.name))
    }
    members: dict[int, list[str]] = {}
    for team_id, user_id in db.session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members.setdefault(team_id, []).append(names.get(user_id, "?"))
    return [
        TeamOverview(
            team,
            names.get(team.lead_id) if team.lead_id else None,
            sorted(members.get(team.id, [])),
        )
        for team in teams()
    ]


def create_team(actor: Actor, name: str, lead_id: int | None, member_ids: list[int]) -> Team:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins manage teams."))
    label = clean_text(name, "name", 80, required=True)
    if db.session.scalar(select(Team.id).where(Team.name == label)) is not None:
        raise ValidationFailed(_l("A team with this name exists."), field="name")
    team = Team(name=label, lead_id=_check_staff(lead_id, "lead_id"))
    db.session.add(team)
    db.session.flush()
    for user_id in sorted(set(member_ids)):
        db.session.add(TeamMember(team_id=team.id, user_id=_check_staff(user_id, "members")))
    db.session.commit()
    return team


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


# ---------------------------------------------------------------- the customer's 360 timeline


TICKETS = Source(
    "ticket", lambda: select(Ticket), Ticket.customer_id, Ticket.received_at, Ticket.id
)


def ticket_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(t.received_at, "ticket", t.id, "tickets/_entry_ticket.html", {"ticket": t})
        for t in TICKETS.newest_first(customer_id, before, limit).scalars()
    ]


def recent_complaints_of(owner_id: int, since: datetime, limit: int = 20) -> list[Ticket]:
    """An RM's "My day": complaints about their customers received since `since` or still open."""
    owned = select(Customer.id).where(Customer.owner_id == owner_id)
    return list(
        db.session.scalars(
            select(Ticket)
            .where(
                Ticket.customer_id.in_(owned),
                Ticket.kind == Kind.COMPLAINT.value,
                (Ticket.received_at >= since) | Ticket.is_open.is_(True),
            )
            .order_by(Ticket.received_at.desc(), Ticket.id.desc())
            .limit(limit)
        )
    )


def customers_with_open_complaints(customer_ids: list[int]) -> set[int]:
    """The contact policy's "has an open complaint" state, for a batch of customers."""
    found: set[int] = set()
    for start in range(0, len(customer_ids), 5000):
        found.update(
            db.session.scalars(
                select(Ticket.customer_id)
                .where(
                    among(Ticket.customer_id, customer_ids[start : start + 5000]),
                    Ticket.is_open.is_(True),
                    Ticket.kind == Kind.COMPLAINT.value,
                )
                .distinct()
            )
        )
    return found
