"""The tickets room's section of an RM's My day: complaints about the RM's customers."""

from datetime import datetime, timedelta

from sqlalchemy import select

from portal.core.audit import Actor
from portal.core.extensions import db
from portal.customers.models import Customer
from portal.customers.my_day import Section
from portal.tickets.models import Kind, Ticket

RECENT_DAYS = 14  # complaints received this recently are listed, and all still open


def complaints_section(actor: Actor, now: datetime) -> Section | None:
    if actor.user_id is None:
        return None
    since = now - timedelta(days=RECENT_DAYS)
    complaints = recent_complaints_of(actor.user_id, since)
    return Section(
        "tickets/_my_day_complaints.html",
        {"complaints": complaints, "recent_days": RECENT_DAYS},
    )


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
