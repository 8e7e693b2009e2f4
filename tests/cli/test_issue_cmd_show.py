"""`digest issue show` driven in-process against a store filled by `digest ingest`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from digest.cli import app
from digest.model import Signal
from digest.signals.store import store_signals
from digest.storage.db import open_database
from digest.storage.schema import issues

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = str(REPO / "examples" / "signals")
runner = CliRunner()
DUV_A = "Netherlands extends export licensing to DUV immersion servicing"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert runner.invoke(app, ["ingest", EXAMPLES]).exit_code == 0


def show() -> str:
    result = runner.invoke(app, ["issue", "show", "--period", "2026-W47"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


def test_show_lists_the_internal_signal_with_its_reason() -> None:
    assert "internal monitoring" in show()


def test_show_suggests_the_near_duplicate_duv_stories_instead_of_merging_them() -> None:
    output = show()
    assert "suggested merge (similar wording" in output and DUV_A in output
    assert "digest issue merge" in output


def test_show_before_a_build_freezes_nothing() -> None:
    assert "trial build, not frozen" in show()
    assert "trial build, not frozen" in show()


def test_show_reads_the_frozen_accounting_after_a_build() -> None:
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    assert "(frozen issue)" in show()


def frozen_without_accounting(**values: object) -> None:
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    engine = open_database("sqlite:///digest.db")
    with engine.begin() as conn:
        conn.execute(update(issues).values(accounting=None, **values))


def test_an_issue_frozen_before_accounting_gets_a_trial_build() -> None:
    frozen_without_accounting()
    assert "trial build, not frozen" in show()


def test_an_issue_sent_before_accounting_is_refused_with_a_reason() -> None:
    frozen_without_accounting(send_started_at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    result = runner.invoke(app, ["issue", "show", "--period", "2026-W47"])
    assert result.exit_code == 1 and "no accounting to show" in result.output


def test_show_after_a_change_says_what_the_next_build_will_do() -> None:
    # The frozen accounting is the stale build's: it would still list the excluded signal as
    # shown everywhere.
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    dropped = "s-54635023d771d94e"
    assert runner.invoke(app, ["issue", "exclude", dropped, "--period", "2026-W47"]).exit_code == 0
    output = show()
    (row,) = [line for line in output.splitlines() if dropped in line]
    assert "excluded by an editor" in row and "trial build, not frozen" in output


def test_a_long_reason_wraps_inside_the_table_instead_of_being_cut_off() -> None:
    """Off a terminal the table gets 120 columns: every row keeps its right border."""
    add = ["subscribers", "add", "a@example.org", "--interests", "Supply Chain"]
    assert runner.invoke(app, add).exit_code == 0
    result = runner.invoke(app, ["issue", "show", "--period", "2026-W47"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert rows and all(line.rstrip().endswith("│") for line in rows)
    assert "Supply Chain only)" in result.output and "open.en[Supply" not in result.output


LATE = Signal(
    id="late-1",
    title="Late feed: Japan tightens photoresist export reporting",
    published=dt.date(2026, 11, 20),
    market_class="Policy Track",
    tier="B/C",
)


def built_then_late_signal(**issue_values: object) -> None:
    """The week is built, then a signal dated inside it is stored (a late feed)."""
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    engine = open_database("sqlite:///digest.db")
    with engine.begin() as conn:
        store_signals(conn, [LATE])
        if issue_values:
            conn.execute(update(issues).values(**issue_values))
    engine.dispose()


def test_show_lists_a_signal_stored_since_the_build_and_says_to_rebuild() -> None:
    built_then_late_signal()
    output = show()
    assert "1 signal stored since the build (not in any edition): rebuild to include them" in output
    assert f"  late-1  {LATE.title}" in output


def test_show_says_a_late_signal_misses_the_issue_once_sending_began() -> None:
    built_then_late_signal(send_started_at=dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC))
    output = show()
    assert "sending has begun, so they will not be in this issue" in output
    assert "rebuild to include them" not in output and "late-1" in output


def test_after_a_rebuild_nothing_is_listed_as_stored_since_the_build() -> None:
    built_then_late_signal()
    rebuild = ["build", "--period", "2026-W47", "--out", "out", "--force"]
    assert runner.invoke(app, rebuild).exit_code == 0
    assert "stored since the build" not in show()


def test_show_says_a_built_issue_is_not_awaiting_approval_when_none_is_required() -> None:
    # The default schedule has approval_required = false.
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    output = show()
    assert "(frozen issue); status: built · " in output and "approval" not in output
