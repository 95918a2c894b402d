"""The facts copied onto an answer when it is recorded: what the results and drivers pages group
by, as they stood when the customer answered (see the models' docstring).

`ticket_facts` and `contact_facts` are the rules, on values already loaded (the demo seeder
copies the facts of many answers with them). The answer page reads the facts of one invitation in
the query that locks it: `join_facts` joins what the invitation is about, `fact_columns` selects
the columns the facts are made of, and `facts_in` makes them from the row.
"""

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import FromClause, Table, select

from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.customers.models import Customer, Interaction
from portal.tickets.models import Ticket

SECONDS_PER_DAY = 86400


def _days_between(start: datetime, end: datetime) -> int:
    return max(0, int((as_utc(end) - as_utc(start)).total_seconds() // SECONDS_PER_DAY))


def ticket_facts(ticket: Ticket) -> dict[str, Any]:
    """Product, cause, channel, handler, whole days from receipt to resolution (closing when
    it was never marked resolved) and whether that came after the regulatory due date."""
    finished = ticket.resolved_at or ticket.closed_at
    return {
        "ticket_id": ticket.id,
        "product": ticket.product,
        "cause_code": ticket.cause_code,
        "channel_code": ticket.channel_code,
        "handler_id": ticket.assignee_id,
        "resolve_days": _days_between(ticket.received_at, finished) if finished else None,
        "breached": as_utc(finished) > as_utc(ticket.due_at) if finished else None,
    }


def contact_facts(
    channel: str, occurred_at: datetime, previous_at: datetime | None
) -> dict[str, Any]:
    """The RM contact's channel and the whole days since the customer's contact before it
    (None for a first contact)."""
    return {
        "contact_channel": channel,
        "days_since_contact": _days_between(previous_at, occurred_at) if previous_at else None,
    }


def previous_contact_at(interaction: Interaction) -> datetime | None:
    """When the customer was last contacted before `interaction` (the customer-time index)."""
    return db.session.scalar(
        select(Interaction.occurred_at)
        .where(
            Interaction.customer_id == interaction.customer_id,
            Interaction.occurred_at < interaction.occurred_at,
        )
        .order_by(Interaction.occurred_at.desc())
        .limit(1)
    )


# The columns the facts are made of, by table (`ticket_facts`, `contact_facts`).
TICKET_COLUMNS = (
    "id",
    "product",
    "cause_code",
    "channel_code",
    "assignee_id",
    "received_at",
    "resolved_at",
    "closed_at",
    "due_at",
)
CONTACT_COLUMNS = ("id", "customer_id", "channel", "occurred_at")


def join_facts(invitations_and_more: FromClause, invitations: Table) -> FromClause:
    """`invitations_and_more` outer-joined to what each invitation is about: its customer,
    ticket and RM contact, whose columns `fact_columns` selects."""
    customers, tickets, interactions = Customer.__table__, Ticket.__table__, Interaction.__table__
    return (
        invitations_and_more.outerjoin(customers, customers.c.id == invitations.c.customer_id)
        .outerjoin(tickets, tickets.c.id == invitations.c.ticket_id)
        .outerjoin(interactions, interactions.c.id == invitations.c.interaction_id)
    )


def fact_columns() -> list[Any]:
    """The columns `facts_in` reads, from the tables `join_facts` joins."""
    tickets, interactions = Ticket.__table__, Interaction.__table__
    return [
        Customer.__table__.c.segment.label("fact_segment"),
        *(tickets.c[name].label(f"fact_ticket_{name}") for name in TICKET_COLUMNS),
        *(interactions.c[name].label(f"fact_contact_{name}") for name in CONTACT_COLUMNS),
    ]


def facts_in(row: Any) -> dict[str, Any]:
    """The copied columns of an answer from a row selected with `fact_columns` (and, for an RM
    contact, a second query for the contact before it)."""
    columns = row._mapping
    facts: dict[str, Any] = {"segment": columns["fact_segment"]}
    if columns["fact_ticket_id"] is not None:
        ticket = SimpleNamespace(**{n: columns[f"fact_ticket_{n}"] for n in TICKET_COLUMNS})
        facts.update(ticket_facts(ticket))  # type: ignore[arg-type]
    if columns["fact_contact_id"] is not None:
        contact = SimpleNamespace(**{n: columns[f"fact_contact_{n}"] for n in CONTACT_COLUMNS})
        previous = previous_contact_at(contact)  # type: ignore[arg-type]
        facts.update(contact_facts(contact.channel, contact.occurred_at, previous))
    return facts
