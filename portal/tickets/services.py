"""The ticket's own use cases: registering a ticket (intake), moving it through its statuses,
editing its details, and notes. Every change is a ticket event with actor and reason (the
ticket's audit trail); a change to a ticket someone else saved meanwhile is refused with who
changed it and when (`versions`).

The room's other use cases sit beside these: assignment and teams (`assignment`), the
regulatory clock (`clock_changes`), merging repeats (`merging`), the customer channels and
notices (`channels`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.customers.models import CreditAccount, Customer
from portal.tickets import clocks
from portal.tickets.access import can_handle, get_ticket, require_handler
from portal.tickets.assignment import assignment_data
from portal.tickets.deadlines import (
    apply_clock,
    apply_sla,
    clock_settings,
    clock_state,
    end_sla_pause,
    is_regulated,
    stop_clocks,
)
from portal.tickets.events import add_event, plain
from portal.tickets.labels import NOTICE_LABELS, STATUS_LABELS, US_RESPONSES
from portal.tickets.models import (
    OPEN_STATUSES,
    REFERENCE_PREFIX,
    REMEDIES,
    Axis,
    Kind,
    RedressKind,
    ReferenceCounter,
    Severity,
    Status,
    Ticket,
    TicketEvent,
)
from portal.tickets.notice_rules import missing_at_close
from portal.tickets.notifications import notify_assigned
from portal.tickets.taxonomy import check_code, preload
from portal.tickets.validation import (
    PRODUCT_MAX,
    REASON_MAX,
    SUBJECT_MAX,
    check_staff,
    check_team,
    clean_amount,
    clean_choice,
    clean_reason,
    clean_text,
)
from portal.tickets.versions import locked_for_change, ticket_changed_meanwhile

TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.WITHDRAWN),
    Status.ACKNOWLEDGED: (Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED, Status.WITHDRAWN),
    Status.IN_PROGRESS: (Status.WAITING, Status.RESOLVED, Status.WITHDRAWN),
    Status.WAITING: (Status.IN_PROGRESS, Status.RESOLVED, Status.WITHDRAWN),
    Status.RESOLVED: (Status.CLOSED, Status.IN_PROGRESS),
    Status.CLOSED: (Status.IN_PROGRESS,),
    Status.WITHDRAWN: (),
}


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
    if (data.assignee_id is not None or data.team_id is not None) and not can_handle(actor):
        raise PermissionDenied(
            _l("Only complaint handlers, leads and admins assign a ticket at intake.")
        )
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
        "kind": clean_choice(data.kind, Kind, "kind"),
        "subject": clean_text(data.subject, "subject", SUBJECT_MAX, required=True),
        "channel_code": check_code(data.channel_code, Axis.CHANNEL, "channel_code"),
        "business_code": check_code(data.business_code, Axis.BUSINESS, "business_code"),
        "cause_code": check_code(data.cause_code, Axis.CAUSE, "cause_code"),
        "severity": clean_choice(data.severity or "medium", Severity, "severity"),
        "request": clean_text(data.request, "request"),
        "description": clean_text(data.description, "description"),
        "product": clean_text(data.product, "product", PRODUCT_MAX) or None,
        "customer_id": customer_id,
        "account_id": account_id,
        "assignee_id": check_staff(data.assignee_id, "assignee_id"),
        "team_id": check_team(data.team_id),
        "received_at": received,
    }


@use_case
def create_ticket(
    actor: Actor,
    data: TicketInput,
    *,
    source: str = "staff",
    external_id: str | None = None,
    original: dict[str, Any] | None = None,
    profile: str | None = None,
    prospect_id: int | None = None,
) -> Ticket:
    """Register a ticket (首问负责制: whoever received it registers it) under the deployment's
    regulatory profile, or `profile` (an import of another regime's complaints), with both
    clocks computed and stored. The acknowledgement to the complainant is the channel's to
    send (`channels.intake.register`, the web form, inbound email); an import of past
    complaints sends none. Called by another use case (a channel, an import), it runs nested
    in that one's transaction: a refusal undoes only what it wrote."""
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
            data=assignment_data(ticket.assignee_id, ticket.team_id),
            at=now,
        )
        if ticket.assignee_id is not None and ticket.assignee_id != actor.user_id:
            notify_assigned(ticket, ticket.assignee_id)
    return ticket


# ---------------------------------------------------------------- status


@use_case(stale=ticket_changed_meanwhile)
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
    """Move a ticket to status `to` along TRANSITIONS. Resolving states the resolution (and
    the remedies told, the CFPB category); withdrawing and reopening need a reason; closing a
    complaint needs its closing notice given. Leaving handling (resolved, closed, withdrawn)
    stops every clock: a pause ends with its event (`clock_changes.stop_clocks`)."""
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    target = clean_choice(to, Status, "status")
    _check_transition(ticket, target)
    now = utc_now()
    before = ticket.status
    note = clean_text(reason, "reason", REASON_MAX)
    if target == Status.RESOLVED:
        _resolve(ticket, resolution, remedies or [], company_response, now)
    reopening = before in (Status.RESOLVED, Status.CLOSED) and target in OPEN_STATUSES
    if target == Status.WITHDRAWN or reopening:
        note = clean_reason(reason)  # withdrawing and reopening need a reason
    if target == Status.CLOSED:
        _check_closing_notices(ticket)
        ticket.closed_at = now
    if target == Status.ACKNOWLEDGED or (
        target == Status.IN_PROGRESS and ticket.acknowledged_at is None
    ):
        ticket.acknowledged_at = ticket.acknowledged_at or now
    _move_sla(ticket, before, target, now)
    ticket.status = target
    ticket.is_open = target in OPEN_STATUSES
    if not ticket.is_open:
        stop_clocks(actor, ticket, now, note or None)
    if reopening:
        ticket.resolved_at = ticket.closed_at = None  # the clocks run on
    add_event(
        actor, ticket, "status", reason=note or None, data={"from": before, "to": target}, at=now
    )
    if target == Status.RESOLVED:
        add_event(actor, ticket, "resolution", body=ticket.resolution, at=now)
    return ticket


def _check_transition(ticket: Ticket, target: str) -> None:
    if ticket.merged_into_id is not None:
        raise ValidationFailed(_l("This ticket was merged into another; work on that one."))
    if target not in TRANSITIONS[Status(ticket.status)]:
        raise ValidationFailed(
            _l(
                "A %(current)s ticket cannot become %(target)s.",
                current=_status_label(ticket.status),
                target=_status_label(target),
            ),
            field="status",
        )


def _resolve(
    ticket: Ticket,
    resolution: str | None,
    remedies: list[str],
    company_response: str | None,
    now: datetime,
) -> None:
    ticket.resolution = clean_text(resolution, "resolution", required=True)
    chosen = [r for r in remedies if r in REMEDIES]
    if len(chosen) != len(remedies):
        raise ValidationFailed(_l("Unknown remedy."), field="remedies")
    ticket.remedies_told = chosen or None
    if company_response:
        if company_response not in US_RESPONSES:
            raise ValidationFailed(_l("Unknown response category."), field="company_response")
        ticket.company_response = company_response
    if ticket.profile == "US" and is_regulated(ticket) and ticket.timely is None:
        # The CFPB's "Timely response?": the first response, here the closing one.
        ticket.timely = now < as_utc(ticket.due_at)
    ticket.resolved_at = now


def _check_closing_notices(ticket: Ticket) -> None:
    missing = missing_at_close(ticket)
    if missing:
        raise ValidationFailed(
            _l(
                "Before closing, send the %(notice)s to the complainant, or record how it "
                "was given another way.",
                notice=" / ".join(str(NOTICE_LABELS[kind]) for kind in missing),
            ),
            field="status",
        )


def _move_sla(ticket: Ticket, before: str, target: str, now: datetime) -> None:
    """The internal SLA stops while the ticket waits on the customer (business hours)."""
    if target == Status.WAITING and before != Status.WAITING:
        ticket.sla_paused_since = now
    elif before == Status.WAITING:
        end_sla_pause(ticket, now)


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


@use_case(stale=ticket_changed_meanwhile)
def update_details(actor: Actor, ticket_id: int, version: int | None, data: DetailsInput) -> Ticket:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    preload(data.channel_code, data.business_code, data.cause_code)
    values = {
        "subject": clean_text(data.subject, "subject", SUBJECT_MAX, required=True),
        "channel_code": check_code(data.channel_code, Axis.CHANNEL, "channel_code"),
        "business_code": check_code(data.business_code, Axis.BUSINESS, "business_code"),
        "cause_code": check_code(data.cause_code, Axis.CAUSE, "cause_code"),
        "severity": clean_choice(data.severity, Severity, "severity"),
        "product": clean_text(data.product, "product", PRODUCT_MAX) or None,
        "request": clean_text(data.request, "request"),
        "description": clean_text(data.description, "description"),
        "root_cause": clean_text(data.root_cause, "root_cause") or None,
        "redress_kind": clean_choice(data.redress_kind, RedressKind, "redress_kind")
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
    return ticket


# ---------------------------------------------------------------- notes and responses


@use_case
def add_note(
    actor: Actor, ticket_id: int, body: str, *, customer_facing: bool = False
) -> TicketEvent:
    """An internal note, or a response the customer was given; neither changes the ticket's
    version, so writing one never collides with someone's edit."""
    ticket = get_ticket(actor, ticket_id)
    if customer_facing:
        require_handler(actor)
    text = clean_text(body, "body", required=True)
    return add_event(actor, ticket, "response" if customer_facing else "note", body=text)


def _status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))
