from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from digest.storage.db import normalize_url, open_database
from tests.conftest import mode

TABLES = {"signals", "issues", "editions", "subscribers", "suppressions", "deliveries", "events"}


def test_first_use_creates_the_whole_schema(db_url: str) -> None:
    engine = open_database(db_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_opening_twice_is_harmless(db_url: str) -> None:
    open_database(db_url).dispose()
    engine = open_database(db_url)
    with engine.connect() as conn:
        versions = conn.execute(text("select version_num from alembic_version")).all()
    assert len(versions) == 1
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


@pytest.mark.usefixtures("umask_022")
def test_a_new_sqlite_database_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    """It holds the local signing key, the suppression salt and every address."""
    engine = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:  # a write, so the -wal and -shm files exist
        conn.execute(text("create table t (x integer)"))
        files = sorted(tmp_path.glob("x.db*"))
        assert [p.name for p in files] == ["x.db", "x.db-shm", "x.db-wal"]
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    engine.dispose()


@pytest.mark.usefixtures("umask_022")
def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_database(f"sqlite:///{path}").dispose()
    path.chmod(0o644)
    open_database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def test_an_in_memory_database_needs_no_file(tmp_path: Path) -> None:
    engine = open_database("sqlite://")
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()
