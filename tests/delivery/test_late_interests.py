"""A subscriber who picks classes after the issue was built still gets only those classes, and
an interest set's editions are built only for the tiers and languages that read it."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from digest.cli import app
from digest.config import load_settings
from digest.issues.store import load_editions
from digest.model import Signal
from digest.period import parse_period
from digest.resources import bundled
from digest.signals.store import signals_between, store_signals
from digest.storage.db import open_database
from digest.storage.schema import subscribers

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL", "DIGEST_OUTBOX_DIR", "DIGEST_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)


def text_part_for(outbox: Path, address: str) -> str:
    for path in outbox.glob("*.eml"):
        mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if str(mail["To"]).endswith(f"<{address}>") or str(mail["To"]) == address:
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no email to {address}")


def test_a_late_interest_set_gets_its_own_edition(tmp_path: Path) -> None:
    assert runner.invoke(app, ["run"], env={"COLUMNS": "200"}).exit_code == 0
    added = runner.invoke(
        app, ["subscribers", "add", "late@example.org", "--interests", "Supply Chain"]
    )
    assert added.exit_code == 0, added.output
    sent = runner.invoke(app, ["send", "--period", "2026-W47"])
    assert sent.exit_code == 0, sent.output
    text = text_part_for(tmp_path / "outbox" / "2026-W47", "late@example.org")
    assert "SUPPLY CHAIN" in text.upper()
    for other in ("POLICY TRACK", "CASE FILE", "CAPITAL FLOWS", "INFRASTRUCTURE"):
        assert other not in text.upper()


def frozen_pairs(interests: str) -> set[tuple[str, str]]:
    """(tier, locale) of each frozen edition of 2026-W47 for one interest set."""
    settings = load_settings()
    editions = load_editions(open_database(settings.database.url), parse_period("2026-W47"))
    return {(e.tier, e.locale) for e in editions if e.interests_key == interests}


def ingest_examples() -> None:
    ingested = runner.invoke(app, ["ingest", str(bundled("examples") / "signals")])
    assert ingested.exit_code == 0, ingested.output


def add(address: str, *options: str) -> None:
    added = runner.invoke(app, ["subscribers", "add", address, *options])
    assert added.exit_code == 0, added.output


def test_an_interest_set_is_built_for_the_tiers_and_languages_that_read_it() -> None:
    ingest_examples()
    add(
        "lin@example.org", "--interests", "Case File", "--tier", "strategy_circle", "--locale", "zh"
    )
    built = runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"])
    assert built.exit_code == 0, built.output
    assert frozen_pairs("Case File") == {("strategy_circle", "zh")}
    assert len(frozen_pairs("")) == 6  # every tier and language of all classes, as ever


def test_a_reader_of_a_set_in_another_tier_gets_it_at_send_time(tmp_path: Path) -> None:
    ingest_examples()
    add(
        "lin@example.org", "--interests", "Case File", "--tier", "strategy_circle", "--locale", "zh"
    )
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    add("kay@example.org", "--interests", "Case File")  # Open, English: no edition of it yet
    sent = runner.invoke(app, ["send", "--period", "2026-W47"])
    assert sent.exit_code == 0, sent.output
    assert frozen_pairs("Case File") == {("strategy_circle", "zh"), ("open", "en")}
    text = text_part_for(tmp_path / "outbox" / "2026-W47", "kay@example.org")
    assert "CASE FILE" in text.upper() and "SUPPLY CHAIN" not in text.upper()


def store_late_signal() -> None:
    """A strong Case File signal dated in 2026-W47, first stored after the issue was built."""
    late = Signal(
        id="late/after-the-build",
        title="Stored after the build",
        published=parse_period("2026-W47").start,
        market_class="Case File",
        confidence=0.99,
    )
    engine = open_database(load_settings().database.url)
    with engine.begin() as conn:
        store_signals(conn, [late])


def test_an_edition_rendered_at_send_time_leaves_out_signals_stored_after_the_build(
    tmp_path: Path,
) -> None:
    # The editor is told such a signal is in no edition of this issue (issue show, the issue
    # page): an edition a tier change makes at send time must not carry it either.
    ingest_examples()
    add(
        "lin@example.org", "--interests", "Case File", "--tier", "strategy_circle", "--locale", "zh"
    )
    assert runner.invoke(app, ["build", "--period", "2026-W47", "--out", "out"]).exit_code == 0
    store_late_signal()
    add("kay@example.org", "--interests", "Case File")  # Open, English: rendered at send time
    sent = runner.invoke(app, ["send", "--period", "2026-W47"])
    assert sent.exit_code == 0, sent.output
    text = text_part_for(tmp_path / "outbox" / "2026-W47", "kay@example.org")
    assert "CASE FILE" in text.upper()
    assert "Stored after the build" not in text


def test_a_reader_with_nothing_in_their_classes_is_counted_not_dropped() -> None:
    """An editor excluded every Case File signal of the week: that reader gets no email, and
    the send says so instead of leaving them out of its counts."""
    ingest_examples()
    add("case@example.org", "--interests", "Case File")
    add("all@example.org")
    week = parse_period("2026-W47")
    with open_database(load_settings().database.url).connect() as conn:
        found = signals_between(conn, week.start, week.end)
    case_files = [s.id for s in found if s.market_class == "Case File"]
    excluded = runner.invoke(app, ["issue", "exclude", *case_files, "--period", "2026-W47"])
    assert case_files and excluded.exit_code == 0, excluded.output
    sent = runner.invoke(app, ["send", "--period", "2026-W47"], env={"COLUMNS": "200"})
    assert sent.exit_code == 0, sent.output
    said = " ".join(sent.output.split())  # the console wraps long lines
    assert "1 sent now" in said
    assert "1 reader not mailed: none of their classes has a signal this issue" in said


def test_a_reader_already_sent_this_issue_is_not_also_counted_as_outside_it() -> None:
    """Mailed by the first run, they changed their classes to one the issue lacks: a second run
    counts them once, as accepted, not again as a reader the issue has nothing for."""
    ingest_examples()
    add("case@example.org", "--interests", "Case File")
    first = runner.invoke(app, ["send", "--period", "2026-W47", "--json"])
    assert first.exit_code == 0, first.output
    with open_database(load_settings().database.url).begin() as conn:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email == "case@example.org")
            .values(interests="Talent")
        )
    again = runner.invoke(app, ["send", "--period", "2026-W47", "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert (report["accepted"], report["outside_interests"]) == (1, 0)
