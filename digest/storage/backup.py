"""Copying a SQLite database safely: a consistent backup while digest runs, and a restore that
never replaces a database someone has open and never installs a file that is not digest's.

The copy goes through SQLite's online backup API (`sqlite3.Connection.backup`) in one step: it
reads one snapshot inside a single read transaction, so rows a send commits meanwhile are either
wholly in the copy or wholly not, and in WAL mode the writers are never blocked. The copy is
written to a temporary file beside its destination and put in place only once complete and
checked, so a failure (a full disk, a killed process) leaves no half-written file behind.

"In use" for a restore means: some process has the database open. Every SQLite connection to a
WAL database holds a shared POSIX lock on the "dead-man switch" byte of the `-shm` file for as
long as it stays open (that is how SQLite knows whether it is the last connection), and the web
app, the scheduler, a worker and a running send all keep pooled connections open. Taking that
byte exclusively therefore succeeds only when nobody else has the database open, and holding it
keeps new connections out while the file is swapped. The caller adds the scheduler's own lock
(`digest.jobs.lock`), which a standby scheduler holds even between connections.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from digest.storage.db import MIGRATIONS

SQLITE_MAGIC = b"SQLite format 3\x00"
DIGEST_TABLES = ("alembic_version", "install_meta", "subscribers", "suppressions", "deliveries")
"""Tables every digest database has had since its first migration: what makes a file ours."""
_DMS_BYTE = 128  # the WAL-index "dead-man switch": UNIX_SHM_BASE (120) + SQLITE_SHM_NLOCK (8)
_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why and what was left alone."""


@dataclass(frozen=True)
class Copied:
    """What a finished backup or restore holds, for the command's report."""

    path: Path
    revision: str
    counts: dict[str, int]
    replaced: Path | None = None
    """Where a restore put the database it replaced."""


def sqlite_file(url: str) -> Path:
    """The database file behind a SQLite URL; BackupError for anything else.

    PostgreSQL is not copied here: `pg_dump` does it consistently (the CLI prints how).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(f"not a SQLite database ({parsed.get_backend_name()})")
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("database.url is an in-memory SQLite database: there is no file to copy")
    return Path(database)


def backup(source: Path, target: Path) -> Copied:
    """Copy the live database `source` to the new file `target` (never overwritten)."""
    if not source.is_file():
        raise BackupError(f"no database at {source}: nothing to back up")
    _refuse_existing(target)
    with _temporary_beside(target) as temp:
        _copy(source, temp, what=f"backing up to {target}")
        copied = _check_digest_database(temp, name=str(source))
        _install_new(temp, target)
    return Copied(target, copied.revision, copied.counts)


def restore(source: Path, target: Path) -> Copied:
    """Replace the database `target` with a copy of the digest database `source`.

    Refuses while `target` is open anywhere (see the module docstring). An existing `target` is
    kept beside it as `<name>.replaced-<UTC time>` (with its WAL), never deleted.
    """
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    _check_digest_database(source, name=str(source))
    if source.resolve() == target.resolve():
        raise BackupError(f"{source} is the configured database itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(target) as temp:
        _copy(source, temp, what=f"restoring to {target}")
        copied = _check_digest_database(temp, name=str(source))
        replaced = None
        with nobody_has_open(target):
            if target.exists():
                replaced = _move_aside(target)
            for suffix in _SIDE_FILES:  # stale side files would be applied to the new database
                with suppress(FileNotFoundError):
                    os.unlink(f"{target}{suffix}")
            os.replace(temp, target)
        _sync_folder(target.parent)
    return Copied(target, copied.revision, copied.counts, replaced)


@contextmanager
def nobody_has_open(database: Path) -> Iterator[None]:
    """Hold the database's `-shm` dead-man-switch byte exclusively; BackupError if another
    process has the database open.

    POSIX locks belong to the process: call this before this process opens `database` itself.
    """
    shm = Path(f"{database}-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:  # no WAL index: no connection is open
        yield
        return
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _DMS_BYTE)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise BackupError(
                    f"{database} is in use: another process has it open (the web app, the "
                    "scheduler, a worker or a send); stop them first"
                ) from None
            raise
        yield
    finally:
        os.close(fd)  # releases the lock


def _refuse_existing(target: Path) -> None:
    if target.is_dir():
        raise BackupError(f"{target} is a folder: name the backup file to create")
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} exists: a backup never overwrites a file; name a new one")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")


@contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    """A fresh owner-only file in `target`'s folder, removed (with any side file) unless it was
    moved into place."""
    name = f".{target.name}.{os.getpid()}.partial"
    temp = target.with_name(name)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BackupError(f"cannot create a file in {target.parent}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)
    os.close(fd)
    try:
        yield temp
    finally:
        for path in (str(temp), *(f"{temp}{s}" for s in _SIDE_FILES)):
            with suppress(FileNotFoundError):
                os.unlink(path)


def _copy(source: Path, temp: Path, *, what: str) -> None:
    """One-step online backup of `source` into `temp`, left as a single self-contained file."""
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(temp)
            try:
                src.backup(dst)  # pages=-1: the whole database from one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # no -wal needed beside the copy
                dst.commit()
            finally:
                dst.close()
        finally:
            src.close()
        with open(temp, "rb+") as fh:
            os.fsync(fh.fileno())
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"failed {what}: {_reason(exc)}; the partial copy was removed") from None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if full or "disk is full" in text or "disk I/O error" in text:
        return f"the disk is full or refused the write ({text})"
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _check_digest_database(path: Path, *, name: str) -> Copied:
    """Counts of a file that is a sound digest database of a known revision; else BackupError."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"{name}: cannot read: {exc.strerror}") from None
    if magic != SQLITE_MAGIC:
        raise BackupError(f"{name} is not a digest database (not a SQLite file)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise BackupError(f"{name} is damaged (SQLite's quick_check fails)")
            tables = {r[0] for r in conn.execute("select name from sqlite_master")}
            missing = [t for t in DIGEST_TABLES if t not in tables]
            if missing:
                raise BackupError(
                    f"{name} is not a digest database (no {', '.join(missing)} table)"
                )
            revision = conn.execute("select version_num from alembic_version").fetchone()
            counts = {
                t: int(conn.execute(f'select count(*) from "{t}"').fetchone()[0])
                for t in ("subscribers", "suppressions", "deliveries")
            }
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{name} is not a readable digest database: {exc}") from None
    if revision is None:
        raise BackupError(f"{name} is not a digest database (no schema revision recorded)")
    if not _known_revision(str(revision[0])):
        raise BackupError(
            f"{name} has schema revision {revision[0]!r}, unknown to this digest (written by a "
            "newer version?): upgrade digest first"
        )
    return Copied(path, str(revision[0]), counts)


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


def _install_new(temp: Path, target: Path) -> None:
    """Put the finished copy at `target` unless something appeared there meanwhile."""
    try:
        os.link(temp, target)  # fails if target exists: no overwrite even in a race
    except FileExistsError:
        raise BackupError(f"{target} appeared while copying: it was left alone") from None
    except OSError:  # a filesystem without hard links
        if target.exists():
            raise BackupError(f"{target} appeared while copying: it was left alone") from None
        os.rename(temp, target)
    _sync_folder(target.parent)


def _move_aside(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = target.with_name(f"{target.name}.replaced-{stamp}")
    os.replace(target, aside)
    with suppress(FileNotFoundError):  # committed rows not yet checkpointed travel with it
        os.replace(f"{target}-wal", f"{aside}-wal")
    return aside


def _sync_folder(folder: Path) -> None:
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
