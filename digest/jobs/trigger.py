"""The weekly trigger: the `schedule.weekly` setting (`digest.cron`) as an APScheduler trigger.

The trigger is wall-clock time in the publication's zone (DST included: see the tests), which is
what readers expect of "Monday 7am".
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from digest.cron import TriggerError, WeeklyTrigger, parse_weekly

__all__ = ["TriggerError", "WallClockCronTrigger", "fire_times", "parse_weekly", "weekly_trigger"]


class WallClockCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that fires once per wall-clock time, even on the night clocks go back.

    APScheduler fires a 01:30 job twice when 01:30 happens twice (BST, then GMT): two sends of
    one issue. The second occurrence of a repeated wall-clock time is skipped, statelessly, so a
    restart between the two occurrences cannot bring it back either.
    """

    def get_next_fire_time(
        self, previous_fire_time: dt.datetime | None, now: dt.datetime
    ) -> dt.datetime | None:
        candidate: dt.datetime | None = super().get_next_fire_time(previous_fire_time, now)
        probe = candidate
        for _ in range(_PROBES):
            if candidate is None or not _repeated_wall_time(candidate):
                return candidate
            # Asking again from just after a repeated time lands on it again (APScheduler
            # normalizes wall times to their first occurrence), so step past it a minute at a time.
            assert probe is not None
            probe = max(probe, candidate) + dt.timedelta(minutes=1)
            candidate = super().get_next_fire_time(None, probe)
        return candidate


_PROBES = 24 * 60
"""A repeated wall-clock span is at most a few hours: a day of minutes is plenty."""


def _repeated_wall_time(moment: dt.datetime) -> bool:
    """True when `moment` is the later of two instants showing the same local wall-clock time."""
    zone = moment.tzinfo
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    return first < moment.astimezone(dt.UTC)


def cron_trigger(weekly: WeeklyTrigger, zone: ZoneInfo) -> CronTrigger:
    """The APScheduler trigger of a parsed setting, in `zone`."""
    return WallClockCronTrigger(timezone=zone, **weekly.fields)


def weekly_trigger(text: str, zone: ZoneInfo) -> CronTrigger:
    """The CronTrigger for the setting in the publication's zone."""
    return cron_trigger(parse_weekly(text), zone)


def fire_times(trigger: CronTrigger, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` fires after `start`, computed with a fake `now` (no clock is read)."""
    times: list[dt.datetime] = []
    previous: dt.datetime | None = None
    now = start
    for _ in range(count):
        nxt: dt.datetime | None = trigger.get_next_fire_time(previous, now)
        if nxt is None:
            break
        times.append(nxt)
        previous, now = nxt, nxt + dt.timedelta(microseconds=1)
    return times
