"""Editor login throttling, kept in the database so every web process counts the same failures.

Without it, 300 wrong passwords took 6.6 s and the right one then worked at once. Failures are
counted per client address and per account name (the bootstrap login counts as the account
"editor"); 5 failures of a key within 15 minutes lock it for a minute, and each further failure
while the count stands doubles the wait, up to 15 minutes. Fifteen quiet minutes forget the key.
A locked key is refused before any password is checked, so a guess made while locked learns
nothing, even when it is right. Keys are stored as SHA-256 hashes (no address in clear).

Each counting step is one transaction that updates the row before reading it back, which takes
the row's write lock first on PostgreSQL and the database's on SQLite: two processes failing at
the same moment both count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence

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
        waits = [(_aware(u) - now).total_seconds() for u in found if u is not None]
    return max([math.ceil(w) for w in waits if w > 0], default=0)


def record_failure(engine: Engine, keys: Sequence[str], now: dt.datetime) -> None:
    """Count one failed login against each key, locking those that reach the limit."""
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.last_failure_at < now - WINDOW))
        for key in keys:
            _count(conn, _hash(key), now)


def _count(conn: Connection, key_hash: str, now: dt.datetime) -> None:
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
            last_failure_at=now,
        )
    )
    row = conn.execute(select(t.c.failures, t.c.lockouts).where(mine)).one()
    if row.failures >= FAILURES:
        lockouts = row.lockouts + 1
        conn.execute(
            update(t).where(mine).values(lockouts=lockouts, locked_until=now + wait_after(lockouts))
        )


def forget(engine: Engine, key: str) -> None:
    """A successful login clears its account's count (the address's stays: one good password
    must not buy more guesses at other accounts from the same place)."""
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.key_hash == _hash(key)))
