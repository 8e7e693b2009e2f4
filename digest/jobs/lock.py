"""One active scheduler per database, behind a lock that dies with its holder.

APScheduler 3 cannot share a job store between processes (duplicate or missed runs), so a second
`digest schedule run` must not schedule anything: it waits as a standby and takes over when the
active one's lock goes away. Both locks are released by the operating system or the database
server when the holder dies, even by SIGKILL, so a crash never leaves a stale lock behind:

- PostgreSQL: a session-level `pg_try_advisory_lock` on a dedicated connection held for the
  scheduler's life; the server drops it when that session ends.
- SQLite: `fcntl.flock` on a lock file beside the database; the kernel drops it when the file
  descriptor's last holder exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from digest.issues.files import PRIVATE_FILE
from digest.storage.db import create

log = logging.getLogger(__name__)

LOCK_CLASS = 0x6469  # "di": first key of the two-key advisory lock, so other apps rarely collide
_KEY_SQL = "hashtext('digest-scheduler:' || current_database() || ':' || current_schema())"


class LockUnavailable(RuntimeError):
    """This database cannot host a scheduler lock (an in-memory SQLite database)."""


def holder_id() -> str:
    """Who holds the lock, for logs and the lock file: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SchedulerLock(Protocol):
    """Held by the one active scheduler of a database."""

    def try_acquire(self) -> bool:
        """Take the lock without waiting; True when this process holds it now."""
        ...

    def still_held(self) -> bool:
        """False once the lock may have passed to someone else (e.g. the connection dropped)."""
        ...

    def release(self) -> None:
        """Give the lock up (also happens on its own when the process dies)."""
        ...

    def describe(self) -> str:
        """Where the lock lives, for messages (never a password)."""
        ...


class PostgresLock:
    """A session advisory lock keyed by database and schema, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._engine = create(url)
        self._conn: Connection | None = None
        self._url = url

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                text(f"select pg_try_advisory_lock({LOCK_CLASS}, {_KEY_SQL})")
            ).scalar()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("select 1"))
        except Exception:  # the session is gone, and the lock with it
            log.exception("scheduler lock connection lost")
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text(f"select pg_advisory_unlock({LOCK_CLASS}, {_KEY_SQL})"))
        except Exception:  # closing the session releases it anyway
            log.debug("advisory unlock failed; closing the session releases it", exc_info=True)
        finally:
            self._conn.close()
            self._conn = None
            self._engine.dispose()

    def describe(self) -> str:
        return "PostgreSQL advisory lock (per database and schema)"


class FileLock:
    """`flock` on `<database>.scheduler.lock`; the file stays, only the lock comes and goes.

    The file is owner-only (0600), as the database beside it: `flock` needs only a descriptor
    open for reading, so under a 0644 file any local user could hold the lock and keep every
    scheduler waiting as a standby.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        with suppress(PermissionError):  # someone else's file: its owner decides
            os.fchmod(fd, PRIVATE_FILE)
        fh = os.fdopen(fd, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(holder_id() + "\n")
        fh.flush()
        self._fh = fh
        return True

    def still_held(self) -> bool:
        return self._fh is not None

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        finally:
            self._fh.close()
            self._fh = None

    def describe(self) -> str:
        return f"lock file {self.path}"


def lock_file_for(url: str) -> Path:
    """The lock file beside a SQLite database file."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise LockUnavailable(
            "database.url is an in-memory SQLite database: a scheduler needs a database file "
            "(or PostgreSQL) that outlives it"
        )
    db = Path(database)
    return db.with_name(db.name + ".scheduler.lock")


def scheduler_lock(url: str) -> SchedulerLock:
    """The lock fit for the database behind `url`."""
    dialect = make_url(url).get_backend_name()
    if dialect == "sqlite":
        return FileLock(lock_file_for(url))
    if dialect == "postgresql":
        return PostgresLock(url)
    raise LockUnavailable(f"database.url: no scheduler lock for {dialect!r} databases")


def wait_for_lock(
    lock: SchedulerLock,
    poll_seconds: float,
    stop: threading.Event,
    on_standby: Callable[[], None] = lambda: None,
) -> bool:
    """Take the lock, polling while another scheduler holds it; False if `stop` was set first.

    Polling (rather than a blocking lock call) keeps the standby responsive to SIGTERM and
    works the same on both engines.
    """
    announced = False
    while not stop.is_set():
        if lock.try_acquire():
            return True
        if not announced:
            on_standby()
            announced = True
        stop.wait(poll_seconds)
    return False
