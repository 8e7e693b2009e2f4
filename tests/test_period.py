from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from digest.period import (
    Period,
    PeriodError,
    last_complete_week,
    latest_week_with,
    parse_period,
    week_of,
)

LONDON = ZoneInfo("Europe/London")


def test_an_iso_week_runs_monday_to_sunday() -> None:
    period = parse_period("2024-W14")
    assert (period.start, period.end) == (dt.date(2024, 4, 1), dt.date(2024, 4, 7))
    assert period.key == "2024-W14"


def test_week_spelling_variants_give_one_key() -> None:
    assert parse_period("2024w14").key == parse_period(" 2024-W14 ").key == "2024-W14"


def test_a_range_that_is_exactly_a_week_is_that_week() -> None:
    assert parse_period("2024-04-01..2024-04-07").key == "2024-W14"


def test_any_other_range_keeps_its_dates_as_key() -> None:
    period = parse_period("2024-04-01..2024-04-30")
    assert period.key == "2024-04-01..2024-04-30"
    assert period.iso_week is None


def test_seven_days_not_starting_monday_are_not_a_week() -> None:
    assert parse_period("2024-04-02..2024-04-08").key == "2024-04-02..2024-04-08"


def test_week_53_exists_only_in_long_years() -> None:
    assert parse_period("2026-W53").start == dt.date(2026, 12, 28)
    with pytest.raises(PeriodError, match="2025-W53 does not exist"):
        parse_period("2025-W53")


def test_week_one_can_start_in_the_previous_year() -> None:
    assert parse_period("2025-W01").start == dt.date(2024, 12, 30)


def test_new_years_day_can_belong_to_last_years_week_53() -> None:
    assert week_of(dt.date(2027, 1, 1)).key == "2026-W53"


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(PeriodError, match="ends before it starts"):
        parse_period("2024-04-07..2024-04-01")


def test_nonsense_says_what_is_accepted() -> None:
    with pytest.raises(PeriodError, match="ISO week"):
        parse_period("last week")


def test_an_impossible_date_in_a_range_is_refused() -> None:
    with pytest.raises(PeriodError):
        parse_period("2024-02-30..2024-03-05")


def test_period_contains_its_end_day() -> None:
    period = Period(dt.date(2024, 4, 1), dt.date(2024, 4, 7))
    assert dt.date(2024, 4, 7) in period and dt.date(2024, 4, 8) not in period


def test_last_complete_week_is_the_one_before_today_in_the_publications_zone() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)  # Thursday of W48
    assert last_complete_week(LONDON, now).key == "2026-W47"


def test_sunday_night_utc_is_already_monday_further_east() -> None:
    now = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)  # Sunday in London
    assert last_complete_week(LONDON, now).key == "2026-W46"
    assert last_complete_week(ZoneInfo("Asia/Shanghai"), now).key == "2026-W47"


def test_the_newest_signals_week_is_built_when_it_has_ended() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert latest_week_with(dt.date(2026, 11, 19), LONDON, now) == parse_period("2026-W47")


def test_a_week_still_running_is_not_built() -> None:
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
    assert latest_week_with(dt.date(2026, 11, 24), LONDON, now) == parse_period("2026-W47")


def test_signals_dated_ahead_of_the_clock_still_name_their_week() -> None:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert latest_week_with(dt.date(2026, 11, 19), LONDON, now) == parse_period("2026-W47")


def test_no_dated_signals_no_week() -> None:
    assert latest_week_with(None, LONDON) is None
