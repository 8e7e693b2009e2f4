"""The `schedule.weekly` setting: `mon 07:00` or a 5-field crontab with day names, as cron fields.

Day *names* only: APScheduler's `day_of_week` counts Monday as 0 where crontab counts Sunday as
0, so a number would silently move the send by a day. The setting is checked when the settings
are read (`digest.config`); the scheduler turns it into a trigger (`digest.jobs.trigger`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

CONFIG_KEY = "schedule.weekly"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_SIMPLE = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*$")
_DOW_TOKEN = re.compile(r"[A-Za-z]{3}|\*")


class TriggerError(ValueError):
    """The configured trigger cannot be used; the message names the config key."""


@dataclass(frozen=True)
class WeeklyTrigger:
    """The parsed setting: the cron fields, and the wall-clock time when it has a single one."""

    text: str
    fields: dict[str, str]

    @property
    def wall_time(self) -> dt.time | None:
        """The single local time of day it fires at, when there is one (local-time delivery)."""
        hour, minute = self.fields["hour"], self.fields["minute"]
        if hour.isdigit() and minute.isdigit():
            return dt.time(int(hour), int(minute))
        return None


def _fail(text: str, why: str) -> TriggerError:
    return TriggerError(
        f'{CONFIG_KEY} = {text!r}: {why}. Use a day name and a time such as "mon 07:00", '
        'or a 5-field crontab with day names such as "0 7 * * mon"'
    )


def _day(text: str, name: str) -> str:
    key = name.lower()
    key = _FULL_DAYS.get(key, key)
    if key not in DAYS:
        raise _fail(text, f"{name!r} is not a day name ({', '.join(DAYS)})")
    return key


def _simple(text: str, match: re.Match[str]) -> dict[str, str]:
    day = _day(text, match[1])
    hour, minute = int(match[2]), int(match[3])
    if hour > 23 or minute > 59:
        raise _fail(text, f"{match[2]}:{match[3]} is not a time of day")
    return {"day_of_week": day, "hour": str(hour), "minute": str(minute)}


def _crontab(text: str, parts: list[str]) -> dict[str, str]:
    minute, hour, day, month, dow = parts
    if any(ch.isdigit() for ch in dow):
        raise _fail(
            text,
            f"day of week {dow!r} uses numbers; APScheduler counts Monday as 0 and crontab "
            "counts Sunday as 0, so only day names are accepted",
        )
    for token in re.split(r"[,\-/]", dow):
        if not _DOW_TOKEN.fullmatch(token):
            raise _fail(text, f"day of week {dow!r} is not made of day names")
        if token != "*":
            _day(text, token)
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": dow.lower()}


def parse_weekly(text: str) -> WeeklyTrigger:
    """Parse the setting; raise TriggerError naming `schedule.weekly` on anything unusable."""
    if match := _SIMPLE.match(text):
        fields = _simple(text, match)
    else:
        parts = text.split()
        if len(parts) != 5:
            raise _fail(text, f"expected a day and a time or 5 crontab fields, got {len(parts)}")
        fields = _crontab(text, parts)
    # APScheduler is imported when a setting is checked, not whenever settings are loaded.
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger(timezone=ZoneInfo("UTC"), **fields)
    except ValueError as exc:
        raise _fail(text, str(exc)) from None
    return WeeklyTrigger(text.strip(), fields)


def validate_weekly(text: str) -> str:
    """For the config model: the setting as given, or a ValueError explaining it."""
    parse_weekly(text)
    return text
