"""Editor login throttling, kept in the database so every web process counts the same failures.

Without it, 300 wrong passwords took 6.6 s and the right one then worked at once. Failures are
counted per client address and per account name (the bootstrap login counts as the account
"editor"); 5 failures of a key within 15 minutes lock it for a minute, and each further failure
while the count stands doubles the wait, up to 15 minutes. Fifteen quiet minutes forget the key.
A locked key is refused before any password is checked, so a guess made while locked learns
nothing, even when it is right. Keys are stored as SHA-256 hashes (no address in clear).

Each attempt is counted before its password is checked, in one transaction that updates the
row before reading it back, which takes the row's write lock first on PostgreSQL and the
database's on SQLite: of attempts racing on one key, each sees those before it, so guesses sent
all at once are checked no more often than guesses sent one by one. A right password then takes
its attempt's count back (`succeeded`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, case, delete, select, update

from digest.audience.suppression import insert_ignoring_conflict
from digest.storage.schema import login_throttle as t

FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
FIRST_WAIT = dt.timedelta(minutes=1)
MAX_WAIT = dt.timedelta(minutes=15)


def _hash(key: str) -> str:
    return hashlib.sha256(f"digest.login.{key}".encode()).hexdigest()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def wait_after(lockouts: int) -> dt.timedelta:
    """The lock that the `lockouts`-th lockout in a row imposes: 1, 2, 4, 8, then 15 minutes."""
    doublings = min(max(lockouts - 1, 0), 10)  # capped: an endless attack must not overflow
    return min(FIRST_WAIT * (1 << doublings), MAX_WAIT)


def retry_after(engine: Engine, keys: Sequence[str], now: dt.datetime) -> int:
    """Seconds until every one of `keys` may try again; 0 when none is locked."""
    with engine.connect() as conn:
        found = conn.execute(
            select(t.c.locked_until).where(t.c.key_hash.in_([_hash(k) for k in keys]))
        ).scalars()
        return _wait(found, now)


def _wait(locked_until: Iterable[dt.datetime | None], now: dt.datetime) -> int:
    waits = [(_aware(u) - now).total_seconds() for u in locked_until if u is not None]
    return max([math.ceil(w) for w in waits if w > 0], default=0)


@dataclass(frozen=True)
class Attempt:
    """One login attempt, counted as a failure before its password is checked.

    Checking first and counting after let every guess already in flight through: 200 sent at
    once had 38 checked instead of 5. Counted first, the attempt that reaches the limit locks
    the key for everyone else while it is checked, and `succeeded` takes its count back.
    """

    wait: int
    """Seconds to wait when refused (nothing was counted); 0 when the password may be checked."""
    keys: tuple[str, ...] = ()
    undo: tuple[tuple[str, int, dt.datetime | None], ...] = ()
    """(key hash, lockouts, locked_until) before this attempt, for the keys it locked."""


class _Refused(Exception):
    def __init__(self, wait: int) -> None:
        self.wait = wait


def attempt(engine: Engine, keys: Sequence[str], now: dt.datetime) -> Attempt:
    """Count one attempt against each key, or refuse it (counting nothing) when one is locked.

    One transaction: the update takes the row's write lock before the lock is read, so of
    attempts racing on one key each sees the ones before it.
    """
    try:
        with engine.begin() as conn:
            conn.execute(delete(t).where(t.c.last_failure_at < now - WINDOW))
            undo = [u for key in keys if (u := _count(conn, _hash(key), now)) is not None]
    except _Refused as refused:
        return Attempt(refused.wait)
    return Attempt(0, tuple(keys), tuple(undo))


def _count(
    conn: Connection, key_hash: str, now: dt.datetime
) -> tuple[str, int, dt.datetime | None] | None:
    """Count against one key; raise _Refused when it is locked; return what to restore on
    success when this count locked it."""
    fresh = {"failures": 0, "lockouts": 0, "last_failure_at": now}
    insert_ignoring_conflict(conn, t, {"key_hash": key_hash, **fresh})
    stale = t.c.last_failure_at < now - WINDOW  # a race with the prune above: start again
    mine = t.c.key_hash == key_hash
    conn.execute(
        update(t)
        .where(mine)
        .values(
            failures=case((stale, 1), else_=t.c.failures + 1),
            lockouts=case((stale, 0), else_=t.c.lockouts),
            locked_until=case((stale, None), else_=t.c.locked_until),
            last_failure_at=now,
        )
    )
    row = conn.execute(select(t.c.failures, t.c.lockouts, t.c.locked_until).where(mine)).one()
    wait = _wait([row.locked_until], now)
    if wait:
        raise _Refused(wait)  # rolls back every count of this attempt
    if row.failures < FAILURES:
        return None
    lockouts = row.lockouts + 1
    conn.execute(
        update(t).where(mine).values(lockouts=lockouts, locked_until=now + wait_after(lockouts))
    )
    return (key_hash, row.lockouts, row.locked_until)


def succeeded(engine: Engine, done: Attempt, account: str) -> None:
    """The attempt's password was right: its account's count is cleared, and every other key
    (the address) loses this attempt's count and any lock it set. One good password must not
    buy more guesses at other accounts from the same place, nor lock that place."""
    undo = {key_hash: (lockouts, until) for key_hash, lockouts, until in done.undo}
    with engine.begin() as conn:
        for key in done.keys:
            mine = t.c.key_hash == _hash(key)
            if key == account:
                conn.execute(delete(t).where(mine))
                continue
            values: dict[str, object] = {
                "failures": case((t.c.failures > 0, t.c.failures - 1), else_=0)
            }
            if _hash(key) in undo:
                values["lockouts"], values["locked_until"] = undo[_hash(key)]
            conn.execute(update(t).where(mine).values(**values))


def account_key(name: str) -> str:
    """The key an account name's failures count under (the bootstrap login's is "editor")."""
    return f"account:{name.strip().lower()}"


def unlock_account(engine: Engine, name: str) -> bool:
    """Forget an account name's failures and lock; whether there were any.

    The operator's way back in: anyone can lock a name by failing on purpose (the bootstrap
    login's "editor" above all), and a locked name refuses even the right password.
    """
    with engine.begin() as conn:
        gone = conn.execute(delete(t).where(t.c.key_hash == _hash(account_key(name))))
    return bool(gone.rowcount)
