"""`digest build` and `digest preview` driven in-process, output read back from the files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest
import time_machine
from sqlalchemy import update
from typer.testing import CliRunner

from digest.cli import app
from digest.storage.db import open_database
from digest.storage.schema import issues
from tests.conftest import mode

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = str(REPO / "examples" / "signals")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def build(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["build", *args])
    return result.exit_code, result.output


def test_build_from_files_writes_six_editions_and_a_manifest(tmp_path: Path) -> None:
    code, output = build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert code == 0, output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    for tier in ("open", "strategy_circle", "leadership_alliance"):
        for locale in ("en", "zh"):
            assert f"{tier}.{locale}.html" in names and f"{tier}.{locale}.txt" in names
    assert not (tmp_path / "digest.db").exists()  # --signals needs no database


def test_the_manifest_describes_each_edition(tmp_path: Path) -> None:
    build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest["period"] == "2026-W47" and len(manifest["editions"]) == 6
    edition = manifest["editions"][0]
    assert set(edition) >= {
        "tier",
        "locale",
        "subject",
        "preheader",
        "files",
        "html_bytes",
        "signal_ids",
        "checks",
    }
    assert (tmp_path / "out" / edition["files"]["text"]).exists()
    assert 0 < edition["html_bytes"] < 100_000 and edition["signal_ids"]
    assert all(c["level"] != "fail" for e in manifest["editions"] for c in e["checks"])


def test_internal_monitoring_is_listed_for_editors_and_left_out(tmp_path: Path) -> None:
    _code, output = build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert "[internal]" in output
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    (internal,) = manifest["internal_excluded"]
    assert all(internal not in e["signal_ids"] for e in manifest["editions"])


def test_output_files_are_filled_for_a_sample_reader(tmp_path: Path) -> None:
    build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    html = (tmp_path / "out" / "open.en.html").read_text()
    assert "%%" not in html and "/unsubscribe?preview=1" in html


def test_an_empty_period_still_builds(tmp_path: Path) -> None:
    code, output = build("--signals", EXAMPLES, "--period", "2020-W01", "--out", "out")
    assert code == 0, output
    assert "No signals were published" in (tmp_path / "out" / "open.en.html").read_text()


def test_an_empty_period_says_so_and_what_to_try() -> None:
    code, output = build("--signals", EXAMPLES, "--period", "2020-W01", "--out", "out")
    assert code == 0
    assert "warning: no signals were published in 2020-W01" in output
    assert "--signals" in output


def test_a_bad_period_is_a_usage_error() -> None:
    code, output = build("--signals", EXAMPLES, "--period", "2025-W53")
    assert code == 2 and "does not exist" in output


def test_a_failing_check_names_the_edition_and_exits_1(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "open.mjml.j2").write_text(
        '{% extends "digest.mjml.j2" %}{% block header %}<mj-section><mj-column>'
        '<mj-image src="https://x.example/logo.png" alt="" /></mj-column></mj-section>'
        "{% endblock %}"
    )
    (tmp_path / "digest.toml").write_text(f'[editions]\ntemplates_dir = "{mine}"\n')
    code, output = build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert code == 1
    assert "FAIL open.en: alt-text" in output and "FAIL open.zh: alt-text" in output


def test_a_template_error_names_the_template_and_exits_1(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "digest.txt.j2").write_text("line one\n{{ view.missing }}\n")
    (tmp_path / "digest.toml").write_text(f'[editions]\ntemplates_dir = "{mine}"\n')
    code, output = build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert code == 1 and "digest.txt.j2, line 2" in output


def test_a_build_from_the_store_reads_no_source(tmp_path: Path) -> None:
    """Only ingest reads sources: neither the folder nor the (unreachable) feed is read here."""
    (tmp_path / "digest.toml").write_text(
        f"[sources]\npaths = ['{EXAMPLES}', 'http://127.0.0.1:9/feed.xml']\n", "utf-8"
    )
    code, output = build("--period", "2026-W47", "--out", "out")
    assert code == 0, output
    assert "warning: no signals were published in 2026-W47" in output


def test_builds_from_the_store_are_frozen_and_force_is_refused_once_sending_began(
    tmp_path: Path,
) -> None:
    assert runner.invoke(app, ["ingest", EXAMPLES]).exit_code == 0
    code, output = build("--period", "2026-W47", "--out", "out")
    assert code == 0 and "froze the editions" in output
    code, output = build("--period", "2026-W47", "--out", "out")
    assert "reused the frozen editions" in output
    engine = open_database(f"sqlite:///{tmp_path / 'digest.db'}")
    with engine.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    engine.dispose()
    code, output = build("--period", "2026-W47", "--force")
    assert code == 1 and "--force refused" in output


def test_preview_writes_one_edition_and_prints_its_path(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "preview",
            "--tier",
            "strategy_circle",
            "--locale",
            "zh",
            "--signals",
            EXAMPLES,
            "--period",
            "2026-W47",
            "--out",
            "pv",
        ],
    )
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.name == "strategy_circle.zh.html" and path.exists()
    assert sorted(p.name for p in (tmp_path / "pv").iterdir()) == [
        "manifest.json",
        "strategy_circle.zh.html",
        "strategy_circle.zh.txt",
    ]


def test_preview_rejects_an_unknown_tier() -> None:
    result = runner.invoke(app, ["preview", "--tier", "gold", "--locale", "en"])
    assert result.exit_code == 2 and "gold" in result.output


@time_machine.travel(dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC))
def test_run_builds_the_newest_complete_week_the_store_holds(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "Built 2026-W47: 6 editions" in " ".join(result.output.split())
    assert (tmp_path / "out" / "leadership_alliance.zh.html").exists()


def test_an_unreadable_input_is_reported_and_exits_1(tmp_path: Path) -> None:
    code, output = build("--signals", str(tmp_path / "missing"), "--period", "2026-W47")
    assert code == 1
    assert "missing: no such file, folder or feed URL" in output


def test_signals_takes_several_paths_after_one_flag(tmp_path: Path) -> None:
    pages, markdown = f"{EXAMPLES}/pages", f"{EXAMPLES}/markdown"
    code, output = build("--signals", pages, markdown, "--period", "2026-W47", "--out", "out")
    assert code == 0, output
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    only_pages = build("--signals", pages, "--period", "2026-W47", "--out", "p")
    assert only_pages[0] == 0
    pages_manifest = orjson.loads((tmp_path / "p" / "manifest.json").read_bytes())
    assert len(manifest["editions"][0]["signal_ids"]) > len(
        pages_manifest["editions"][0]["signal_ids"]
    )


@pytest.mark.parametrize("command", ["build", "preview"])
def test_help_does_not_show_the_argument_behind_several_signals_paths(command: str) -> None:
    """`--signals a b` works through a hidden argument; `--help` must not advertise it."""
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert f"Usage: digest {command} [OPTIONS]\n" in result.output
    assert "[more]" not in result.output and "MORE" not in result.output


def test_preview_also_takes_several_paths_after_one_flag(tmp_path: Path) -> None:
    pages, markdown = f"{EXAMPLES}/pages", f"{EXAMPLES}/markdown"
    args = ["--tier", "open", "--locale", "en", "--period", "2026-W47", "--out", "pv"]
    result = runner.invoke(app, ["preview", "--signals", pages, markdown, *args])
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((tmp_path / "pv" / "manifest.json").read_bytes())
    only_pages = runner.invoke(app, ["preview", "--signals", pages, *args[:-1], "p"])
    assert only_pages.exit_code == 0, only_pages.output
    pages_manifest = orjson.loads((tmp_path / "p" / "manifest.json").read_bytes())
    assert len(manifest["signals"]) > len(pages_manifest["signals"])


def test_a_path_without_signals_is_a_usage_error() -> None:
    code, output = build(EXAMPLES)
    assert code == 2 and "input paths go after --signals" in output


@pytest.mark.usefixtures("umask_022")
def test_built_editions_are_owner_only(tmp_path: Path) -> None:
    """Member-only text: the folder 0700, every edition and the manifest 0600."""
    (tmp_path / "out").mkdir(mode=0o755)
    (tmp_path / "out" / "open.en.html").write_text("an earlier build", "utf-8")
    build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out/new")
    build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert mode(tmp_path / "out" / "new") == 0o700
    files = [*(tmp_path / "out").iterdir(), *(tmp_path / "out" / "new").iterdir()]
    assert {p.name: mode(p) for p in files if p.is_file()} == {
        p.name: 0o600 for p in files if p.is_file()
    }


def test_the_manifest_accounts_for_every_signal_and_suggests_the_duv_merge(
    tmp_path: Path,
) -> None:
    build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    fates = {f["id"]: f for f in manifest["signals"]}
    shown = {sid for e in manifest["editions"] for sid in e["signal_ids"]}
    assert all(f["reason"] or f["id"] in shown for f in fates.values())
    (pair,) = manifest["suggested_merges"]
    assert pair["confidences"] == [0.91, 0.86] and {pair["keep"], pair["drop"]} <= shown


def test_the_build_output_accounts_for_the_period_and_lists_suggested_merges() -> None:
    code, output = build("--signals", EXAMPLES, "--period", "2026-W47", "--out", "out")
    assert code == 0, output
    assert "18 signals of the period: 17 shown" in output and "1 not shown" in output
    assert "suggested merge (similar wording" in output


def test_one_interest_edition_is_counted_in_the_singular() -> None:
    assert runner.invoke(app, ["ingest", EXAMPLES]).exit_code == 0
    added = runner.invoke(
        app, ["subscribers", "add", "a@example.org", "--interests", "Capital Flows"]
    )
    assert added.exit_code == 0, added.output
    _, output = build("--period", "2026-W47", "--out", "out")
    assert "+ 1 edition for 1 interest set (stored" in output
