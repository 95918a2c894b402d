"""Changing a complaint's regulatory clock: extending, pausing, resuming and restarting it.

Each change is a new clock state (`clocks`), stored with the deadlines it gives, an event with
the reason and the deadline before and after, and — where the profile makes it a notice — what
the complainant was told. What the rules do not provide for is refused with the reason
(docs/regulation.md, "What the clock refuses"): a CN extension or pause once the deadline has
passed, a restart dated before the last one. A US "in progress" after the 15-day deadline is
accepted as untimely, its breach kept.
"""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from portal.core.audit import Actor
from portal.core.errors import ValidationFailed
from portal.core.i18n import format_day, last_day
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.tickets import clocks, watch
from portal.tickets.access import get_ticket, is_senior, require_handler
from portal.tickets.channels import notices
from portal.tickets.deadlines import (
    apply_clock,
    clock_settings,
    clock_state,
    is_regulated,
    profile_for,
)
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
    """CN: to 30 days, then (lead/admin) to 60, telling the customer, within the period; US:
    mark in progress — after the 15-day deadline that answer is untimely and the breach stays
    on record, its escalation never skipped."""
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    senior = is_senior(actor)
    ticket = _clock_ticket(actor, ticket_id, version)
    now = utc_now()
    last_day = _deadline_passed(ticket, now) if ticket.profile == "CN" else None
    if last_day:
        raise ValidationFailed(
            _l(
                "The deadline ended with %(day)s: an extension must be decided and told to "
                "the complainant within the period, so it can no longer be granted.",
                day=last_day,
            ),
            field="clock",
        )
    due_before = as_utc(ticket.due_at)
    late = ticket.profile == "US" and now >= due_before
    if late and ticket.escalated_at is None:
        watch.mark(ticket, watch.BREACHED, due_before, now)  # the watch had not got to it
    warned_at = ticket.warned_at or now
    _change(
        actor,
        ticket,
        "clock.extended",
        reason,
        notice or None,
        lambda state: clocks.extend(state, approved_by_senior=senior),
        now,
        told_via,
        extra={"timely": not late} if ticket.profile == "US" else None,
    )
    if ticket.profile == "US":
        ticket.company_response = "In progress"
        if ticket.timely is None:
            ticket.timely = not late
        if late:
            # No 80 % warning for the 60-day period (the ticket is late and escalated
            # already); its escalation stays armed, so the final response is watched.
            ticket.warned_at = warned_at
    return ticket


@use_case(stale=ticket_changed_meanwhile)
def pause_clock(
    actor: Actor,
    ticket_id: int,
    version: int | None,
    reason: str,
    notice: str,
    told_via: str | None = None,
) -> Ticket:
    """CN: outside appraisal, testing or assessment, before the deadline; the complainant is
    told."""
    now = utc_now()
    ticket = get_ticket(actor, ticket_id)
    if ticket.profile == "CN":
        notice = _need_notice(notice)
    ticket = _clock_ticket(actor, ticket_id, version)
    running = ticket.profile == "CN" and ticket.paused_since is None
    last_day = _deadline_passed(ticket, now) if running else None
    if last_day:
        raise ValidationFailed(
            _l(
                "The deadline ended with %(day)s: a pause for outside appraisal cannot bring "
                "a breached clock back to life.",
                day=last_day,
            ),
            field="clock",
        )
    _change(
        actor,
        ticket,
        "clock.paused",
        reason,
        notice or None,
        lambda state: clocks.pause(state, now),
        now,
        told_via,
    )
    return ticket


@use_case(stale=ticket_changed_meanwhile)
def resume_clock(actor: Actor, ticket_id: int, version: int | None, reason: str) -> Ticket:
    now = utc_now()
    ticket = _clock_ticket(actor, ticket_id, version)
    _resume(actor, ticket, reason, now)
    return ticket


@use_case(stale=ticket_changed_meanwhile)
def restart_clock(
    actor: Actor, ticket_id: int, version: int | None, reason: str, new_facts_on: date | None
) -> Ticket:
    """CN: new facts or material restart the period from the day they arrived: the base 15
    days, an extension asked for again if needed (`clocks.restart`). A running appraisal pause
    ends first, as a resume of its own, told to the complainant as a resume is."""
    zone = clock_settings().zone
    now = utc_now()
    today = now.astimezone(zone).date()
    day = new_facts_on or today
    ticket = get_ticket(actor, ticket_id)
    received = as_utc(ticket.received_at).astimezone(zone).date()
    if day > today or day < received:
        raise ValidationFailed(
            _l("New facts arrive between the day of receipt and today."), field="new_facts_on"
        )
    if ticket.counting_from is not None and day < ticket.counting_from:
        raise ValidationFailed(
            _l(
                "The clock already counts from %(day)s, when earlier new facts arrived: a "
                "restart cannot go back before that day.",
                day=format_day(ticket.counting_from),
            ),
            field="new_facts_on",
        )
    ticket = _clock_ticket(actor, ticket_id, version)
    extensions = ticket.extensions
    if ticket.paused_since is not None:
        _resume(actor, ticket, reason, now, ended_by="clock.restarted")
    _change(
        actor,
        ticket,
        "clock.restarted",
        reason,
        None,
        lambda state: clocks.restart(state, day),
        now,
        extra={"counting_from": day.isoformat(), "extensions_before": extensions},
    )
    return ticket


def _resume(
    actor: Actor, ticket: Ticket, reason: str, now: datetime, ended_by: str | None = None
) -> None:
    zone = clock_settings().zone
    _change(
        actor,
        ticket,
        "clock.resumed",
        reason,
        None,
        lambda state: clocks.resume(state, now, zone),
        now,
        extra={"ended_by": ended_by} if ended_by else None,
    )


def _clock_ticket(actor: Actor, ticket_id: int, version: int | None) -> Ticket:
    """The complaint whose clock changes, locked under the version its form was read at."""
    require_handler(actor)
    ticket = locked_for_change(actor, ticket_id, version)
    if not is_regulated(ticket):
        raise ValidationFailed(_l("Only complaints run on a regulatory clock."))
    if not ticket.is_open:
        raise ValidationFailed(_l("The clock of a closed ticket cannot change."))
    return ticket


def _deadline_passed(ticket: Ticket, now: datetime) -> str | None:
    """The last day of the ticket's period when it has run out by `now` (a paused clock: as
    the deadline would stand if the pause ended now), else None."""
    zone = clock_settings().zone
    due = as_utc(ticket.due_at)
    if ticket.paused_since is not None:
        state = clocks.resume(clock_state(ticket), max(now, as_utc(ticket.paused_since)), zone)
        due = clocks.deadlines(state, zone, profile=profile_for(ticket)).respond_by or due
    if now < due:
        return None
    return format_day(last_day(due, zone))


def _change(
    actor: Actor,
    ticket: Ticket,
    action: str,
    reason: str,
    notice: str | None,
    change: ClockChange,
    now: datetime,
    told_via: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Apply one clock change to a locked ticket: the new state and its deadlines, the event
    with the reason and the deadline before and after, and what the complainant was told."""
    why = clean_reason(reason)
    told = clean_text(notice, "notice") if notice is not None else None
    before_due = plain(ticket.due_at)
    try:
        state = change(clock_state(ticket))
    except clocks.ClockError as error:
        raise ValidationFailed(clock_message(error), field="clock") from error
    apply_clock(ticket, state)
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
            **(extra or {}),
        },
        at=now,
    )
    _tell(actor, ticket, action, told, told_via, now)


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
        "before restarting": _l("Resume the paused clock before restarting it."),
    }
    for needle, message in messages.items():
        if needle in text:
            return str(message)
    return text


def _need_notice(notice: str | None) -> str:
    return clean_text(notice, "notice", required=True)
