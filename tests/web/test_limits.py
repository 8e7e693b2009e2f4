"""Sign-up limits in the database: shared by every process, exact under races, sliding."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select

from digest.storage.schema import request_hits
from digest.web.limits import RateLimit

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def limit(engine: Engine, at: list[dt.datetime], count: int = 3) -> RateLimit:
    return RateLimit(engine, "test", count, dt.timedelta(hours=1), lambda: at[0])


def test_requests_at_the_same_moment_are_allowed_exactly_up_to_the_limit(engine: Engine) -> None:
    """Eight web workers at once against a limit of three: three pass, whatever the race."""
    shared = limit(engine, [T0])
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(lambda _: shared.allow("ann@example.com"), range(8)))
    assert allowed.count(True) == 3


def test_the_window_slides(engine: Engine) -> None:
    at = [T0]
    shared = limit(engine, at)
    for minutes in (0, 20, 40):
        at[0] = T0 + dt.timedelta(minutes=minutes)
        shared.allow("ann@example.com")
    at[0] = T0 + dt.timedelta(minutes=61)  # the first request has left the hour
    assert [shared.allow("ann@example.com"), shared.allow("ann@example.com")] == [True, False]


def test_no_key_is_stored_in_clear(engine: Engine) -> None:
    limit(engine, [T0]).allow("ann@example.com")
    with engine.connect() as conn:
        stored = conn.execute(select(request_hits.c.key_hash)).scalars().all()
    assert len(stored) == 1 and "ann" not in stored[0]
