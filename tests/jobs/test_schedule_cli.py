"""`digest schedule list|trigger` and `digest approve` through the CLI, in-process."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from digest.cli import app
from digest.jobs.pipeline import record_run
from digest.storage.db import open_database
from digest.web.accounts import add_editor

from .conftest import write_config

cli = CliRunner()
WIDE = {"COLUMNS": "250"}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_OUTBOX_DIR"):
        monkeypatch.delenv(var, raising=False)
    return write_config(tmp_path / "digest.toml", f"sqlite:///{tmp_path / 'digest.db'}")


@pytest.fixture
def gated(config: Path) -> Path:
    """The same installation with the approval gate on."""
    return write_config(config, _url(config), approval_required=True)


def _url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'digest.db'}"


def test_approve_refuses_a_period_without_a_built_issue(config: Path) -> None:
    result = cli.invoke(app, ["-c", str(config), "approve", "--period", "2026-W47"])
    assert result.exit_code == 2 and "has no built issue" in result.output


def test_approve_rejects_a_malformed_period(config: Path) -> None:
    result = cli.invoke(app, ["-c", str(config), "approve", "--period", "last week"])
    assert result.exit_code == 2 and "is not a period" in result.output


def test_trigger_builds_the_period_and_approve_then_accepts_it(gated: Path) -> None:
    trigger = cli.invoke(app, ["-c", str(gated), "schedule", "trigger", "--period", "2026-W47"])
    assert trigger.exit_code == 0, trigger.output
    assert "2026-W47: awaiting approval until" in trigger.output
    approved = cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47", "--by", "ed"])
    assert approved.exit_code == 0 and "2026-W47 approved by ed" in approved.output


def test_second_approval_keeps_the_first(gated: Path) -> None:
    cli.invoke(app, ["-c", str(gated), "schedule", "trigger", "--period", "2026-W47"])
    cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47", "--by", "ann"])
    again = cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47", "--by", "bob"])
    assert "already approved by ann" in again.output


def test_approve_records_the_login_name_by_default(
    gated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "carol")
    cli.invoke(app, ["-c", str(gated), "schedule", "trigger", "--period", "2026-W47"])
    approved = cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47"])
    assert "2026-W47 approved by carol" in approved.output


def test_with_accounts_approve_takes_only_an_editors_name(gated: Path) -> None:
    engine = open_database(_url(gated))
    add_editor(engine, "dana", "dana-long-password", dt.datetime.now(dt.UTC))
    engine.dispose()
    cli.invoke(app, ["-c", str(gated), "schedule", "trigger", "--period", "2026-W47"])
    typo = cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47", "--by", "dnaa"])
    assert typo.exit_code == 2 and "'dnaa' is not an editor account" in typo.output
    ok = cli.invoke(app, ["-c", str(gated), "approve", "--period", "2026-W47", "--by", "Dana"])
    assert "2026-W47 approved by dana" in ok.output


def test_approve_refuses_a_period_already_sent(config: Path) -> None:
    cli.invoke(app, ["-c", str(config), "schedule", "trigger", "--period", "2026-W47"])
    late = cli.invoke(app, ["-c", str(config), "approve", "--period", "2026-W47"])
    assert late.exit_code == 2 and "already sent" in late.output


def test_list_before_any_run_shows_the_next_fire_from_config(config: Path) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 18, 12, tzinfo=dt.UTC), tick=False):
        result = cli.invoke(app, ["-c", str(config), "schedule", "list", "--json"])
    data = json.loads(result.output)
    assert data["next"][0]["next_run"] == "2026-11-23T07:00:00+00:00"


def test_list_shows_both_zones(config: Path) -> None:
    with time_machine.travel(dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC), tick=False):
        result = cli.invoke(app, ["-c", str(config), "schedule", "list"], env=WIDE)
    assert "Mon 2026-07-06 07:00 BST" in result.output and "2026-07-06 06:00 UTC" in result.output


def test_list_shows_a_skipped_run_and_why(config: Path) -> None:
    engine = open_database(_url(config))
    record_run(
        engine,
        job_id="weekly",
        kind="weekly",
        event="missed",
        outcome="skipped",
        period_key="2026-W47",
        now=dt.datetime(2026, 11, 23, 20, tzinfo=dt.UTC),
        scheduled_for=dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC),
        detail="missed by 13h00m, beyond schedule.misfire_grace_hours = 12",
    )
    engine.dispose()
    result = cli.invoke(app, ["-c", str(config), "schedule", "list", "--json"])
    [skip] = json.loads(result.output)["skipped"]
    assert (skip["period"], skip["detail"]) == (
        "2026-W47",
        "missed by 13h00m, beyond schedule.misfire_grace_hours = 12",
    )


def test_trigger_sends_the_period_and_a_second_trigger_sends_nothing_more(config: Path) -> None:
    added = cli.invoke(app, ["-c", str(config), "subscribers", "add", "reader@example.org"])
    assert added.exit_code == 0, added.output
    first = cli.invoke(app, ["-c", str(config), "schedule", "trigger", "--period", "2026-W47"])
    again = cli.invoke(app, ["-c", str(config), "schedule", "trigger", "--period", "2026-W47"])
    assert "2026-W47: sent" in first.output and "2026-W47: sent" in again.output
    files = list((config.parent / "outbox" / "2026-W47").glob("*.eml"))
    assert len(files) == 1
