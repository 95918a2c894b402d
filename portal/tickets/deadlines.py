"""A ticket's deadlines as stored on it: the deployment's clock settings, the regulatory clock
state read from a ticket, and the regulatory and internal (SLA) deadlines written back.

The clocks themselves are pure functions in `clocks`; this module is where a ticket meets them,
for the use cases that register tickets or change their clocks, and for the notices that quote
a deadline; and where every clock stops when handling ends (`stop_clocks`).
"""

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from portal.core.audit import Actor
from portal.core.i18n import format_deadline, format_instant
from portal.core.timeutil import as_utc, parse_instant
from portal.tickets import clocks
from portal.tickets.events import add_event, plain
from portal.tickets.models import Kind, Severity, Ticket

WARN_SHARE = 0.8  # the clock watch warns at 80 % of the time
# Internal resolution targets per severity, in business hours: the firm's own service level,
# which runs beside the regulatory clock and for every kind of ticket (docs/regulation.md).
SLA_HOURS = {
    Severity.CRITICAL: 8,
    Severity.HIGH: 24,
    Severity.MEDIUM: 40,
    Severity.LOW: 80,
}


@dataclass(frozen=True)
class ClockSettings:
    profile: str
    zone: ZoneInfo
    roll_weekends: bool = False


def clock_settings() -> ClockSettings:
    config = current_app.config
    return ClockSettings(
        config.get("COMPLAINT_PROFILE", "CN"),
        ZoneInfo(config["DEFAULT_TIMEZONE"]),
        bool(config.get("COMPLAINT_ROLL_WEEKENDS", False)),
    )


def profile_for(ticket: Ticket) -> clocks.RegulatoryProfile:
    profile = clocks.PROFILES[ticket.profile]
    if profile.code == "CN" and clock_settings().roll_weekends:
        profile = replace(profile, roll_weekends=True)
    return profile


def clock_state(ticket: Ticket) -> clocks.ClockState:
    return clocks.ClockState(
        profile=ticket.profile,
        received_at=as_utc(ticket.received_at),
        counting_from=ticket.counting_from,
        extensions=ticket.extensions,
        paused_since=as_utc(ticket.paused_since) if ticket.paused_since else None,
        paused_days=ticket.paused_days,
    )


def is_regulated(ticket: Ticket) -> bool:
    """Regulatory clocks run for complaints; other kinds have the internal SLA only."""
    return ticket.kind == Kind.COMPLAINT


def due_text(
    ticket: Ticket,
    at: datetime | str | None = None,
    language: str | None = None,
    zone: ZoneInfo | None = None,
) -> str:
    """When a ticket is due (`at`, else its `due_at`; an event's ISO text will do), as staff
    read it: a complaint's regulatory deadline as the last day of its period in the firm's
    zone ("6 Jan 2027, end of day"); the internal target that is the only deadline of other
    tickets, a real instant, as date and time in `zone` (else the viewer's)."""
    moment = parse_instant(at) if isinstance(at, str) else at or ticket.due_at
    if is_regulated(ticket):
        return format_deadline(moment, language)
    return format_instant(moment, language, zone)


def apply_clock(ticket: Ticket, state: clocks.ClockState) -> None:
    """Store a clock state and the deadlines it gives; a new deadline re-arms the watch."""
    zone = clock_settings().zone
    ticket.counting_from = state.counting_from
    ticket.extensions = state.extensions
    ticket.paused_since = state.paused_since
    ticket.paused_days = state.paused_days
    if is_regulated(ticket):
        # While paused, keep the deadline as it stood when the pause began.
        running = replace(state, paused_since=None)
        found = clocks.deadlines(running, zone, profile=profile_for(ticket))
        due = found.respond_by
        ticket.summary_due_at = found.summary_by
    else:
        due = ticket.sla_due_at
    assert due is not None
    if ticket.due_at is None or as_utc(ticket.due_at) != due:
        ticket.due_at = due
        ticket.warned_at = None
        ticket.escalated_at = None
    start = as_utc(ticket.received_at)
    ticket.warn_at = start + (due - start) * WARN_SHARE


def end_sla_pause(ticket: Ticket, now: datetime) -> None:
    """The internal target's wait on the customer ends: the business hours it spanned are
    added to the target."""
    if ticket.sla_paused_since is None:
        return
    calendar = clocks.PROFILES[ticket.profile].calendar
    paused = calendar.business_hours_between(
        as_utc(ticket.sla_paused_since), now, clock_settings().zone
    )
    ticket.sla_paused_hours = (ticket.sla_paused_hours or 0.0) + paused
    ticket.sla_paused_since = None
    apply_sla(ticket)
    if not is_regulated(ticket):
        apply_clock(ticket, clock_state(ticket))


def apply_sla(ticket: Ticket) -> None:
    settings = clock_settings()
    hours = SLA_HOURS[Severity(ticket.severity)] + (ticket.sla_paused_hours or 0.0)
    calendar = clocks.PROFILES[ticket.profile].calendar
    ticket.sla_due_at = calendar.add_business_hours(
        as_utc(ticket.received_at), hours, settings.zone
    )


def stop_clocks(actor: Actor, ticket: Ticket, now: datetime, reason: str | None = None) -> None:
    """Handling ended (resolved, closed, withdrawn, merged into another): every clock stops. A
    paused regulatory clock ends its pause, the days it spanned counted as on a resume, so
    that the stored deadline says whether the outcome came in time; a wait on the customer
    ends the internal target's pause. One event records what was running."""
    if ticket.paused_since is None and ticket.sla_paused_since is None:
        return
    data: dict[str, object] = {"due_before": plain(ticket.due_at)}
    if ticket.sla_paused_since is not None:
        data["sla_paused_since"] = plain(ticket.sla_paused_since)
        end_sla_pause(ticket, now)
        data["sla_due_at"] = plain(ticket.sla_due_at)
    if ticket.paused_since is not None:
        data["paused_since"] = plain(ticket.paused_since)
        state = clock_state(ticket)
        zone = clock_settings().zone
        apply_clock(ticket, clocks.resume(state, max(now, as_utc(ticket.paused_since)), zone))
        data["paused_days"] = ticket.paused_days
    data["due_after"] = plain(ticket.due_at)
    add_event(actor, ticket, "clock.stopped", reason=reason or None, data=data, at=now)
