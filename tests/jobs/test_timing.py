"""Which period a fire covers, and when each local-time bucket goes out (pure functions)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from digest.jobs.timing import (
    bucket_anchor,
    bucket_time,
    bucket_times,
    latest_fire,
    period_close,
    period_for_fire,
)
from digest.jobs.trigger import weekly_trigger
from digest.period import iso_week

LONDON = ZoneInfo("Europe/London")
SEVEN = dt.time(7, 0)
# The period 2026-W47 (Mon 16 - Sun 22 November) closes at Mon 23 November 00:00 London (GMT).
W47_CLOSE = dt.datetime(2026, 11, 23, 0, 0, tzinfo=LONDON)


def test_monday_fire_covers_the_week_just_ended() -> None:
    fire = dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
    assert period_for_fire(fire, LONDON).key == "2026-W47"


def test_sunday_evening_fire_covers_the_previous_complete_week() -> None:
    fire = dt.datetime(2026, 11, 22, 23, 0, tzinfo=LONDON)
    assert period_for_fire(fire, LONDON).key == "2026-W46"


def test_period_is_taken_in_the_publication_zone_not_utc() -> None:
    # Mon 00:30 in Tokyo is still Sunday in UTC: Tokyo's last complete week is W47 already.
    fire = dt.datetime(2026, 11, 23, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert period_for_fire(fire, ZoneInfo("Asia/Tokyo")).key == "2026-W47"
    assert period_for_fire(fire, LONDON).key == "2026-W46"


def test_first_fire_of_2027_covers_week_53_of_2026() -> None:
    fire = dt.datetime(2027, 1, 4, 7, 0, tzinfo=LONDON)
    assert period_for_fire(fire, LONDON).key == "2026-W53"


def test_fire_after_week_53_covers_2027_week_1() -> None:
    fire = dt.datetime(2027, 1, 11, 7, 0, tzinfo=LONDON)
    assert period_for_fire(fire, LONDON).key == "2027-W01"


def test_week_1_can_start_in_the_previous_december() -> None:
    fire = dt.datetime(2025, 1, 6, 7, 0, tzinfo=LONDON)  # 2025-W01 is Mon 30 Dec 2024 - 5 Jan
    period = period_for_fire(fire, LONDON)
    assert (period.key, period.start) == ("2025-W01", dt.date(2024, 12, 30))


def test_a_year_of_52_weeks_goes_from_week_52_to_week_1() -> None:
    fires = [dt.datetime(2025, 12, 29, 7, tzinfo=LONDON), dt.datetime(2026, 1, 5, 7, tzinfo=LONDON)]
    assert [period_for_fire(f, LONDON).key for f in fires] == ["2025-W52", "2026-W01"]


def test_weekly_fires_cover_consecutive_weeks_without_gap_or_repeat() -> None:
    trigger = weekly_trigger("mon 07:00", LONDON)
    fire = dt.datetime(2026, 1, 1, tzinfo=LONDON)
    keys = []
    for _ in range(60):
        fire = trigger.get_next_fire_time(None, fire + dt.timedelta(seconds=1))
        keys.append(period_for_fire(fire, LONDON))
    assert all(b.start - a.end == dt.timedelta(days=1) for a, b in itertools.pairwise(keys))


def test_period_close_is_midnight_after_the_last_day() -> None:
    assert period_close(iso_week(2026, 47), LONDON) == W47_CLOSE


def test_latest_fire_is_the_coalesced_fire_of_a_late_run() -> None:
    trigger = weekly_trigger("mon 07:00", LONDON)
    late = dt.datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
    found = latest_fire(trigger, late, dt.timedelta(days=8))
    assert found == dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)


def test_latest_fire_at_the_exact_fire_time_is_that_fire() -> None:
    trigger = weekly_trigger("mon 07:00", LONDON)
    at = dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
    assert latest_fire(trigger, at, dt.timedelta(days=8)) == at


def test_london_bucket_is_the_trigger_itself() -> None:
    assert bucket_times(W47_CLOSE, SEVEN, ["Europe/London"]) == {
        "Europe/London": dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
    }


def test_tokyo_ahead_of_london_gets_it_the_next_local_day() -> None:
    [at] = bucket_times(W47_CLOSE, SEVEN, ["Asia/Tokyo"]).values()
    tokyo = at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo.date(), tokyo.time()) == (dt.date(2026, 11, 24), SEVEN)


def test_los_angeles_behind_london_gets_it_the_same_day() -> None:
    [at] = bucket_times(W47_CLOSE, SEVEN, ["America/Los_Angeles"]).values()
    la = at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (la.date(), la.time()) == (dt.date(2026, 11, 23), SEVEN)


def test_every_bucket_is_after_the_period_closed() -> None:
    zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "Europe/London"]
    assert all(at >= W47_CLOSE for at in bucket_times(W47_CLOSE, SEVEN, zones).values())


def test_a_bucket_is_never_more_than_a_day_after_the_close() -> None:
    zones = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "America/St_Johns"]
    assert all(
        at - W47_CLOSE < dt.timedelta(days=1)
        for at in bucket_times(W47_CLOSE, SEVEN, zones).values()
    )


def test_bucket_in_a_zone_springing_forward_that_night_keeps_its_wall_time() -> None:
    # America/New_York springs forward on Sun 8 March 2026 at 02:00; 2026-W10 closes Mon 9
    # March 00:00 London = Sun 8 March 20:00 EDT, so New York's bucket is Mon 9 March 07:00 EDT.
    close = period_close(iso_week(2026, 10), LONDON)
    [at] = bucket_times(close, SEVEN, ["America/New_York"]).values()
    ny = at.astimezone(ZoneInfo("America/New_York"))
    assert (ny.date(), ny.time(), ny.utcoffset()) == (
        dt.date(2026, 3, 9),
        SEVEN,
        dt.timedelta(hours=-4),
    )


def test_bucket_on_a_missing_wall_time_goes_out_at_the_first_real_instant() -> None:
    # 02:30 does not exist in New York on Sun 8 March 2026: sent at 03:30 EDT (07:30 UTC).
    after = dt.datetime(2026, 3, 8, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    at = bucket_time(after, dt.time(2, 30), ZoneInfo("America/New_York"))
    assert at.astimezone(dt.UTC) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)


def test_publication_zone_in_summer_time_still_buckets_tokyo_a_day_later() -> None:
    close = period_close(iso_week(2026, 27), LONDON)  # BST
    [at] = bucket_times(close, SEVEN, ["Asia/Tokyo"]).values()
    assert at.astimezone(ZoneInfo("Asia/Tokyo")).date() == close.date() + dt.timedelta(days=1)


def test_unknown_zone_names_are_left_to_the_caller() -> None:
    assert bucket_times(W47_CLOSE, SEVEN, ["Mars/Olympus", "Europe/London"]).keys() == {
        "Europe/London"
    }


def test_anchor_for_a_monday_trigger_is_the_close() -> None:
    fire = dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
    assert bucket_anchor(iso_week(2026, 47), fire, LONDON) == W47_CLOSE


def test_anchor_for_a_later_trigger_is_the_start_of_its_day() -> None:
    fire = dt.datetime(2026, 11, 24, 7, 0, tzinfo=LONDON)  # Tuesday
    assert bucket_anchor(iso_week(2026, 47), fire, LONDON) == dt.datetime(
        2026, 11, 24, tzinfo=LONDON
    )


ZONES = st.sampled_from(
    ["Europe/London", "Asia/Tokyo", "America/Los_Angeles", "Australia/Lord_Howe", "Asia/Kathmandu"]
)


@given(
    st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.times(),
    ZONES,
)
def test_bucket_is_the_first_matching_wall_time_at_or_after(
    naive: dt.datetime, wall: dt.time, name: str
) -> None:
    after = naive.replace(tzinfo=dt.UTC)
    zone = ZoneInfo(name)
    at = bucket_time(after, wall, zone)
    assert after <= at < after + dt.timedelta(days=1, hours=2)
