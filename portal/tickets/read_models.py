"""What the room's staff pages show, read in one place: the ticket page, the evidence a
regulator asks for (history export, print view) and the intake form's choices.

Each function checks that the viewer may see what it returns; the views only parse, call one
of these or a use case, and render.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from portal.accounts.services import user_names
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.customers.models import CreditAccount, Customer
from portal.tickets import assignment, clocks, taxonomy
from portal.tickets.access import can_handle, get_ticket, is_senior, require_handler
from portal.tickets.channels import replies
from portal.tickets.deadlines import is_regulated
from portal.tickets.events import events_of
from portal.tickets.models import (
    NoticeKind,
    Prospect,
    ReplyTemplate,
    Status,
    TaxonomyNode,
    Team,
    Ticket,
    TicketEvent,
)
from portal.tickets.notice_rules import (
    Complainant,
    NoticeRow,
    complainant,
    missing_at_close,
    notices_of,
    notices_offered,
)
from portal.tickets.services import TRANSITIONS

EVENTS_SHOWN = 200
TOLD = ("response", "resolution", "notice", "reply")  # what the customer was told


@dataclass
class TicketPage:
    """The ticket page: the ticket, who it is about and who works on it, its events by panel,
    what the viewer may do, and the correspondence with the complainant."""

    ticket: Ticket
    customer: Customer | None
    account: CreditAccount | None
    prospect: Prospect | None
    people: dict[int, str]  # the assignee, the registrar and whoever acted in an event, by id
    team: Team | None
    merged_into: Ticket | None
    notes: list[TicketEvent]
    responses: list[TicketEvent]
    emails: list[TicketEvent]
    history: list[TicketEvent]
    nodes: dict[str, TaxonomyNode]
    transitions: tuple[str, ...]  # the moves the status use case would accept now
    can_handle: bool
    is_senior: bool
    regulated: bool
    profile: clocks.RegulatoryProfile
    complainant: Complainant
    notice_rows: list[NoticeRow]
    notice_kinds: tuple[NoticeKind, ...]  # the notices that fit the ticket as it stands
    missing_at_close: tuple[NoticeKind, ...]
    reply_templates: list[ReplyTemplate]
    handlers: list[Any]  # who the ticket may go to, for a handler's assignment form
    teams: list[Team]


def ticket_page(actor: Actor, ticket_id: int) -> TicketPage:
    ticket = get_ticket(actor, ticket_id)
    handling = can_handle(actor)
    shown = events_of(ticket.id, EVENTS_SHOWN)
    rows = notices_of(ticket.id)
    missing = missing_at_close(ticket, rows)
    return TicketPage(
        ticket=ticket,
        customer=_get(Customer, ticket.customer_id),
        account=_get(CreditAccount, ticket.account_id),
        prospect=_get(Prospect, ticket.prospect_id),
        people=_names(ticket.assignee_id, ticket.registered_by_id, *(e.actor_id for e in shown)),
        team=_get(Team, ticket.team_id),
        merged_into=_get(Ticket, ticket.merged_into_id),
        notes=[e for e in shown if e.action == "note"],
        responses=[e for e in shown if e.action in TOLD],
        emails=[e for e in shown if e.action == "email"],
        history=[e for e in shown if e.action not in ("note", "email", *TOLD)],
        nodes={n.code: n for n in taxonomy.nodes()},
        transitions=offered_transitions(ticket, missing),
        can_handle=handling,
        is_senior=is_senior(actor),
        regulated=is_regulated(ticket),
        profile=clocks.PROFILES[ticket.profile],
        complainant=complainant(ticket),
        notice_rows=rows,
        notice_kinds=notices_offered(ticket, rows),
        missing_at_close=missing,
        reply_templates=replies.for_ticket(ticket),
        handlers=assignment.handlers() if handling else [],
        teams=assignment.teams() if handling else [],
    )


def offered_transitions(ticket: Ticket, missing: tuple[NoticeKind, ...]) -> tuple[str, ...]:
    """The status moves a handler is offered: those the status use case accepts now — none on a
    merged ticket, no closing while a closing notice is missing."""
    if ticket.merged_into_id is not None:
        return ()
    return tuple(
        target
        for target in TRANSITIONS[Status(ticket.status)]
        if not (target == Status.CLOSED and missing)
    )


def _get(model: Any, row_id: int | None) -> Any:
    return db.session.get(model, row_id) if row_id is not None else None


def _names(*user_ids: int | None) -> dict[int, str]:
    return user_names(user_ids)


@dataclass
class Evidence:
    """A ticket's whole history, oldest first, as a regulator is shown it."""

    ticket: Ticket
    customer: Customer | None
    events: list[TicketEvent]
    nodes: dict[str, TaxonomyNode]
    people: dict[int, str]  # whoever acted in an event, by id: named, not by their email


def evidence(actor: Actor, ticket_id: int) -> Evidence:
    """For handlers, leads and admins: the history export and the print view."""
    require_handler(actor)
    ticket = get_ticket(actor, ticket_id)
    events = list(reversed(events_of(ticket.id)))
    return Evidence(
        ticket=ticket,
        customer=_get(Customer, ticket.customer_id),
        events=events,
        nodes={n.code: n for n in taxonomy.nodes()},
        people=_names(ticket.registered_by_id, *(e.actor_id for e in events)),
    )


@dataclass
class IntakeChoices:
    """What the intake form offers: the customer's accounts and, to a handler, who and which
    team the ticket may go to."""

    accounts: list[CreditAccount]
    handlers: list[Any]
    teams: list[Team]


def intake_choices(actor: Actor, customer_id: int | None) -> IntakeChoices:
    accounts = (
        list(
            db.session.scalars(
                select(CreditAccount)
                .where(CreditAccount.customer_id == customer_id)
                .order_by(CreditAccount.number)
            )
        )
        if customer_id is not None
        else []
    )
    handling = can_handle(actor)
    return IntakeChoices(
        accounts=accounts,
        handlers=assignment.handlers() if handling else [],
        teams=assignment.teams() if handling else [],
    )
