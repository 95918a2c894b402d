"""Who may do what with one customer: the owning RM, and other roles as their work needs."""

from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.errors import PermissionDenied

if TYPE_CHECKING:
    from portal.customers.models import Customer

# Roles that see every customer (a complaint can come from anyone's customer).
VIEW_ALL = frozenset({Role.ADMIN, Role.LEAD, Role.HANDLER})
# Roles that may log contacts with any customer they can see.
CONTACT_ALL = frozenset({Role.ADMIN, Role.HANDLER})
EDIT_ALL = frozenset({Role.ADMIN})
REASSIGN = frozenset({Role.ADMIN, Role.LEAD})


def _owns(actor: Actor, customer: "Customer") -> bool:
    return actor.role == Role.RM and customer.owner_id == actor.user_id


def can_view(actor: Actor, customer: "Customer") -> bool:
    return actor.is_system or actor.role in VIEW_ALL or _owns(actor, customer)


def can_log_contact(actor: Actor, customer: "Customer") -> bool:
    return actor.is_system or actor.role in CONTACT_ALL or _owns(actor, customer)


def can_edit(actor: Actor, customer: "Customer") -> bool:
    return actor.is_system or actor.role in EDIT_ALL or _owns(actor, customer)


def can_reveal_pii(actor: Actor, customer: "Customer") -> bool:
    """Only the owning RM and admins see ID and phone numbers whole."""
    return actor.is_system or actor.role == Role.ADMIN or _owns(actor, customer)


def can_edit_contact(actor: Actor, author_id: int | None) -> bool:
    """A logged contact is corrected by its author or an admin, no one else."""
    return (
        actor.is_system
        or actor.role == Role.ADMIN
        or (author_id is not None and author_id == actor.user_id)
    )


def can_reassign(actor: Actor) -> bool:
    return actor.is_system or actor.role in REASSIGN


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_l("This customer belongs to another relationship manager."))
