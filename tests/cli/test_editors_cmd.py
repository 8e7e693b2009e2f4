"""`digest editors add|password|remove|list`: accounts managed from the shell, sessions ended."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner, Result

from digest.cli import app
from digest.storage.db import open_database
from digest.storage.schema import editor_accounts
from digest.web.accounts import Session, read_session, start_session, verify
from digest.web.throttle import attempt, retry_after

runner = CliRunner()
PASSWORD = "a-good-long-password"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.setenv("DIGEST_DATABASE_URL", db_url)


def digest(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})


def add(name: str = "alice", password: str = PASSWORD) -> Result:
    return digest("editors", "add", name, stdin=f"{password}\n{password}\n")


def test_add_prompts_twice_and_stores_only_a_hash(db_url: str) -> None:
    result = add()
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    engine = open_database(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(editor_accounts.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify(engine, "alice", PASSWORD) is not None
    engine.dispose()


def test_add_reads_the_password_from_stdin_for_scripts() -> None:
    result = digest("editors", "add", "bob", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output


def test_a_short_password_is_refused_with_the_command_for_a_good_one() -> None:
    result = add(password="short")
    assert result.exit_code == 2
    assert "12 characters" in result.output and "token_urlsafe" in result.output


def test_the_bootstrap_name_is_reserved() -> None:
    result = add(name="editor")
    assert result.exit_code == 2 and "reserved" in result.output


def test_a_taken_name_is_refused() -> None:
    add()
    result = add(name="Alice")
    assert result.exit_code == 2 and "already has an account" in result.output


def test_list_shows_each_editor_and_never_a_password() -> None:
    add()
    add(name="bob")
    listed = json.loads(digest("editors", "list", "--json").output)
    assert [e["name"] for e in listed] == ["alice", "bob"]
    assert PASSWORD not in digest("editors", "list").output


def live_session(db_url: str) -> tuple[Engine, str]:
    engine = open_database(db_url)
    account = verify(engine, "alice", PASSWORD)
    assert account
    now = dt.datetime.now(dt.UTC)
    sid = start_session(engine, Session("alice", account[0], None), now, dt.timedelta(hours=1))
    return engine, sid


def test_a_new_password_ends_the_editors_sessions(db_url: str) -> None:
    add()
    engine, sid = live_session(db_url)
    new = "another-long-password"
    result = digest("editors", "password", "alice", stdin=f"{new}\n{new}\n")
    assert result.exit_code == 0 and "1 session(s) ended" in result.output
    assert read_session(engine, sid, dt.datetime.now(dt.UTC)) is None
    assert verify(engine, "alice", new) is not None


def test_remove_deletes_the_account_and_ends_its_sessions(db_url: str) -> None:
    add()
    engine, sid = live_session(db_url)
    assert digest("editors", "remove", "alice").exit_code == 0
    assert read_session(engine, sid, dt.datetime.now(dt.UTC)) is None
    assert json.loads(digest("editors", "list", "--json").output) == []


def test_removing_an_unknown_editor_says_so() -> None:
    result = digest("editors", "remove", "nobody")
    assert result.exit_code == 2 and "no editor named 'nobody'" in result.output


def test_unlock_lifts_a_lock_an_outsider_put_on_an_editor(db_url: str) -> None:
    """Five wrong guesses by anyone lock an account name, "editor" (the bootstrap login) the
    most obvious: the operator needs a way back in before the lock runs out."""
    engine = open_database(db_url)
    now = dt.datetime.now(dt.UTC)
    for n in range(5):
        attempt(engine, [f"address:198.51.100.{n}", "account:editor"], now)
    result = digest("editors", "unlock", "Editor")
    assert result.exit_code == 0 and "editor may log in again" in result.output
    assert retry_after(engine, ["account:editor"], now) == 0


def test_unlock_of_a_name_nobody_failed_says_so() -> None:
    result = digest("editors", "unlock", "alice")
    assert result.exit_code == 0 and "alice was not locked" in result.output
