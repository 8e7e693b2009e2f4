"""The weekly trigger: day names only, crontab or `mon 07:00`, wall-clock in its zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from digest.config import ConfigError, load_settings
from digest.jobs.trigger import TriggerError, fire_times, parse_weekly, weekly_trigger

LONDON = ZoneInfo("Europe/London")


def test_day_and_time_fires_on_that_weekday() -> None:
    trigger = weekly_trigger("mon 07:00", LONDON)
    [fire] = fire_times(trigger, dt.datetime(2026, 11, 18, tzinfo=LONDON), 1)
    assert fire == dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
    assert fire.weekday() == 0


def test_full_day_names_and_case_are_accepted() -> None:
    assert parse_weekly("Monday 7:05").fields == {"day_of_week": "mon", "hour": "7", "minute": "5"}


def test_crontab_with_day_names() -> None:
    trigger = weekly_trigger("30 6 * * fri", LONDON)
    [fire] = fire_times(trigger, dt.datetime(2026, 11, 18, tzinfo=LONDON), 1)
    assert fire == dt.datetime(2026, 11, 20, 6, 30, tzinfo=LONDON)


def test_numeric_day_of_week_is_refused() -> None:
    with pytest.raises(TriggerError, match="Monday as 0"):
        parse_weekly("0 7 * * 1")


def test_unknown_day_name_is_refused_naming_the_key() -> None:
    with pytest.raises(TriggerError, match=r"schedule\.weekly"):
        parse_weekly("mox 07:00")


def test_impossible_time_is_refused() -> None:
    with pytest.raises(TriggerError, match="not a time of day"):
        parse_weekly("mon 25:00")


def test_wrong_field_count_is_refused() -> None:
    with pytest.raises(TriggerError, match="5 crontab fields"):
        parse_weekly("0 7 * mon")


def test_bad_crontab_field_is_refused() -> None:
    with pytest.raises(TriggerError, match=r"schedule\.weekly"):
        parse_weekly("0 77 * * mon")


def test_wall_time_is_known_for_a_single_time() -> None:
    assert parse_weekly("tue 18:45").wall_time == dt.time(18, 45)


def test_wall_time_is_unknown_for_a_range() -> None:
    assert parse_weekly("0 7-9 * * mon").wall_time is None


def test_config_rejects_a_bad_trigger_naming_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "digest.toml"
    config.write_text('[schedule]\nweekly = "0 7 * * 1"\n')
    with pytest.raises(ConfigError, match=r"schedule\.weekly"):
        load_settings(config, environ={})


def test_config_defaults_to_monday_seven_with_twelve_hours_grace() -> None:
    schedule = load_settings(None, environ={}).schedule
    assert (schedule.weekly, schedule.misfire_grace_hours) == ("mon 07:00", 12.0)


def _utc_fires(start: dt.datetime, n: int) -> list[dt.datetime]:
    trigger = weekly_trigger("sun 01:30", LONDON)
    return fire_times(trigger, start, n)


def test_spring_forward_fires_once_on_the_missing_hour_sunday() -> None:
    # 2026-03-29: clocks go 01:00 GMT -> 02:00 BST, so 01:30 does not exist that night.
    fires = _utc_fires(dt.datetime(2026, 3, 21, tzinfo=LONDON), 3)
    assert [f.date() for f in fires] == [
        dt.date(2026, 3, 22),
        dt.date(2026, 3, 29),
        dt.date(2026, 4, 5),
    ]


def test_spring_forward_fire_happens_at_the_first_real_instant_after_the_gap() -> None:
    fires = _utc_fires(dt.datetime(2026, 3, 28, tzinfo=LONDON), 1)
    # 01:30 read as GMT is 02:30 BST: the clock on the wall shows 02:30 when it fires.
    assert fires[0].astimezone(dt.UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)


def test_fall_back_fires_exactly_once_on_the_doubled_hour_sunday() -> None:
    # 2026-10-25: clocks go 02:00 BST -> 01:00 GMT, so 01:30 happens twice that night.
    fires = _utc_fires(dt.datetime(2026, 10, 17, tzinfo=LONDON), 3)
    assert [f.date() for f in fires] == [
        dt.date(2026, 10, 18),
        dt.date(2026, 10, 25),
        dt.date(2026, 11, 1),
    ]


def test_weekly_fires_are_a_week_apart_in_wall_clock_across_both_changes() -> None:
    fires = fire_times(
        weekly_trigger("mon 07:00", LONDON), dt.datetime(2026, 3, 1, tzinfo=LONDON), 40
    )
    assert {(f.astimezone(LONDON).weekday(), f.astimezone(LONDON).time()) for f in fires} == {
        (0, dt.time(7, 0))
    }


def test_fall_back_fire_is_the_first_of_the_two_0130s() -> None:
    [fire] = _utc_fires(dt.datetime(2026, 10, 24, tzinfo=LONDON), 1)
    assert fire.astimezone(dt.UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


def test_restart_between_the_two_0130s_does_not_fire_the_second() -> None:
    trigger = weekly_trigger("sun 01:30", LONDON)
    between = dt.datetime(2026, 10, 25, 1, 15, tzinfo=dt.UTC)  # 01:15 GMT, the second pass
    assert trigger.get_next_fire_time(None, between) == dt.datetime(
        2026, 11, 1, 1, 30, tzinfo=LONDON
    )
