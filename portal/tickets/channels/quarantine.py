"""What the inbound quarantine pages and a ticket's emails read: received messages by state,
one message as parsed, and the original bytes of an email on a ticket."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import NotFound, PermissionDenied
from portal.core.extensions import db
from portal.core.pagination import newest_first
from portal.tickets.access import get_ticket, require_handler
from portal.tickets.channels import mailparse
from portal.tickets.models import InboundMail, InboundStatus, Ticket

PAGE = 50


def require_admin(actor: Actor) -> None:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins handle the inbound quarantine."))


@dataclass
class QuarantinePage:
    rows: list[InboundMail]  # without their bytes
    more: int | None  # the `before` of the next page
    state: str
    counts: dict[str, int]  # messages by state
    tickets: dict[int, str]  # the references of the rows' tickets


def quarantine_page(actor: Actor, state: str, before: int | None) -> QuarantinePage:
    """One page of the received messages in `state` (the quarantine unless another is
    known), newest first, below id `before`."""
    require_admin(actor)
    if state not in {s.value for s in InboundStatus}:
        state = InboundStatus.QUARANTINED.value
    rows, more = newest_first(
        select(InboundMail).where(InboundMail.status == state).options(defer(InboundMail.raw)),
        InboundMail.id,
        before,
        PAGE,
    )
    counts = dict(
        db.session.execute(
            select(InboundMail.status, func.count()).group_by(InboundMail.status)
        ).all()
    )
    tickets = {
        t.id: t.reference
        for t in db.session.scalars(
            select(Ticket).where(Ticket.id.in_({r.ticket_id for r in rows if r.ticket_id}))
        )
    }
    return QuarantinePage(
        rows=rows,
        more=more,
        state=state,
        counts=counts,
        tickets=tickets,
    )


def received(actor: Actor, inbound_id: int) -> InboundMail:
    """A received message, bytes and all, for an admin."""
    require_admin(actor)
    row = db.session.get(InboundMail, inbound_id)
    if row is None:
        raise NotFound(_l("No such message."))
    return row


@dataclass
class ReceivedMessage:
    row: InboundMail
    parsed: mailparse.ParsedMail | None
    problem: str | None  # why it could not be read
    ticket: Ticket | None


def received_message(actor: Actor, inbound_id: int) -> ReceivedMessage:
    """A received message as the parser reads it, with the ticket it went to."""
    row = received(actor, inbound_id)
    try:
        parsed, problem = mailparse.parse(row.raw or b""), None
    except mailparse.MailUnreadable as error:
        parsed, problem = None, str(error)
    ticket = db.session.get(Ticket, row.ticket_id) if row.ticket_id else None
    return ReceivedMessage(row, parsed, problem, ticket)


def original_email(actor: Actor, ticket_id: int, inbound_id: int) -> InboundMail:
    """An email the complainant sent onto this ticket, as received, for its handlers."""
    require_handler(actor)
    get_ticket(actor, ticket_id)
    row = db.session.get(InboundMail, inbound_id)
    if row is None or row.ticket_id != ticket_id or row.raw is None:
        raise NotFound(_l("No such email on this ticket."))
    return row
