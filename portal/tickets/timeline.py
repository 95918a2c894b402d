"""The room's entries on a customer's 360 timeline: their tickets, newest first."""

from sqlalchemy import select

from portal.customers.timeline import Cursor, Source, TimelineEntry
from portal.tickets.models import Ticket

TICKETS = Source(
    "ticket", lambda: select(Ticket), Ticket.customer_id, Ticket.received_at, Ticket.id
)


def ticket_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(t.received_at, "ticket", t.id, "tickets/_entry_ticket.html", {"ticket": t})
        for t in TICKETS.newest_first(customer_id, before, limit).scalars()
    ]
