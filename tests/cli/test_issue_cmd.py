"""`digest issue exclude|include|lead|merge|unmerge|note` driven in-process on a stored week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from digest.cli import app
from digest.issues.store import load_controls
from digest.storage.db import open_database
from digest.storage.schema import issues
from tests.issues.controls_data import WEEK, store_week

runner = CliRunner()
P = ("--period", "2026-W47")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """./digest.db (the default database) holding the stored week."""
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    engine = open_database(f"sqlite:///{tmp_path / 'digest.db'}")
    store_week(engine)
    return engine


def issue(*args: str, stdin: str | None = None) -> Any:
    return runner.invoke(app, ["issue", *args], input=stdin)


def test_exclude_stores_the_ids_and_says_so(db: Engine) -> None:
    result = issue("exclude", "s1", "s2", *P)
    assert result.exit_code == 0, result.output
    assert "2026-W47: excluded s1, s2" in result.output
    assert load_controls(db, WEEK).excluded == {"s1", "s2"}


def test_include_puts_a_signal_back(db: Engine) -> None:
    issue("exclude", "s1", "s2", *P)
    issue("include", "s1", *P)
    assert load_controls(db, WEEK).excluded == {"s2"}


def test_the_period_defaults_to_the_last_complete_week(db: Engine) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)):
        assert issue("exclude", "s3").exit_code == 0
    assert load_controls(db, WEEK).excluded == {"s3"}


def test_an_unknown_id_is_named_and_nothing_changes(db: Engine) -> None:
    result = issue("exclude", "s1", "nope", *P)
    assert result.exit_code == 2
    assert "nope: no signal has this id; nothing was changed" in result.output
    assert load_controls(db, WEEK).excluded == frozenset()


def test_an_id_of_another_period_is_refused(db: Engine) -> None:
    result = issue("lead", "old", *P)
    assert result.exit_code == 2 and "old is not a signal of 2026-W47" in result.output


def test_lead_sets_the_lead_story(db: Engine) -> None:
    assert "s3 is the lead story" in issue("lead", "s3", *P).output
    assert load_controls(db, WEEK).lead == "s3"


def test_lead_clear_removes_the_pick(db: Engine) -> None:
    issue("lead", "s3", *P)
    issue("lead", "--clear", *P)
    assert load_controls(db, WEEK).lead is None


def test_lead_needs_an_id_or_clear(db: Engine) -> None:
    result = issue("lead", *P)
    assert result.exit_code == 2 and "give the lead story's ID, or --clear" in result.output


def test_merge_then_unmerge(db: Engine) -> None:
    assert "merged s2, s4 into s1" in issue("merge", "s1", "s2", "s4", *P).output
    issue("unmerge", "s2", *P)
    assert dict(load_controls(db, WEEK).merges) == {"s4": "s1"}


def test_merging_into_itself_is_refused(db: Engine) -> None:
    result = issue("merge", "s1", "s1", *P)
    assert result.exit_code == 2 and "cannot merge s1 into itself" in result.output


def test_a_merge_chain_is_refused(db: Engine) -> None:
    issue("merge", "s1", "s2", *P)
    result = issue("merge", "s2", "s3", *P)
    assert result.exit_code == 2 and "s2 is itself merged into s1" in result.output


def test_a_note_from_a_file(db: Engine, tmp_path: Path) -> None:
    (tmp_path / "note.md").write_text("A *quiet* week.", encoding="utf-8")
    assert "en note set" in issue("note", "note.md", *P).output
    assert dict(load_controls(db, WEEK).notes) == {"en": "A *quiet* week."}


def test_a_note_from_standard_input_for_chinese(db: Engine) -> None:
    issue("note", "--lang", "zh", "-", *P, stdin="本周较为平静。")
    assert dict(load_controls(db, WEEK).notes) == {"zh": "本周较为平静。"}


def test_note_clear_removes_one_language(db: Engine) -> None:
    issue("note", "-", *P, stdin="Hello")
    issue("note", "--lang", "zh", "-", *P, stdin="你好")
    issue("note", "--clear", *P)
    assert dict(load_controls(db, WEEK).notes) == {"zh": "你好"}


def test_a_note_over_600_characters_is_refused(db: Engine) -> None:
    result = issue("note", "-", *P, stdin="x" * 601)
    assert result.exit_code == 2 and "601 characters; at most 600" in result.output


def test_a_note_with_raw_html_is_refused(db: Engine) -> None:
    result = issue("note", "-", *P, stdin="ok\n<script>x</script>")
    assert result.exit_code == 2 and "line 2: raw HTML" in result.output


def test_note_text_given_as_the_file_says_how_to_pass_text(db: Engine) -> None:
    result = issue("note", "A quiet week.", *P)
    assert result.exit_code == 2 and "from standard input with `-`" in result.output


def test_a_missing_note_file_is_named(db: Engine) -> None:
    result = issue("note", "absent.md", *P)
    assert result.exit_code == 2 and "cannot read absent.md" in result.output


def test_an_unknown_language_is_refused(db: Engine) -> None:
    result = issue("note", "--lang", "fr", "-", *P, stdin="Bonjour")
    assert result.exit_code == 2 and "'fr' is not one of en, zh" in result.output


def test_a_change_after_the_build_says_the_editions_are_stale(db: Engine) -> None:
    assert runner.invoke(app, ["build", *P, "--out", "out"]).exit_code == 0
    result = issue("exclude", "s1", *P)
    assert "stale: `digest build --period 2026-W47` rebuilds them" in result.output


def test_send_refuses_stale_editions_saying_to_build(db: Engine) -> None:
    runner.invoke(app, ["build", *P, "--out", "out"])
    issue("exclude", "s1", *P)
    result = runner.invoke(app, ["send", *P])
    assert result.exit_code == 1
    assert "stale" in result.output and "run `digest build --period 2026-W47`" in result.output


def test_a_change_after_sending_began_is_refused(db: Engine) -> None:
    runner.invoke(app, ["build", *P, "--out", "out"])
    with db.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    result = issue("exclude", "s1", *P)
    assert result.exit_code == 1 and "sending began" in result.output


def approved_and_changed(db: Engine) -> str:
    """Build, approve, then change the week: what `digest issue lead` prints."""
    runner.invoke(app, ["build", *P, "--out", "out"])
    assert runner.invoke(app, ["approve", *P, "--by", "ann"]).exit_code == 0
    result = issue("lead", "s2", *P)
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_a_change_after_approval_says_to_approve_again_behind_the_gate(
    db: Engine, tmp_path: Path
) -> None:
    (tmp_path / "digest.toml").write_text("[schedule]\napproval_required = true\n")
    assert "approve again" in approved_and_changed(db)


def test_a_change_without_the_gate_says_nothing_of_approving_again(db: Engine) -> None:
    assert "approve again" not in approved_and_changed(db)
