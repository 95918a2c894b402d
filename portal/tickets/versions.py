"""Saving a ticket under the version its editor read.

A form carries the version of the ticket it was filled in on. A change sent with an older one
is refused before anything is written, and a save that loses a race at the database (the row's
version moved between the read and the write) is refused at the commit: both say who changed the
ticket last and when, so the editor knows what to reload for.
"""

from typing import Any

from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.services import user_names
from portal.core.audit import Actor
from portal.core.errors import Conflict
from portal.core.extensions import db
from portal.core.timeutil import as_utc
from portal.tickets.access import get_ticket
from portal.tickets.labels import ACTION_LABELS, FIELD_LABELS, STATUS_LABELS
from portal.tickets.models import Ticket, TicketEvent

# Events that add to a ticket without changing its row (its version stays): not what a stale
# form ran into.
ADDITIONS = ("note", "response", "email")


def locked_for_change(actor: Actor, ticket_id: int, version: int | None) -> Ticket:
    """The ticket to change, refused with who changed it and when if `version` is stale."""
    ticket = get_ticket(actor, ticket_id)
    if version is not None and ticket.version != version:
        raise stale_conflict(ticket)
    return ticket


def stale_conflict(ticket: Ticket) -> Conflict:
    """The conflict naming who changed `ticket` last, what and when: by the person's name and
    in the viewer's time zone and language (Babel's medium date and time)."""
    last = db.session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action.not_in(ADDITIONS))
        .order_by(TicketEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    name = user_names([last.actor_id]).get(last.actor_id)
    return Conflict(
        _l(
            "%(who)s changed %(reference)s at %(when)s (%(what)s) while you were working on "
            "it. Check the change, then try again.",
            who=name or last.actor_label,
            reference=ticket.reference,
            when=format_datetime(as_utc(last.occurred_at), "medium"),
            what=describe(last),
        )
    )


def describe(event: TicketEvent) -> str:
    """What an event changed, in a few words: "Status changed: New → Acknowledged"."""
    label = str(ACTION_LABELS.get(event.action, event.action))
    data = event.data or {}
    if event.action == "status":
        moved = (str(STATUS_LABELS.get(data.get(k), data.get(k) or "—")) for k in ("from", "to"))
        return f"{label}: {' → '.join(moved)}"
    if event.action == "edited":
        fields = (str(FIELD_LABELS.get(k, k)) for k in (data.get("after") or {}))
        return f"{label}: {', '.join(fields)}"
    if event.action == "assigned":
        return f"{label}: {data.get('assignee') or data.get('team') or _l('Nobody')}"
    return label


def ticket_changed_meanwhile(
    actor: Actor, ticket_id: int, *_arguments: Any, **_options: Any
) -> Conflict:
    """The stale handler of a use case that changes one ticket, `(actor, ticket_id, …)`:
    `@use_case(stale=ticket_changed_meanwhile)` calls it after the rollback."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    return stale_conflict(ticket)
