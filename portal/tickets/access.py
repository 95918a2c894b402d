"""Who may see and handle tickets: handlers, leads and admins every ticket, a relationship
manager the tickets of their own customers."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import NotFound, PermissionDenied
from portal.core.extensions import db
from portal.customers.models import Customer
from portal.tickets.models import Ticket

STAFF = (Role.ADMIN, Role.HANDLER, Role.LEAD)
SENIOR = (Role.ADMIN, Role.LEAD)


def can_handle(actor: Actor) -> bool:
    return actor.is_system or actor.role in STAFF


def is_senior(actor: Actor) -> bool:
    """Leads and admins approve what a handler may not (the CN extension to 60 days)."""
    return actor.is_system or actor.role in SENIOR


def can_view(actor: Actor, ticket: Ticket) -> bool:
    if can_handle(actor):
        return True
    if actor.role == Role.RM and ticket.customer_id is not None:
        owner = db.session.scalar(
            select(Customer.owner_id).where(Customer.id == ticket.customer_id)
        )
        return owner == actor.user_id
    return False


def get_ticket(actor: Actor, ticket_id: int) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(_l("No such ticket."))
    if not can_view(actor, ticket):
        raise PermissionDenied(
            _l("This ticket belongs to another relationship manager's customer.")
        )
    return ticket


def require_handler(actor: Actor) -> None:
    if not can_handle(actor):
        raise PermissionDenied(_l("Only complaint handlers, leads and admins can do this."))
