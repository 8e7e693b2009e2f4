from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from digest.cli import app
from digest.jobs.lock import FileLock, lock_file_for
from digest.resources import example_audience
from digest.storage.db import _alembic_config, _head, create, open_database

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "SENDGRID_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def backed_up(tmp_path: Path) -> Path:
    """./digest.db with the example audience, and a backup of it."""
    imported = runner.invoke(app, ["subscribers", "import", str(example_audience())])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["backup", "copy.db"])
    assert result.exit_code == 0, result.output
    return tmp_path / "copy.db"


def test_backup_reports_what_it_copied(backed_up: Path) -> None:
    result = runner.invoke(app, ["backup", "second.db"])
    assert result.exit_code == 0
    assert "to second.db: 16 subscribers" in result.output


def test_backup_to_an_existing_file_fails_and_leaves_it(backed_up: Path) -> None:
    before = backed_up.read_bytes()
    result = runner.invoke(app, ["backup", str(backed_up)])
    assert result.exit_code == 1
    assert "exists: a backup never overwrites a file" in result.output
    assert backed_up.read_bytes() == before


def test_backup_of_postgresql_prints_the_pg_dump_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://digest:hunter2@db.internal/digest")
    result = runner.invoke(app, ["backup", "weekly.dump"])
    assert result.exit_code == 2
    assert "pg_dump --format=custom --file 'weekly.dump' 'postgresql://digest:***@db.internal" in (
        result.output
    )
    assert "hunter2" not in result.output


def test_restore_refuses_while_a_scheduler_holds_its_lock(backed_up: Path) -> None:
    lock = FileLock(lock_file_for("sqlite:///digest.db"))
    assert lock.try_acquire()
    try:
        result = runner.invoke(app, ["restore", str(backed_up)])
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "in use: a scheduler is running" in result.output
    assert not list(Path().glob("digest.db.replaced-*"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_restore_refuses_while_the_web_app_runs(backed_up: Path, tmp_path: Path) -> None:
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            try:
                httpx.get(f"http://127.0.0.1:{port}/archive", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "digest serve did not start"
                time.sleep(0.2)
        result = runner.invoke(app, ["restore", str(backed_up)])
    finally:
        serve.terminate()
        serve.wait(30)
    assert result.exit_code == 1
    assert "in use: another process has it open (the web app" in result.output
    assert not list(tmp_path.glob("digest.db.replaced-*"))


def test_restore_puts_the_backup_in_place_and_migrates_it(backed_up: Path) -> None:
    assert runner.invoke(app, ["subscribers", "remove", "amelia.hart@example.com"]).exit_code == 0
    result = runner.invoke(app, ["restore", str(backed_up)])
    assert result.exit_code == 0, result.output
    assert "the previous database was kept as digest.db.replaced-" in result.output
    listed = runner.invoke(app, ["subscribers", "count"])
    assert "16" in listed.output


def test_a_backup_from_an_older_schema_is_migrated_on_restore(tmp_path: Path) -> None:
    old = create(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(old), "0009")
    old.dispose()
    result = runner.invoke(app, ["restore", str(tmp_path / "old.db")])
    assert result.exit_code == 0, result.output
    assert "schema 0009" in result.output
    engine = open_database("sqlite:///digest.db")
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == _head()
    engine.dispose()
