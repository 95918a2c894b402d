"""Business days, business hours and Civil Code periods on real holiday calendars."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from portal.core.calendars import (
    BusinessCalendar,
    civil_code_period_end,
    end_of_day,
)

CN = BusinessCalendar("CN")
UK = BusinessCalendar("GB", "ENG")
US = BusinessCalendar("US")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")


def test_chinese_working_weekends_and_substituted_days_off() -> None:
    assert CN.is_business_day(date(2026, 2, 14))  # a Saturday worked for the Spring Festival
    assert not CN.is_business_day(date(2026, 2, 17))  # Spring Festival
    assert not CN.is_business_day(date(2026, 2, 23))  # a Monday off in exchange
    assert CN.is_holiday(date(2026, 2, 23))
    assert not CN.is_holiday(date(2026, 2, 21))  # an ordinary Saturday inside the break


def test_a_period_ending_in_a_statutory_holiday_break_ends_after_it() -> None:
    assert civil_code_period_end(date(2026, 1, 10), 15, CN) == date(2026, 1, 25)
    # 15 days after 1 February is the Spring Festival's eve: the period runs past the whole
    # break (15-23 February: holidays, substituted days off and the weekends between them)
    assert civil_code_period_end(date(2026, 2, 1), 15, CN) == date(2026, 2, 24)
    # ending on Saturday 21 February, inside the break, rolls the same way
    assert civil_code_period_end(date(2026, 2, 6), 15, CN) == date(2026, 2, 24)
    # an ordinary weekend does not move the end by default
    assert civil_code_period_end(date(2026, 3, 7), 15, CN) == date(2026, 3, 22)  # a Sunday
    assert civil_code_period_end(date(2026, 3, 7), 15, CN, roll_weekends=True) == date(2026, 3, 23)


def test_the_last_day_ends_at_midnight_local_time() -> None:
    assert end_of_day(date(2026, 2, 21), SHANGHAI) == datetime(2026, 2, 21, 16, 0, tzinfo=UTC)


def test_uk_third_business_day_skips_the_easter_bank_holidays() -> None:
    # received Thursday 2 April 2026; Good Friday 3 and Easter Monday 6 April are bank holidays
    assert UK.add_business_days(date(2026, 4, 2), 3) == date(2026, 4, 9)
    assert UK.add_business_days(date(2026, 4, 2), 0) == date(2026, 4, 2)


def test_us_federal_holidays_are_not_business_days() -> None:
    assert not US.is_business_day(date(2026, 7, 3))  # Independence Day observed
    assert US.add_business_days(date(2026, 7, 2), 1) == date(2026, 7, 6)


def test_business_hours_stop_outside_opening_time_and_on_holidays() -> None:
    friday_5pm = datetime(2026, 3, 6, 17, 0, tzinfo=SHANGHAI)
    assert CN.add_business_hours(friday_5pm, 4, SHANGHAI) == datetime(
        2026, 3, 9, 12, 0, tzinfo=SHANGHAI
    ).astimezone(UTC)
    # before the Spring Festival the next working day is the worked Saturday
    assert CN.add_business_hours(
        datetime(2026, 2, 13, 17, 0, tzinfo=SHANGHAI), 4, SHANGHAI
    ) == datetime(2026, 2, 14, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    # an evening start counts from the next opening
    assert UK.add_business_hours(
        datetime(2026, 4, 2, 20, 0, tzinfo=LONDON), 2, LONDON, time(9), time(17)
    ) == datetime(2026, 4, 7, 11, 0, tzinfo=LONDON).astimezone(UTC)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CN.add_business_days(date(2026, 1, 1), -1)
    with pytest.raises(ValueError, match="aware"):
        CN.add_business_hours(datetime(2026, 1, 1), 1, SHANGHAI)  # noqa: DTZ001
    with pytest.raises(ValueError, match="negative"):
        civil_code_period_end(date(2026, 1, 1), -5, CN)
