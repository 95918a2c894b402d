"""Customer channels into the ticket queue: who wrote in, how often they may, and staff
registering what a customer told them.

The public form and inbound email both register tickets for people who are not signed in. A
complainant is matched to a customer by email address — by customer number only together with
that customer's email, so that a stranger typing someone's number cannot attach a complaint to
their file — and otherwise becomes a prospect, which a handler links to a customer later
(`link_prospect`). Staff register tickets for customers who called, wrote or came in
(`register`); every channel acknowledges a new ticket at once by email.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from portal.core.audit import Actor
from portal.core.errors import NotFound, ServiceError, ValidationFailed
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.customers.cleaning import clean_email
from portal.customers.models import Customer
from portal.tickets.access import require_handler
from portal.tickets.channels import notices
from portal.tickets.events import add_event
from portal.tickets.models import HeldStatus, HeldSubmission, Prospect, Ticket
from portal.tickets.services import TicketInput, create_ticket
from portal.tickets.versions import locked_for_change, ticket_changed_meanwhile

NAME_MAX = 120
PHONE_MAX = 40
# A sender may open at most this many tickets a day through the form and email together
# (submissions held as suspected spam and not yet decided count too); a loop with an
# auto-responder that ignores RFC 3834 stops here too.
TICKETS_PER_SENDER_PER_DAY = 5


class TooMany(ServiceError):
    status = 429


@dataclass(frozen=True)
class Complainant:
    customer_id: int | None
    prospect_id: int | None
    note: str  # what the handler should know about the match, for the ticket's history


def find_customer(email: str, number: str | None = None) -> tuple[Customer | None, str]:
    """The customer with this email (and this number, when one is given), with a note when the
    match was refused: two customers share the address, or the number belongs to another
    address."""
    rows = list(
        db.session.scalars(
            select(Customer)
            .where(Customer.email == email.lower(), Customer.erased_at.is_(None))
            .limit(2)
        )
    )
    number = (number or "").strip()
    if number:
        for customer in rows:
            if customer.number == number:
                return customer, ""
        return None, f"gave customer number {number[:32]}, which does not match the email"
    if len(rows) == 1:
        return rows[0], ""
    if len(rows) > 1:
        return None, "several customers share this email address"
    return None, ""


def complainant_for(
    email: str | None,
    name: str,
    *,
    number: str | None = None,
    phone: str | None = None,
    locale: str = "en",
) -> Complainant:
    """The customer who wrote in, else a prospect (one per email address, reused)."""
    address = clean_email(email) if email else None
    if address:
        customer, note = find_customer(address, number)
        if customer is not None:
            return Complainant(customer.id, None, "")
        prospect = db.session.scalars(
            select(Prospect)
            .where(Prospect.email == address, Prospect.customer_id.is_(None))
            .order_by(Prospect.id)
            .limit(1)
        ).first()
    else:
        note, prospect = "", None
    if prospect is None:
        prospect = Prospect(
            name=(name or "").strip()[:NAME_MAX],
            email=address,
            phone=(phone or "").strip()[:PHONE_MAX] or None,
            locale=locale,
        )
        db.session.add(prospect)
        db.session.flush()
    return Complainant(None, prospect.id, note)


def check_rate(email: str | None, now: datetime) -> None:
    """Refuse a sender's sixth ticket of the day, form and email together, counting their
    form submissions held as suspected spam that wait for a handler."""
    address = clean_email(email) if email else None
    if not address:
        return
    since = now - timedelta(days=1)
    customers = select(Customer.id).where(Customer.email == address)
    prospects = select(Prospect.id).where(Prospect.email == address)
    opened = db.session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.received_at >= since,
            Ticket.source.in_(("web", "email")),
            or_(Ticket.customer_id.in_(customers), Ticket.prospect_id.in_(prospects)),
        )
    )
    held = db.session.scalar(
        select(func.count(HeldSubmission.id)).where(
            HeldSubmission.email == address,
            HeldSubmission.received_at >= since,
            HeldSubmission.status == HeldStatus.HELD.value,
        )
    )
    opened = (opened or 0) + (held or 0)
    if opened >= TICKETS_PER_SENDER_PER_DAY:
        raise TooMany(
            _l(
                "We have already received %(count)d messages from this address today and will "
                "answer them all. Please write again tomorrow, or call us.",
                count=opened,
            )
        )


@use_case(stale=ticket_changed_meanwhile)
def link_prospect(
    actor: Actor, ticket_id: int, version: int | None, customer_number: str
) -> Ticket:
    """Link the ticket's prospect to the customer with `customer_number`: this ticket and the
    prospect's other tickets move to the customer, each with an event."""
    require_handler(actor)
    number = (customer_number or "").strip()
    customer = db.session.scalar(select(Customer).where(Customer.number == number))
    if customer is None:
        raise NotFound(_l("No customer has the number %(number)s.", number=number[:32]))
    if customer.erased_at is not None:
        raise NotFound(_l("Choose an existing customer."))
    ticket = locked_for_change(actor, ticket_id, version)
    if ticket.prospect_id is None or ticket.customer_id is not None:
        raise ValidationFailed(_l("This ticket already belongs to a customer."))
    prospect = db.session.get(Prospect, ticket.prospect_id)
    prospect.customer_id = customer.id
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.prospect_id == prospect.id, Ticket.customer_id.is_(None))
    )
    for each in tickets:
        each.customer_id = customer.id
        add_event(
            actor,
            each,
            "linked",
            data={"customer": customer.number, "prospect": prospect.id},
        )
    return ticket


@use_case
def register(actor: Actor, data: TicketInput) -> Ticket:
    """A ticket a member of staff registers from what a customer told them — at the counter,
    on the phone, in a letter (首问负责制) — with the acknowledgement emailed at once when the
    complainant has an address."""
    ticket = create_ticket(actor, data)
    notices.acknowledge(actor, ticket)
    return ticket
