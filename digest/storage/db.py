"""Opening the database: the engine, SQLite's pragmas, and migrations applied on first use."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (the driver we ship), not psycopg2."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create(url: str) -> Engine:
    """An engine for `url` with no migration run (see `open_database`)."""
    url = normalize_url(url)
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
