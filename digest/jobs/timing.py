"""Pure time arithmetic of the schedule: which period a fire covers, and local-time buckets.

No clock is read here: every function takes the moment it reasons about, so DST changes and
year boundaries are tested with plain datetimes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger

from digest.period import Period, last_complete_week


def period_for_fire(fire_time: dt.datetime, zone: ZoneInfo) -> Period:
    """The period a fire covers: the last ISO week complete in the publication's zone then."""
    return last_complete_week(zone, fire_time)


def period_close(period: Period, zone: ZoneInfo) -> dt.datetime:
    """The moment the period ends in the publication's zone: midnight after its last day."""
    day = period.end + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=zone)


def latest_fire(
    trigger: BaseTrigger, now: dt.datetime, lookback: dt.timedelta
) -> dt.datetime | None:
    """The last time `trigger` fired at or before `now`, looking back at most `lookback`.

    A job does not learn its scheduled time from APScheduler, but with coalescing it always runs
    for the latest due fire, which is exactly this; a late run (downtime within the grace) then
    still covers the period of the fire it stands for.
    """
    start = now - lookback
    found: dt.datetime | None = None
    previous: dt.datetime | None = None
    cursor = start
    while True:
        nxt: dt.datetime | None = trigger.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > now:
            return found
        found, previous, cursor = nxt, nxt, nxt + dt.timedelta(microseconds=1)


def _real_instant(naive: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """`naive` as a wall-clock time in `zone`, moved past a DST gap to a time that exists.

    01:30 on a spring-forward night does not exist in Europe/London; it is read the way the
    clock on the wall would show it (02:30 BST), matching APScheduler's own handling.
    """
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(dt.UTC).astimezone(zone)


def bucket_time(after: dt.datetime, wall_time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The first `wall_time` in `zone` at or after the moment `after`."""
    local = after.astimezone(zone)
    day = local.date()
    while True:
        candidate = _real_instant(dt.datetime.combine(day, wall_time), zone)
        if candidate >= after:
            return candidate
        day += dt.timedelta(days=1)


def bucket_times(
    period_end_local: dt.datetime, trigger_time: dt.time, zones: Iterable[str]
) -> dict[str, dt.datetime]:
    """When each zone's bucket goes out: its first `trigger_time` after the period closed.

    `period_end_local` is the aware moment the period closed in the publication's zone (or, for
    a trigger later in the week, the start of the trigger's day: nobody gets an issue before it
    is due in the publication's own zone's calendar). A reader ahead of the publication (Tokyo
    for London) gets it the next local day rather than a week stale; one behind (Los Angeles)
    the same local day. Zones that are not IANA names are left out; the caller sends them with
    the publication's own bucket.
    """
    buckets: dict[str, dt.datetime] = {}
    for name in sorted(set(zones)):
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        buckets[name] = bucket_time(period_end_local, trigger_time, zone)
    return buckets


def bucket_anchor(period: Period, fire_time: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """What buckets count from: the period's close, or the fire's day when the trigger is later."""
    close = period_close(period, zone)
    fire_day = dt.datetime.combine(fire_time.astimezone(zone).date(), dt.time(0, 0), tzinfo=zone)
    return max(close, fire_day)


def fire_for_period(trigger: BaseTrigger, period: Period, zone: ZoneInfo) -> dt.datetime | None:
    """The fire that covers `period`: the trigger's first time at or after the period closes,
    when `period_for_fire` of it is `period`. What an editor is told "sends on"; None for a
    period no fire covers (a date range built by hand: the scheduler sends only ISO weeks)."""
    found: dt.datetime | None = trigger.get_next_fire_time(None, period_close(period, zone))
    if found is None or period_for_fire(found, zone) != period:
        return None
    return found
