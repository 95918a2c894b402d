"""Changing a complaint's regulatory clock: extending, pausing, resuming and restarting it.

Each change is a new clock state (`clocks`), stored with the deadlines it gives, an event with
the reason and the deadline before and after, and — where the profile makes it a notice — what
the complainant was told.
"""

from collections.abc import Callable
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from portal.core.audit import Actor
from portal.core.errors import ValidationFailed
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.tickets import clocks
from portal.tickets.access import get_ticket, is_senior, require_handler
from portal.tickets.channels import notices
from portal.tickets.deadlines import apply_clock, clock_settings, clock_state, is_regulated
from portal.tickets.events import add_event, plain
from portal.tickets.models import NoticeKind, Ticket
from portal.tickets.notice_rules import complainant, notices_for
from portal.tickets.validation import clean_reason, clean_text
from portal.tickets.versions import locked_for_change, ticket_changed_meanwhile

CLOCK_NOTICES = {
    "clock.extended": NoticeKind.EXTENSION,
    "clock.paused": NoticeKind.PAUSE,
    "clock.resumed": NoticeKind.RESUME,
}
ClockChange = Callable[[clocks.ClockState], clocks.ClockState]


@use_case(stale=ticket_changed_meanwhile)
def extend_clock(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    reason: str,
    notice: str,
    told_via: str | None = None,
) -> Ticket:
    """CN: to 30 days, then (lead/admin) to 60, telling the customer; US: mark in progress."""
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    senior = is_senior(actor)
    updated = _clock_change(
        actor,
        ticket_id,
        version,
        "clock.extended",
        reason,
        notice or None,
        lambda state: clocks.extend(state, approved_by_senior=senior),
        told_via,
    )
    if updated.profile == "US":
        updated.company_response = "In progress"
    return updated


@use_case(stale=ticket_changed_meanwhile)
def pause_clock(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    reason: str,
    notice: str,
    told_via: str | None = None,
) -> Ticket:
    """CN: outside appraisal, testing or assessment; the complainant is told."""
    now = utc_now()
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.paused",
        reason,
        notice or None,
        lambda state: clocks.pause(state, now),
        told_via,
    )


@use_case(stale=ticket_changed_meanwhile)
def resume_clock(actor: Actor, ticket_id: int, version: int | None, reason: str) -> Ticket:
    now = utc_now()
    zone = clock_settings().zone
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.resumed",
        reason,
        None,
        lambda state: clocks.resume(state, now, zone),
    )


@use_case(stale=ticket_changed_meanwhile)
def restart_clock(
    actor: Actor, ticket_id: int, version: int | None, reason: str, new_facts_on: date | None
) -> Ticket:
    """CN: new facts or material restart the period from the day they arrived."""
    zone = clock_settings().zone
    today = utc_now().astimezone(zone).date()
    day = new_facts_on or today
    ticket = get_ticket(actor, ticket_id)
    received = as_utc(ticket.received_at).astimezone(zone).date()
    if day > today or day < received:
        raise ValidationFailed(
            _l("New facts arrive between the day of receipt and today."), field="new_facts_on"
        )
    return _clock_change(
        actor,
        ticket_id,
        version,
        "clock.restarted",
        reason,
        None,
        lambda state: clocks.restart(state, day),
    )


def _clock_change(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    action: str,
    reason: str,
    notice: str | None,
    change: ClockChange,
    told_via: str | None = None,
) -> Ticket:
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    if not is_regulated(ticket):
        raise ValidationFailed(_l("Only complaints run on a regulatory clock."))
    if not ticket.is_open:
        raise ValidationFailed(_l("The clock of a closed ticket cannot change."))
    why = clean_reason(reason)
    told = clean_text(notice, "notice") if notice is not None else None
    before_due = plain(ticket.due_at)
    try:
        state = change(clock_state(ticket))
    except clocks.ClockError as error:
        raise ValidationFailed(clock_message(error), field="clock") from error
    apply_clock(ticket, state)
    now = utc_now()
    add_event(
        actor,
        ticket,
        action,
        reason=why,
        data={
            "due_before": before_due,
            "due_after": plain(ticket.due_at),
            "extensions": ticket.extensions,
            "paused_days": ticket.paused_days,
            "approver": actor.label
            if action == "clock.extended" and ticket.extensions == 2
            else None,
        },
        at=now,
    )
    _tell(actor, ticket, action, told, told_via, now)
    return ticket


def _tell(
    actor: Actor, ticket: Ticket, action: str, told: str | None, via: str | None, now: datetime
) -> None:
    """CN clock changes are notices to the complainant: by email, or recorded as given another
    way with what was said. Other regimes record what the customer was told as a response."""
    kind = CLOCK_NOTICES.get(action)
    if kind is None or kind not in notices_for(ticket):
        if told:
            add_event(actor, ticket, "response", body=told, data={"notice": action}, at=now)
        return
    has_email = bool(complainant(ticket).email)
    if via is None:  # by email when the complainant has an address
        via = "email" if has_email else "other"
    if via == "email":
        if told is not None or has_email:
            notices.send(actor, ticket, kind, message=told or "", now=now)
    elif told:
        notices.record(actor, ticket, kind, via, told, now)


def clock_message(error: clocks.ClockError) -> str:
    """Clock refusals in the viewer's language."""
    text = str(error)
    messages = {
        "cannot be extended further": _l("This ticket's clock cannot be extended further."),
        "needs a lead or admin": _l("The extension to 60 days needs a lead or admin as approver."),
        "cannot be paused": _l("This profile's clock cannot be paused."),
        "already paused": _l("The clock is already paused."),
        "is not paused": _l("The clock is not paused."),
        "before it began": _l("A pause cannot end before it began."),
        "cannot be restarted": _l("This profile's clock cannot be restarted."),
    }
    for needle, message in messages.items():
        if needle in text:
            return str(message)
    return text


def _need_notice(notice: str | None) -> str:
    return clean_text(notice, "notice", required=True)
