"""Shared fixtures: a migrated database on SQLite and on PostgreSQL (when it answers), and
Debian's Chromium for the browser tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from digest.delivery.providers import register_settings
from digest.storage.db import open_database

register_settings()  # the providers' [sections], as the CLI does before it reads the config

POSTGRES_URL = os.environ.get(
    "DIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return (
            f"PostgreSQL at {POSTGRES_URL} does not answer ({exc.__class__.__name__}); start it "
            "with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema of its own, dropped afterwards."""
    problem = postgres_problem()
    if problem:
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'digest.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask set to `mask` for the block."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask (files 0644, folders 0755 unless the code says otherwise)."""
    with umask(0o022):
        yield


def mode(path: Path) -> int:
    """A file's permission bits (0o600, 0o700, ...)."""
    return path.stat().st_mode & 0o777


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one per test module, launched with the flags the
    docs' screenshots use; skips, saying what to install, without either."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from digest.web.screenshots import ARGS, CHROMIUM  # only browser tests pay for the import

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is missing: apt-get update && apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()
