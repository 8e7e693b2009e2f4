from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from digest import __version__
from digest.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_DATABASE_URL", raising=False)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.output.strip() == f"digest {__version__}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "run", "config"):
        assert command in result.output


def test_json_prints_the_seed_record_and_stores_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", "--json", str(FIXTURES / "pages" / "seed.txt")])
    assert result.exit_code == 0, result.output
    (record,) = orjson.loads(result.stdout)
    assert record["title"] == "美英签署AI安全测试备忘录"
    assert record["tier"] == "A" and record["published"] == "2024-04-01"
    assert not (tmp_path / "digest.db").exists()


def test_json_output_reads_back_to_identical_records(tmp_path: Path) -> None:
    first = runner.invoke(app, ["ingest", "--json", str(FIXTURES / "pages")])
    out = tmp_path / "signals.json"
    out.write_bytes(first.stdout_bytes)
    second = runner.invoke(app, ["ingest", "--json", str(out)])
    assert orjson.loads(second.stdout) == orjson.loads(first.stdout)


def test_ingest_stores_and_reports(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(FIXTURES / "pages" / "seed.txt")])
    assert result.exit_code == 0, result.output
    assert "Stored 1 signal from 1 source: 1 new" in result.output
    assert (tmp_path / "digest.db").exists()


def test_bad_file_is_reported_as_path_line_reason_and_exit_is_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: T\nconfidence: 2\n---\n", encoding="utf-8")
    good = FIXTURES / "pages" / "seed.txt"
    result = runner.invoke(app, ["ingest", str(bad), str(good)])
    assert result.exit_code == 1
    assert f"{bad}:3: field 'confidence'" in result.output
    assert "Stored 1 signal from 2 sources" in result.output


def test_published_date_must_be_iso() -> None:
    result = runner.invoke(app, ["ingest", "--published", "next week", "x.txt"])
    assert result.exit_code == 2
    assert "not an ISO date" in result.output


def test_config_errors_are_clear_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text("[database]\nurll = 'x'\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "x.txt"])
    assert result.exit_code == 2
    assert "database.urll: unknown key" in result.output


def test_a_feed_with_html_entities_imports_with_a_warning_and_exit_zero(tmp_path: Path) -> None:
    feed = tmp_path / "desk.rss"
    feed.write_bytes(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>\n'
        b"<item><title>Caf&eacute; prices</title><guid>urn:1</guid></item></channel></rss>"
    )
    result = runner.invoke(app, ["ingest", str(feed)])
    assert result.exit_code == 0, result.output
    assert f"{feed}:2: warning: entry 1 'Café prices': undefined entity &eacute;" in result.output
    assert "Stored 1 signal from 1 source: 1 new, 0 updated, 0 unchanged; 1 warning" in (
        result.output
    )


def test_a_feed_with_thousands_of_warnings_lists_twenty_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """Review finding: an `&nbsp;` in each of 20,000 entries printed 20,000 warning lines."""
    items = "".join(
        f"<item><title>Item {i}</title><guid>urn:{i}</guid><description>a&nbsp;b</description>"
        "</item>\n"
        for i in range(50)
    )
    feed = tmp_path / "desk.rss"
    feed.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>D</title>\n{items}'
        "</channel></rss>"
    )
    result = runner.invoke(app, ["ingest", str(feed)])
    assert result.output.count(": warning: entry ") == 20
    assert f"{feed}: warning: 30 more warnings like these, not listed" in result.output
    assert "; 50 warnings (imported)" in result.output


def _signal_file(folder: Path, name: str, market_class: str) -> Path:
    """A Markdown signal whose `market_class:` is on line 3."""
    path = folder / name
    path.write_text(
        f"---\ntitle: {name} export rules\nmarket_class: {market_class}\n"
        "published: 2024-04-01\nconfidence: 0.8\n---\nBody.\n",
        encoding="utf-8",
    )
    return path


def test_a_misspelt_market_class_warns_with_a_suggestion_and_still_imports(
    tmp_path: Path,
) -> None:
    """New-user trial: `Policy Trak` became a section of its own without a word."""
    signal = _signal_file(tmp_path, "x.md", "Policy Trak")
    result = runner.invoke(app, ["ingest", str(signal)])
    assert result.exit_code == 0, result.output
    assert (
        f"{signal}:3: warning: market class 'Policy Trak' is new (known: Policy Track, "
        "Supply Chain, Case File, Capital Flows, Infrastructure); did you mean 'Policy Track'?"
    ) in result.output
    assert "Stored 1 signal from 1 source: 1 new, 0 updated, 0 unchanged; 1 warning" in (
        result.output
    )


def test_a_class_configured_in_class_order_does_not_warn(tmp_path: Path) -> None:
    (tmp_path / "digest.toml").write_text(
        '[editions]\nclass_order = ["Policy Track", "Talent"]\n', encoding="utf-8"
    )
    signal = _signal_file(tmp_path, "x.md", "Talent")
    result = runner.invoke(app, ["ingest", str(signal)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_a_class_already_stored_does_not_warn_again(tmp_path: Path) -> None:
    first = runner.invoke(app, ["ingest", str(_signal_file(tmp_path, "a.md", "Talent"))])
    assert "market class 'Talent' is new" in first.output
    second = runner.invoke(app, ["ingest", str(_signal_file(tmp_path, "b.md", "Talent"))])
    assert second.exit_code == 0, second.output
    assert "Stored 1 signal from 1 source: 1 new" in second.output
    assert "warning" not in second.output
