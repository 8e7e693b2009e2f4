"""The login throttle as a library: attempts counted in the database before the password is
checked, locks that double, quiet forgets, and a right password taking its count back."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from digest.storage.schema import login_throttle
from digest.web.throttle import attempt, retry_after, succeeded, wait_after

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
KEYS = ["address:203.0.113.7", "account:alice"]


def fail(engine: Engine, times: int, at: dt.datetime = T0, keys: list[str] = KEYS) -> None:
    for _ in range(times):
        attempt(engine, keys, at)


def test_four_failures_lock_nothing(engine: Engine) -> None:
    fail(engine, 4)
    assert retry_after(engine, KEYS, T0) == 0


def test_the_fifth_failure_locks_for_a_minute(engine: Engine) -> None:
    fail(engine, 5)
    assert retry_after(engine, KEYS, T0) == 60


def test_the_lock_lifts_when_its_wait_is_over(engine: Engine) -> None:
    fail(engine, 5)
    assert retry_after(engine, KEYS, T0 + dt.timedelta(seconds=60)) == 0


def test_each_failure_after_a_lock_doubles_the_wait(engine: Engine) -> None:
    fail(engine, 5)
    later = T0 + dt.timedelta(seconds=61)
    fail(engine, 1, later)
    assert retry_after(engine, KEYS, later) == 120


@pytest.mark.parametrize(
    ("lockouts", "minutes"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 15), (6, 15), (500, 15)]
)
def test_the_wait_doubles_up_to_fifteen_minutes(lockouts: int, minutes: int) -> None:
    assert wait_after(lockouts) == dt.timedelta(minutes=minutes)


def test_one_locked_key_is_enough_to_refuse(engine: Engine) -> None:
    fail(engine, 5, keys=["account:alice"])
    assert retry_after(engine, ["address:198.51.100.9", "account:alice"], T0) == 60


def test_fifteen_quiet_minutes_forget_the_failures(engine: Engine) -> None:
    fail(engine, 4)
    later = T0 + dt.timedelta(minutes=15, seconds=1)
    fail(engine, 1, later)
    assert retry_after(engine, KEYS, later) == 0


def test_a_right_password_clears_its_account_only(engine: Engine) -> None:
    fail(engine, 3)
    succeeded(engine, attempt(engine, KEYS, T0), "account:alice")
    fail(engine, 2)
    assert retry_after(engine, ["account:alice"], T0) == 0
    assert retry_after(engine, ["address:203.0.113.7"], T0) == 60


def test_a_right_password_at_the_limit_locks_nothing(engine: Engine) -> None:
    fail(engine, 4)
    succeeded(engine, attempt(engine, KEYS, T0), "account:alice")
    assert retry_after(engine, KEYS, T0) == 0


def test_a_locked_key_refuses_without_counting(engine: Engine) -> None:
    fail(engine, 5)
    assert attempt(engine, KEYS, T0).wait == 60
    later = T0 + dt.timedelta(seconds=60)
    fail(engine, 1, later)
    assert retry_after(engine, KEYS, later) == 120


def test_no_key_is_stored_in_clear(engine: Engine) -> None:
    fail(engine, 1)
    with engine.connect() as conn:
        stored = conn.execute(select(login_throttle.c.key_hash)).scalars().all()
    assert len(stored) == 2 and not any("203.0.113.7" in k or "alice" in k for k in stored)


def test_old_rows_are_pruned(engine: Engine) -> None:
    fail(engine, 1, keys=[f"address:192.0.2.{n}" for n in range(20)])
    fail(engine, 1, T0 + dt.timedelta(hours=1))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(login_throttle)).scalar() == 2


def test_attempts_at_the_same_moment_let_five_through(engine: Engine) -> None:
    """Eight web workers trying at once: five are checked, three refused, whatever the race."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        tried = list(pool.map(lambda _: attempt(engine, ["account:alice"], T0), range(8)))
    assert sorted(a.wait for a in tried) == [0] * 5 + [60] * 3
