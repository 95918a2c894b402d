"""Merging a repeat of the same complaint into the ticket that handles it."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.core.audit import Actor
from portal.core.errors import ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.tickets.access import get_ticket, require_handler
from portal.tickets.deadlines import stop_clocks
from portal.tickets.events import add_event
from portal.tickets.models import Status, Ticket
from portal.tickets.validation import clean_reason
from portal.tickets.versions import ticket_changed_meanwhile


@use_case(stale=ticket_changed_meanwhile)
def merge(actor: Actor, ticket_id: int, duplicate_reference: str, reason: str) -> Ticket:
    """Fold a repeat of the same complaint into this ticket: the repeat closes, pointing here,
    its clocks stopped; both histories say so."""
    require_handler(actor)
    why = clean_reason(reason)
    ticket = get_ticket(actor, ticket_id)
    duplicate = _repeat_of(ticket, duplicate_reference)
    now = utc_now()
    before = duplicate.status
    duplicate.status = Status.CLOSED.value
    duplicate.is_open = False
    duplicate.closed_at = now
    duplicate.merged_into_id = ticket.id
    duplicate.resolution = f"Merged into {ticket.reference}"
    stop_clocks(actor, duplicate, now, why)
    add_event(
        actor,
        duplicate,
        "merged.into",
        reason=why,
        data={"into": ticket.reference, "from_status": before},
        at=now,
    )
    add_event(
        actor, ticket, "merged.from", reason=why, data={"duplicate": duplicate.reference}, at=now
    )
    ticket.updated_at = now  # bumps the version: whoever edits this ticket sees the merge
    return ticket


def _repeat_of(ticket: Ticket, duplicate_reference: str) -> Ticket:
    """The open ticket `duplicate_reference` of the same complainant, which may merge in."""
    reference = (duplicate_reference or "").strip().upper()
    duplicate = db.session.scalar(select(Ticket).where(Ticket.reference == reference))
    if duplicate is None:
        raise ValidationFailed(
            _l("No ticket %(reference)s.", reference=reference[:30]), field="duplicate"
        )
    if duplicate.id == ticket.id:
        raise ValidationFailed(_l("A ticket cannot be merged into itself."), field="duplicate")
    if not ticket.is_open or not duplicate.is_open:
        raise ValidationFailed(_l("Both tickets must be open to merge."), field="duplicate")
    if duplicate.customer_id != ticket.customer_id or (
        ticket.customer_id is None and duplicate.prospect_id != ticket.prospect_id
    ):
        raise ValidationFailed(
            _l("Only a repeat from the same customer can be merged."), field="duplicate"
        )
    return duplicate
