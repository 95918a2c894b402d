"""The customer's tickets in a data-subject export, and what erasure removes from them: the
words (subject, request, description, resolution, notes, responses); categories, dates,
statuses and clocks stay, for the complaint statistics a regulator asks for."""

from typing import Any

from sqlalchemy import select, update

from portal.core.extensions import db
from portal.customers.privacy import ERASED_TEXT, register_erasure_step, register_export_section
from portal.tickets.models import Ticket, TicketEvent


def _export(customer_id: int) -> list[dict[str, Any]]:
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
    ).all()
    out = []
    for ticket in tickets:
        events = db.session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.body.is_not(None))
            .order_by(TicketEvent.id)
        )
        out.append(
            {
                "reference": ticket.reference,
                "kind": ticket.kind,
                "status": ticket.status,
                "received_at": ticket.received_at.isoformat(),
                "codes": [ticket.channel_code, ticket.business_code, ticket.cause_code],
                "subject": ticket.subject,
                "request": ticket.request,
                "description": ticket.description,
                "resolution": ticket.resolution,
                "texts": [
                    {"at": e.occurred_at.isoformat(), "action": e.action, "body": e.body}
                    for e in events
                ],
            }
        )
    return out


def _erase(customer_id: int) -> None:
    ids = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    db.session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.body.is_not(None))
        .values(body=ERASED_TEXT)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(
            subject=ERASED_TEXT,
            request=ERASED_TEXT,
            description=ERASED_TEXT,
            resolution=ERASED_TEXT,
            root_cause=None,
            original=None,
            version=Ticket.version + 1,
        )
        .execution_options(synchronize_session=False)
    )


def register_ticket_privacy() -> None:
    register_export_section("tickets", _export)
    register_erasure_step("tickets", _erase)
