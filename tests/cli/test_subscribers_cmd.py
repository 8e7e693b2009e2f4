from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from digest.cli import app
from digest.resources import bundled
from tests.conftest import mode

runner = CliRunner()
HEADER = "email,name,tier,locale,timezone,interests\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """Every command runs in an empty folder against a fresh database (SQLite and PostgreSQL)."""
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_SECRET_KEY", "DIGEST_OUTBOX_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DIGEST_DATABASE_URL", db_url)


def digest(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


def csv_file(tmp_path: Path, body: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, "utf-8")
    return path


def test_import_reports_what_it_did(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "ann@example.com,Ann,,,,\nbad,,,,,\n")
    result = digest("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert "people.csv: line 3: bad address 'bad'" in result.output
    assert "imported 1 of 2 rows (1 added, 0 updated, 0 unchanged); 1 bad row skipped" in (
        result.output
    )


def test_import_summary_counts_the_lines_a_stray_quote_swallowed(tmp_path: Path) -> None:
    swallowed = "".join(f"p{n}@example.com,P{n},,,,\n" for n in range(40))
    path = csv_file(tmp_path, 'ann@example.com,Ann,,,,\nbob@example.com,"Bob,,,,\n' + swallowed)
    result = digest("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert "people.csv: lines 3–43: unclosed quote opened on line 3" in result.output
    assert "; 1 bad row skipped, covering 41 lines (a stray quote" in result.output


def test_import_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "ann@example.com,Ann,,,,\n")
    result = digest("subscribers", "import", "--dry-run", str(path))
    assert result.exit_code == 0
    assert "would import 1 of 1 rows" in result.output
    assert json.loads(digest("subscribers", "count", "--json").output) == []


def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = digest("subscribers", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1
    assert "nope.csv: No such file or directory; nothing imported" in result.output


def test_import_of_a_wrong_encoding_is_a_file_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "jose@example.com,José,,,,\n").encode("latin-1"))
    result = digest("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert "line 2 is not UTF-8" in result.output
    assert "Traceback" not in result.output


def test_add_list_and_json(tmp_path: Path) -> None:
    added = digest(
        "subscribers", "add", "Ann@Example.com", "--name", "Ann", "--tier", "Strategic Circle",
        "--locale", "zh", "--interests", "Supply Chain;Policy Track",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added: ann@example.com (Strategy Circle, zh)" in added.output
    (row,) = [
        json.loads(line) for line in digest("subscribers", "list", "--json").output.splitlines()
    ]
    assert row["email"] == "ann@example.com"
    assert row["tier"] == "strategy_circle"
    assert row["interests"] == ["Policy Track", "Supply Chain"]
    assert row["consent_source"] == "cli"


def test_add_on_an_existing_subscriber_changes_only_the_given_fields() -> None:
    digest(
        "subscribers", "add", "ann@example.com", "--tier", "leadership_alliance", "--locale", "zh"
    )
    result = digest("subscribers", "add", "ann@example.com", "--name", "Ann Lee")
    assert "updated: ann@example.com (Leadership Alliance, zh)" in result.output


def test_add_on_an_opted_out_subscriber_says_they_stay_opted_out(tmp_path: Path) -> None:
    status_file = tmp_path / "status.csv"
    status_file.write_text("email,status\nann@example.com,unsubscribed\n", "utf-8")
    digest("subscribers", "import", str(status_file))
    result = digest("subscribers", "add", "ann@example.com", "--name", "Ann")
    assert "updated: ann@example.com (Open, en; stays unsubscribed)" in result.output


def test_add_refuses_a_bad_value() -> None:
    result = digest("subscribers", "add", "ann@example.com", "--locale", "fr")
    assert result.exit_code == 2
    assert "unknown locale 'fr'" in result.output


def test_list_filters_by_tier_and_status() -> None:
    digest("subscribers", "add", "ann@example.com", "--tier", "open")
    digest("subscribers", "add", "bob@example.com", "--tier", "leadership_alliance")
    listed = digest("subscribers", "list", "--tier", "Leadership Alliance", "--status", "active")
    assert listed.output.startswith("bob@example.com")
    assert "ann@example.com" not in listed.output


def test_count_is_a_table_and_json() -> None:
    digest("subscribers", "add", "ann@example.com", "--locale", "zh")
    table = digest("subscribers", "count")
    assert "Open" in table.output and "zh" in table.output and "unsubscribed" in table.output
    rows = json.loads(digest("subscribers", "count", "--json").output)
    assert rows == [{"tier": "open", "locale": "zh", "status": "active", "count": 1}]


def test_export_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    digest("subscribers", "add", "ann@example.com", "--name", "Ann")
    out = digest("subscribers", "export")
    assert "email,name,tier,locale,timezone,interests,status" in out.output
    assert "ann@example.com,Ann,open,en,Europe/London,,active" in out.output
    target = tmp_path / "out.csv"
    digest("subscribers", "export", str(target))
    assert (
        target.read_text("utf-8").splitlines()[1]
        == "ann@example.com,Ann,open,en,Europe/London,,active"
    )


@pytest.mark.usefixtures("umask_022")
def test_an_export_file_is_owner_only(tmp_path: Path) -> None:
    """Review finding: the export (every address) was written 0644 under umask 022."""
    digest("subscribers", "add", "ann@example.com")
    target = tmp_path / "out.csv"
    digest("subscribers", "export", str(target))
    assert mode(target) == 0o600


def test_an_export_over_a_wider_file_makes_it_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    target.chmod(0o644)
    digest("subscribers", "export", str(target))
    assert mode(target) == 0o600 and target.read_text().startswith("email,")


def test_export_then_import_changes_nothing(tmp_path: Path) -> None:
    digest("subscribers", "import", str(csv_file(tmp_path, "ann@example.com,Ann,,zh,,A;B\n")))
    target = tmp_path / "out.csv"
    digest("subscribers", "export", str(target))
    result = digest("subscribers", "import", str(target))
    assert "0 added, 0 updated, 1 unchanged" in result.output


def test_remove_keeps_the_opt_out_and_add_is_refused(tmp_path: Path) -> None:
    digest("subscribers", "import", str(csv_file(tmp_path, "ann@example.com,Ann,,,,\n")))
    status_file = tmp_path / "status.csv"
    status_file.write_text("email,status\nann@example.com,unsubscribed\n", "utf-8")
    digest("subscribers", "import", str(status_file))
    assert digest("subscribers", "remove", "ann@example.com").exit_code == 0
    refused = digest("subscribers", "add", "ann@example.com")
    assert refused.exit_code == 1
    assert "suppression list (unsubscribed)" in refused.output


def test_remove_of_an_unknown_address_fails() -> None:
    result = digest("subscribers", "remove", "nobody@example.com")
    assert result.exit_code == 1
    assert "no subscriber nobody@example.com" in result.output


def test_forget_then_reimport_after_a_key_rotation_stays_suppressed(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "ann@example.com,Ann,,,,\n")
    digest("subscribers", "import", str(path), env={"DIGEST_SECRET_KEY": "key-one"})
    forgot = digest(
        "subscribers", "forget", "ANN@example.com", env={"DIGEST_SECRET_KEY": "key-one"}
    )
    assert "forgotten: erased the subscriber, 0 deliveries and 0 events" in forgot.output
    again = digest("subscribers", "import", str(path), env={"DIGEST_SECRET_KEY": "key-two,key-one"})
    assert "line 2: on the suppression list (forgotten): not re-subscribed" in again.output
    assert digest("subscribers", "list").output == ""


def test_run_imports_the_example_audience_idempotently() -> None:
    first = digest("run")
    assert first.exit_code == 0, first.output
    assert "Audience: active subscribers by tier and language" in first.output
    assert "Strategy Circle" in first.output and "Chinese" in first.output
    rows = len((bundled("subscribers") / "example.csv").read_text("utf-8").splitlines()) - 1
    assert f"{rows} added" in first.output
    second = digest("run")
    assert f"0 added, 0 updated, {rows} unchanged" in second.output


def test_subscribers_help_lists_every_command() -> None:
    result = digest("subscribers", "--help")
    for command in ("import", "export", "add", "remove", "list", "count", "forget"):
        assert command in result.output


def test_add_maps_interests_onto_known_classes_and_refuses_unknown_ones() -> None:
    result = digest("subscribers", "add", "ann@example.com", "--interests", "supply chain")
    assert result.exit_code == 0, result.output
    listed = digest("subscribers", "list", "--json")
    assert '"interests":["Supply Chain"]' in listed.output
    refused = digest("subscribers", "add", "bob@example.com", "--interests", "Suply Chain")
    assert refused.exit_code != 0
    assert "--interests: unknown market class 'Suply Chain' (known: Policy Track" in (
        refused.output
    )
    assert "did you mean 'Supply Chain'?" in refused.output
    assert "bob@example.com" not in digest("subscribers", "list").output
