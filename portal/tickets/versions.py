"""Saving a ticket under the version its editor read.

A form carries the version of the ticket it was filled in on. A change sent with an older one
is refused before anything is written, and a save that loses a race at the database (the row's
version moved between the read and the write) is refused at the commit: both say who changed the
ticket last and when, so the editor knows what to reload for.
"""

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.audit import Actor
from portal.core.errors import Conflict
from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.tickets.access import get_ticket
from portal.tickets.models import Ticket, TicketEvent


def locked_for_change(actor: Actor, ticket_id: int, version: int | None) -> Ticket:
    """The ticket to change, refused with who changed it and when if `version` is stale."""
    ticket = get_ticket(actor, ticket_id)
    if version is not None and ticket.version != version:
        raise stale_conflict(ticket)
    return ticket


def stale_conflict(ticket: Ticket) -> Conflict:
    """The conflict naming who changed `ticket` last and when."""
    last = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    ).first()
    who = last.actor_label if last else "?"
    when = as_utc(last.occurred_at).strftime("%Y-%m-%d %H:%M UTC") if last else "?"
    return Conflict(
        _l(
            "%(reference)s was changed by %(who)s at %(when)s while you were editing. "
            "Reload to see the change, then try again.",
            reference=ticket.reference,
            who=who,
            when=when,
        )
    )


def ticket_changed_meanwhile(
    actor: Actor, ticket_id: int, *_arguments: Any, **_options: Any
) -> Conflict:
    """The stale handler of a use case that changes one ticket, `(actor, ticket_id, …)`:
    `@use_case(stale=ticket_changed_meanwhile)` calls it after the rollback."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    return stale_conflict(ticket)
