"""Opening the database: the engine, SQLite's pragmas and file mode, and migrations applied on
first use."""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver we ship), not psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _private_sqlite_file(url: URL) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would follow the umask: 0644),
    and take group and other bits off an existing one and its -wal/-shm/-journal files.

    It holds the local signing key, the suppression salt and every address. SQLite creates its
    -wal and -shm files with the database file's permissions, so those follow.
    """
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or "uri" in url.query:
        return
    _create_owner_only(path)
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        with suppress(FileNotFoundError, PermissionError):  # not ours: its owner tightens it
            bits = stat.S_IMODE(os.stat(name).st_mode)
            if bits & 0o077:
                os.chmod(name, bits & 0o700)


def _create_owner_only(path: str) -> None:
    """An empty file (SQLite takes it as an empty database) 0600, unless `path` exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # there already; or no such folder, which SQLite reports when it opens
    os.fchmod(fd, 0o600)  # exactly, whatever the umask took away
    os.close(fd)


def create(url: str) -> Engine:
    """An engine for `url` with no migration run (see `open_database`); a SQLite file is
    owner-only (`_private_sqlite_file`)."""
    url = normalize_url(url)
    _private_sqlite_file(make_url(url))
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@cache
def _head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != _head():
        command.upgrade(_alembic_config(engine), "head")


def open_database(url: str) -> Engine:
    """The engine the rest of digest uses: created, and migrated on first use."""
    engine = create(url)
    migrate(engine)
    return engine
