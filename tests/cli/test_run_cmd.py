from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_OUTBOX_DIR"):
        monkeypatch.delenv(var, raising=False)


def test_run_on_defaults_ingests_the_bundled_examples(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "using the bundled examples" in result.output
    assert "34 signals from 34 sources: 31 new" in result.output
    assert "(3 read from a second source, merged)" in result.output
    assert "2026-W47" in result.output and "2026-W46" in result.output
    assert (tmp_path / "digest.db").exists()


def test_run_twice_changes_nothing_the_second_time() -> None:
    runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    result = runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    assert "0 new, 0 updated, 31 unchanged" in result.output


def test_run_uses_configured_sources(tmp_path: Path) -> None:
    page = tmp_path / "one.txt"
    page.write_text("Signal Brief\n- Signal: Only one\n- Published: 2026-11-18\n", "utf-8")
    (tmp_path / "digest.toml").write_text(f"[sources]\npaths = ['{page}']\n", "utf-8")
    result = runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    assert "1 signal from 1 source: 1 new" in result.output
    assert "bundled" not in result.output


def test_run_with_configured_sources_leaves_the_audience_alone(tmp_path: Path) -> None:
    page = tmp_path / "one.txt"
    page.write_text("Signal Brief\n- Signal: Only one\n- Published: 2026-11-18\n", "utf-8")
    (tmp_path / "digest.toml").write_text(f"[sources]\npaths = ['{page}']\n", "utf-8")
    runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    counted = runner.invoke(app, ["subscribers", "count", "--json"])
    assert json.loads(counted.output) == []


def test_run_warns_about_a_misspelt_market_class_and_still_ingests_it(tmp_path: Path) -> None:
    page = tmp_path / "one.txt"
    page.write_text(
        "Signal Brief\n- Signal: Only one\n- Market Class: Policy Trak\n- Published: 2026-11-18\n",
        "utf-8",
    )
    (tmp_path / "digest.toml").write_text(f"[sources]\npaths = ['{page}']\n", "utf-8")
    result = runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    assert f"{page}:3: warning: market class 'Policy Trak' is new" in result.output
    assert "did you mean 'Policy Track'?" in result.output
    assert "1 signal from 1 source: 1 new" in result.output


def test_the_bundled_examples_use_only_the_configured_market_classes() -> None:
    result = runner.invoke(app, ["run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
