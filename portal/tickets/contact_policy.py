"""The state rule this room gives the contact policy: who has an open complaint (no greeting or
survey goes to them meanwhile)."""

from sqlalchemy import select

from portal.core.extensions import among, db
from portal.tickets.models import Kind, Ticket

BATCH = 5000


def customers_with_open_complaints(customer_ids: list[int]) -> set[int]:
    """The contact policy's "has an open complaint" state, for a batch of customers."""
    found: set[int] = set()
    for start in range(0, len(customer_ids), BATCH):
        found.update(
            db.session.scalars(
                select(Ticket.customer_id)
                .where(
                    among(Ticket.customer_id, customer_ids[start : start + BATCH]),
                    Ticket.is_open.is_(True),
                    Ticket.kind == Kind.COMPLAINT.value,
                )
                .distinct()
            )
        )
    return found
