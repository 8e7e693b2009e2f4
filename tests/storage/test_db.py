from __future__ import annotations

from sqlalchemy import inspect, text

from digest.storage.db import display_url, normalize_url, open_database

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


def test_display_url_masks_the_password() -> None:
    assert "hunter2" not in display_url("postgresql://u:hunter2@h/db")
