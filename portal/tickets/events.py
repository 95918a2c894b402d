"""A ticket's events: its audit trail (who, when, what, before → after), written in the
transaction of the change they record and read back for the ticket page and its exports."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.timeutil import as_utc, utc_now
from portal.tickets.models import Ticket, TicketEvent


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
    """A value as an event's JSON data holds it."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def events_of(ticket_id: int, limit: int | None = None) -> list[TicketEvent]:
    """The ticket's events, newest first."""
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id.desc())
    )
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))
