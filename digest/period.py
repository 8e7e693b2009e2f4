"""Periods: the span of publication dates one issue covers, and the key that names it.

One period has one key, so the same week asked for two ways (`2026-W47` or
`2026-11-16..2026-11-22`) finds the same frozen issue instead of building a second one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")
_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


class PeriodError(ValueError):
    """A period the user typed cannot be understood; the message says what is accepted."""


@dataclass(frozen=True, order=True)
class Period:
    """Publication dates from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    @property
    def iso_week(self) -> tuple[int, int] | None:
        """(year, week) when the period is exactly one ISO week, else None."""
        year, week, weekday = self.start.isocalendar()
        if weekday == 1 and self.end - self.start == dt.timedelta(days=6):
            return year, week
        return None

    @property
    def key(self) -> str:
        """`2026-W47` for an ISO week, else `2026-11-01..2026-11-30`: the issue's unique name."""
        week = self.iso_week
        if week is not None:
            return f"{week[0]}-W{week[1]:02d}"
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    def __str__(self) -> str:
        return self.key


def iso_week(year: int, week: int) -> Period:
    """The ISO week `week` of `year`; week 53 only exists in years that have it."""
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise PeriodError(
            f"{year}-W{week:02d} does not exist (ISO years have 52 or 53 weeks)"
        ) from exc
    return Period(monday, monday + dt.timedelta(days=6))


def week_of(day: dt.date) -> Period:
    """The ISO week a day falls in (late December can belong to next year's week 1)."""
    year, week, _ = day.isocalendar()
    return iso_week(year, week)


def parse_period(text: str) -> Period:
    """`2024-W14`, `2024W14` or `2024-04-01..2024-04-07` (inclusive)."""
    if match := _WEEK.match(text):
        return iso_week(int(match[1]), int(match[2]))
    if match := _RANGE.match(text):
        try:
            start, end = dt.date.fromisoformat(match[1]), dt.date.fromisoformat(match[2])
        except ValueError as exc:
            raise PeriodError(f"{text.strip()!r}: {exc}") from None
        if end < start:
            raise PeriodError(f"{text.strip()!r}: the range ends before it starts")
        return Period(start, end)
    raise PeriodError(
        f"{text.strip()!r} is not a period: use an ISO week (2024-W14) "
        "or a date range (2024-04-01..2024-04-07)"
    )


def last_complete_week(zone: ZoneInfo, now: dt.datetime | None = None) -> Period:
    """The latest ISO week that has fully ended in the publication's time zone."""
    current = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    return week_of(current - dt.timedelta(days=7))


def latest_week_with(
    latest: dt.date | None, zone: ZoneInfo, now: dt.datetime | None = None
) -> Period | None:
    """The ISO week of the newest signal, unless that week is still running: then the one before.

    The main job builds the store's newest week on its own, whatever today's date is (the bundled
    examples are dated ahead of most clocks), but never a week still being written.
    """
    if latest is None:
        return None
    week = week_of(latest)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    if today in week:
        return week_of(week.start - dt.timedelta(days=1))
    return week
