"""Sign-up limits counted in the database: requests per client, confirmation emails per mailbox.

Counted in each process's memory, they were as loose as the number of `digest serve` processes
(deploy/ runs any number) and started again at every restart. Here each allowed request is a
row, so every process counts the same hits over a sliding window. Keys are stored as SHA-256
hashes (no address in clear), and a request over the limit is not recorded, as before.

Counting and recording are one transaction that holds a lock on the key while it counts: a
transaction-scoped advisory lock on PostgreSQL, the database's write lock on SQLite (taken by
the prune that opens the transaction). So requests racing on one key cannot all see room for
one more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, func, insert, select

from digest.storage.schema import request_hits as t


class RateLimit:
    """At most `limit` requests per key within `window`, shared through the database."""

    def __init__(
        self,
        engine: Engine,
        scope: str,
        limit: int,
        window: dt.timedelta,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.engine = engine
        self.scope = scope
        self.limit = limit
        self.window = window
        self.now = now

    def allow(self, key: str) -> bool:
        """Record a request for `key` and say whether it is within the limit."""
        now = self.now()
        key_hash = hashlib.sha256(f"digest.limit.{self.scope}.{key}".encode()).hexdigest()
        mine = (t.c.scope == self.scope) & (t.c.key_hash == key_hash)
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.scope == self.scope, t.c.at <= now - self.window))
            _lock(conn, key_hash)
            count = conn.execute(select(func.count()).where(mine, t.c.at > now - self.window))
            if count.scalar_one() >= self.limit:
                return False
            conn.execute(insert(t).values(scope=self.scope, key_hash=key_hash, at=now))
        return True


def _lock(conn: Connection, key_hash: str) -> None:
    """Hold this key until the transaction ends (SQLite: its write lock is held already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(int(key_hash[:15], 16))))
