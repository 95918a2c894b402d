"""Regulatory clocks: CN 15/30/60 days with pauses and restarts, US 15/60, UK 3 days / 8 weeks."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from portal.tickets.clocks import ClockError, ClockState, deadlines, extend, pause, restart, resume

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def test_cn_decision_due_15_days_after_receipt_at_midnight() -> None:
    state = ClockState("CN", at(SHANGHAI, 2026, 1, 10, 16, 30))
    assert deadlines(state, SHANGHAI).respond_by == at(SHANGHAI, 2026, 1, 26, 0, 0).astimezone(UTC)


def test_cn_period_ending_in_the_spring_festival_runs_past_it() -> None:
    state = ClockState("CN", at(SHANGHAI, 2026, 2, 1, 9, 0))
    assert deadlines(state, SHANGHAI).respond_by == at(SHANGHAI, 2026, 2, 25, 0, 0).astimezone(UTC)


def test_cn_extensions_to_30_then_60_days_need_a_senior_for_the_second() -> None:
    state = ClockState("CN", at(SHANGHAI, 2026, 3, 2, 10, 0))
    once = extend(state, approved_by_senior=False)
    assert deadlines(once, SHANGHAI).respond_by == at(SHANGHAI, 2026, 4, 2, 0, 0).astimezone(UTC)
    with pytest.raises(ClockError, match="needs a lead or admin"):
        extend(once, approved_by_senior=False)
    twice = extend(once, approved_by_senior=True)
    # 60 days after 2 March is 1 May: the period runs past the Labour Day break (1-5 May)
    assert deadlines(twice, SHANGHAI).respond_by == at(SHANGHAI, 2026, 5, 7, 0, 0).astimezone(UTC)
    with pytest.raises(ClockError, match="cannot be extended further"):
        extend(twice, approved_by_senior=True)


def test_cn_appraisal_pause_is_excluded_and_new_facts_restart() -> None:
    state = ClockState("CN", at(SHANGHAI, 2026, 1, 10, 9, 0))
    paused = pause(state, at(SHANGHAI, 2026, 1, 12, 9, 0))
    assert deadlines(paused, SHANGHAI).respond_by is None
    with pytest.raises(ClockError, match="already paused"):
        pause(paused, at(SHANGHAI, 2026, 1, 13, 9, 0))
    resumed = resume(paused, at(SHANGHAI, 2026, 1, 15, 8, 0), SHANGHAI)  # 12 → 15 January
    assert resumed.paused_days == 3
    overnight = resume(
        pause(state, at(SHANGHAI, 2026, 1, 12, 10, 0)), at(SHANGHAI, 2026, 1, 13, 11, 0), SHANGHAI
    )
    assert overnight.paused_days == 1
    assert deadlines(resumed, SHANGHAI).respond_by == at(SHANGHAI, 2026, 1, 29, 0, 0).astimezone(
        UTC
    )
    restarted = restart(resumed, date(2026, 1, 20))
    assert deadlines(restarted, SHANGHAI).respond_by == at(SHANGHAI, 2026, 2, 5, 0, 0).astimezone(
        UTC
    )


def test_us_15_days_then_60_once_in_progress_and_no_pause() -> None:
    state = ClockState("US", at(NEW_YORK, 2026, 6, 20, 23, 30))
    assert deadlines(state, NEW_YORK).respond_by == at(NEW_YORK, 2026, 7, 6, 0, 0).astimezone(UTC)
    in_progress = extend(state, approved_by_senior=False)
    assert deadlines(in_progress, NEW_YORK).respond_by == at(
        NEW_YORK, 2026, 8, 20, 0, 0
    ).astimezone(UTC)
    with pytest.raises(ClockError, match="cannot be paused"):
        pause(state, at(NEW_YORK, 2026, 6, 21, 9, 0))
    with pytest.raises(ClockError, match="cannot be restarted"):
        restart(state, date(2026, 6, 25))


def test_uk_summary_window_and_eight_weeks() -> None:
    state = ClockState("UK", at(LONDON, 2026, 4, 2, 15, 0))
    result = deadlines(state, LONDON)
    assert result.summary_by == at(LONDON, 2026, 4, 10, 0, 0).astimezone(UTC)  # end of 9 April
    assert result.respond_by == at(LONDON, 2026, 5, 29, 0, 0).astimezone(UTC)  # 8 weeks
    with pytest.raises(ClockError, match="cannot be extended"):
        extend(state, approved_by_senior=True)


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ClockError, match="unknown regulatory profile"):
        deadlines(ClockState("FR", at(LONDON, 2026, 1, 1, 9, 0)), LONDON)
