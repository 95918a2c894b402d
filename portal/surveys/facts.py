"""The facts copied onto an answer when it is recorded: what the results and drivers pages group
by, as they stood when the customer answered (see the models' docstring).

`facts_from` works on objects already loaded and asks the database nothing, so the demo seeder
can copy the facts of many answers at once; `facts_for` loads what one invitation is about.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select

from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.customers.models import Customer, Interaction
from portal.surveys.models import SurveyInvitation
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


def contact_facts(interaction: Interaction, previous_at: datetime | None) -> dict[str, Any]:
    """The RM contact's channel and the whole days since the customer's contact before it
    (None for a first contact)."""
    return {
        "contact_channel": interaction.channel,
        "days_since_contact": (
            _days_between(previous_at, interaction.occurred_at) if previous_at else None
        ),
    }


def facts_from(
    customer: Customer | None,
    ticket: Ticket | None = None,
    interaction: Interaction | None = None,
    previous_contact_at: datetime | None = None,
) -> dict[str, Any]:
    """The answer's copied columns from what it is about; the keys are SurveyAnswer's."""
    facts: dict[str, Any] = {"segment": customer.segment if customer is not None else None}
    if ticket is not None:
        facts.update(ticket_facts(ticket))
    if interaction is not None:
        facts.update(contact_facts(interaction, previous_contact_at))
    return facts


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


def facts_for(invitation: SurveyInvitation) -> dict[str, Any]:
    """The copied columns of an answer to `invitation`, read from the database now (one query
    for what it is about; a second for an RM contact's previous contact)."""
    row = db.session.execute(
        select(Customer, Ticket, Interaction)
        .select_from(SurveyInvitation)
        .outerjoin(Customer, Customer.id == SurveyInvitation.customer_id)
        .outerjoin(Ticket, Ticket.id == SurveyInvitation.ticket_id)
        .outerjoin(Interaction, Interaction.id == SurveyInvitation.interaction_id)
        .where(SurveyInvitation.id == invitation.id)
    ).one()
    customer, ticket, interaction = row
    previous = previous_contact_at(interaction) if interaction is not None else None
    return facts_from(customer, ticket, interaction, previous)
