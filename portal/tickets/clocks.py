"""Regulatory complaint clocks: the CN, US and UK profiles and the deadlines they give (the
rules and their sources: docs/regulation.md).

Pure functions over a ticket's clock state, so that the tickets room, its jobs and its tests
compute deadlines the same way. A clock change (extension, pause, restart, "in progress") is a
new state; the use case that applies it (`clock_changes`) stores the state, the recomputed
deadlines and an event.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from portal.core.calendars import BusinessCalendar, civil_code_period_end, end_of_day


class ClockError(ValueError):
    """A clock change the ticket's profile does not allow."""


@dataclass(frozen=True)
class RegulatoryProfile:
    code: str
    calendar: BusinessCalendar
    # CN: decision within 15 days, extendable to 30 and (approved) 60; US: 15, then 60 when
    # marked in progress; UK: 8 weeks. Kept as data, so that a figure a regulator changes is
    # one edit here.
    response_days: int
    extended_days: tuple[int, ...] = ()
    summary_business_days: int | None = None  # UK: summary resolution window
    roll_weekends: bool = False  # CN: whether a weekend end rolls like a statutory holiday
    can_pause: bool = False  # CN: outside appraisal time is excluded
    can_restart: bool = False  # CN: new facts restart the clock


PROFILES = {
    "CN": RegulatoryProfile(
        "CN",
        BusinessCalendar("CN"),
        15,
        extended_days=(30, 60),
        can_pause=True,
        can_restart=True,
    ),
    "US": RegulatoryProfile("US", BusinessCalendar("US"), 15, extended_days=(60,)),
    "UK": RegulatoryProfile("UK", BusinessCalendar("GB", "ENG"), 56, summary_business_days=3),
}


@dataclass(frozen=True)
class ClockState:
    profile: str
    received_at: datetime
    counting_from: date | None = None  # a restart on new facts moves the start
    extensions: int = 0  # CN: 1 → 30 days, 2 → 60 days; US: 1 → "in progress", 60 days
    paused_since: datetime | None = None
    paused_days: int = 0  # whole days excluded so far (CN appraisal)


@dataclass(frozen=True)
class Deadlines:
    respond_by: datetime | None  # None while the clock is paused
    summary_by: datetime | None = None  # UK: end of the summary-resolution window


def profile_of(state: ClockState) -> RegulatoryProfile:
    try:
        return PROFILES[state.profile]
    except KeyError as error:
        raise ClockError(f"unknown regulatory profile {state.profile!r}") from error


def deadlines(
    state: ClockState, zone: ZoneInfo, profile: RegulatoryProfile | None = None
) -> Deadlines:
    """When the firm must answer, as instants in UTC (a day ends at 24:00 in `zone`).
    `profile` overrides the state's profile settings (e.g. a deployment rolling weekends)."""
    profile = profile or profile_of(state)
    start = state.counting_from or state.received_at.astimezone(zone).date()
    summary = None
    if profile.summary_business_days is not None:
        last = profile.calendar.add_business_days(start, profile.summary_business_days)
        summary = end_of_day(last, zone)
    if state.paused_since is not None:
        return Deadlines(None, summary)
    days = _period_days(profile, state.extensions) + state.paused_days
    if profile.code == "CN":
        last = civil_code_period_end(
            start, days, profile.calendar, roll_weekends=profile.roll_weekends
        )
    else:
        last = start + timedelta(days=days)
    return Deadlines(end_of_day(last, zone), summary)


def _period_days(profile: RegulatoryProfile, extensions: int) -> int:
    return profile.extended_days[extensions - 1] if extensions else profile.response_days


def extend(state: ClockState, *, approved_by_senior: bool) -> ClockState:
    """CN: 15 → 30 days, then 30 → 60 with a senior approver; US: mark "in progress" (60)."""
    profile = profile_of(state)
    if state.extensions >= len(profile.extended_days):
        raise ClockError(f"a {profile.code} ticket cannot be extended further")
    if profile.code == "CN" and state.extensions == 1 and not approved_by_senior:
        raise ClockError("the extension to 60 days needs a lead or admin as approver")
    return replace(state, extensions=state.extensions + 1)


def pause(state: ClockState, at: datetime) -> ClockState:
    """CN: outside appraisal, testing or assessment stops the clock."""
    if not profile_of(state).can_pause:
        raise ClockError(f"a {state.profile} ticket's clock cannot be paused")
    if state.paused_since is not None:
        raise ClockError("the clock is already paused")
    return replace(state, paused_since=at)


def resume(state: ClockState, at: datetime, zone: ZoneInfo) -> ClockState:
    """End a pause; the calendar days it spanned in `zone` are added to the period, as periods
    are counted in days (a pause from 10:00 to 11:00 the next day excludes one day)."""
    if state.paused_since is None:
        raise ClockError("the clock is not paused")
    if at < state.paused_since:
        raise ClockError("a pause cannot end before it began")
    days = (at.astimezone(zone).date() - state.paused_since.astimezone(zone).date()).days
    return replace(state, paused_since=None, paused_days=state.paused_days + days)


def restart(state: ClockState, new_facts_on: date) -> ClockState:
    """CN: new facts or material restart the period from the day they arrive. The period is
    recalculated whole: the base 15 days from that day, without the days of earlier pauses
    and without an extension granted on the old material (it is asked for again, with its
    reason and notice). A running pause is ended by the use case first (`clock_changes`)."""
    if not profile_of(state).can_restart:
        raise ClockError(f"a {state.profile} ticket's clock cannot be restarted")
    if state.paused_since is not None:
        raise ClockError("resume the paused clock before restarting it")
    return replace(state, counting_from=new_facts_on, extensions=0, paused_days=0)
