"""Business calendars and legal periods, built on the `holidays` package (never hand-typed lists).

Complaint clocks (tickets) and service-level targets count days and business hours on the
calendar of the firm's jurisdiction: China's statutory holidays with their substituted
working weekends (调休), the UK's bank holidays, US federal holidays.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=32)
def _holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    # Years are added on demand as dates are looked up.
    return holidays.country_holidays(country, subdiv=subdiv)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days of one jurisdiction: weekdays that are not public holidays, plus the
    weekend days a government declares working days in exchange for a longer holiday."""

    country: str  # ISO 3166 code: CN, GB, US, …
    subdiv: str | None = None  # e.g. ENG for England and Wales

    def is_holiday(self, day: date) -> bool:
        return day in _holidays(self.country, self.subdiv)

    def is_business_day(self, day: date) -> bool:
        return _holidays(self.country, self.subdiv).is_working_day(day)

    def add_business_days(self, day: date, count: int) -> date:
        """The `count`-th business day after `day` (which itself does not count)."""
        if count < 0:
            raise ValueError("count must not be negative")
        current = day
        for _ in range(count):
            current += ONE_DAY
            while not self.is_business_day(current):
                current += ONE_DAY
        return current

    def add_business_hours(
        self,
        start: datetime,
        hours: float,
        zone: ZoneInfo,
        opens: time = time(9),
        closes: time = time(18),
    ) -> datetime:
        """The instant `hours` of opening time after `start`, counted only on business days
        between `opens` and `closes` in `zone`. Returned in UTC."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        local = start.astimezone(zone)
        day = local.date()
        cursor = local.time()
        while True:
            if self.is_business_day(day):
                day_open = datetime.combine(day, max(cursor, opens), zone)
                day_close = datetime.combine(day, closes, zone)
                available = day_close - day_open
                if available > timedelta(0):
                    if remaining <= available:
                        return (day_open + remaining).astimezone(ZoneInfo("UTC"))
                    remaining -= available
            day += ONE_DAY
            cursor = opens

    def business_hours_between(
        self,
        start: datetime,
        end: datetime,
        zone: ZoneInfo,
        opens: time = time(9),
        closes: time = time(18),
    ) -> float:
        """Opening hours between two instants (0 when `end` is not after `start`)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return 0.0
        total = timedelta(0)
        first, last = start.astimezone(zone), end.astimezone(zone)
        day = first.date()
        while day <= last.date():
            if self.is_business_day(day):
                day_open = datetime.combine(day, opens, zone)
                day_close = datetime.combine(day, closes, zone)
                span = min(day_close, last) - max(day_open, first)
                if span > timedelta(0):
                    total += span
            day += ONE_DAY
        return total.total_seconds() / 3600


def civil_code_period_end(
    received: date, days: int, calendar: BusinessCalendar, *, roll_weekends: bool = False
) -> date:
    """The last day of a period of `days` days under China's Civil Code (arts. 201, 203).

    The day of receipt does not count; counting starts the next day. A period whose last day
    falls in a statutory holiday break (the holidays, the substituted days off and the weekend
    days between them: the whole 放假 period) ends on the first working day after the break.
    Whether an ordinary weekend rolls the end too is a legal reading, hence `roll_weekends`.
    The last day ends at 24:00 (see `end_of_day`).
    """
    if days < 0:
        raise ValueError("days must not be negative")
    end = received + timedelta(days=days)
    if calendar.is_business_day(end):
        return end
    first = end
    while not calendar.is_business_day(first - ONE_DAY):
        first -= ONE_DAY
    after = end
    while not calendar.is_business_day(after):
        after += ONE_DAY
    break_days = (first + timedelta(days=n) for n in range((after - first).days))
    if roll_weekends or any(calendar.is_holiday(day) for day in break_days):
        return after
    return end


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """24:00 of `day` in `zone` (the first instant of the next day), in UTC."""
    return datetime.combine(day + ONE_DAY, time(0), zone).astimezone(ZoneInfo("UTC"))
