"""Freezing editions, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, update

from digest.config import Settings
from digest.issues.editions import Issue, build_issue
from digest.issues.store import (
    FrozenError,
    all_issues,
    find_issue,
    freeze,
    load_accounting,
    load_editions,
    load_signal_snapshot,
    sent_issues,
)
from digest.model import Signal
from digest.period import parse_period
from digest.storage.schema import editions, issues

WEEK = parse_period("2026-W47")


def make_issue(title: str, classes: tuple[str, ...] = ("Policy Track",)) -> Issue:
    signals = [
        Signal(id=f"s{i}", title=f"{title} {c}", published=dt.date(2026, 11, 18), market_class=c)
        for i, c in enumerate(classes)
    ]
    sets = [frozenset(), frozenset({classes[0]})]
    return build_issue(signals, Settings(), WEEK, sets)


def test_freezing_stores_every_edition(engine: Engine) -> None:
    issue = make_issue("First")
    assert freeze(engine, issue)
    stored = load_editions(engine, WEEK)
    assert len(stored) == len(issue.editions) == 12
    first = stored[0]
    assert (first.html, first.text, first.subject) == (
        issue.editions[0].html,
        issue.editions[0].text,
        issue.editions[0].subject,
    )
    assert {e.interests for e in stored} == {frozenset(), frozenset({"Policy Track"})}
    row = find_issue(engine, WEEK)
    assert row is not None and row.status == "awaiting_approval" and row.built_at is not None


def test_a_second_build_reuses_the_frozen_editions(engine: Engine) -> None:
    freeze(engine, make_issue("First"))
    assert not freeze(engine, make_issue("Second"))
    assert "First" in load_editions(engine, WEEK)[0].html


def test_force_rebuilds_before_sending(engine: Engine) -> None:
    freeze(engine, make_issue("First"))
    assert freeze(engine, make_issue("Second"), force=True)
    html = "".join(e.html for e in load_editions(engine, WEEK))
    assert "Second" in html and "First" not in html


def test_force_is_refused_once_sending_began(engine: Engine) -> None:
    freeze(engine, make_issue("First"))
    with engine.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    with pytest.raises(FrozenError, match="sending began"):
        freeze(engine, make_issue("Second"), force=True)
    assert "First" in load_editions(engine, WEEK)[0].html


def test_no_editions_for_an_unbuilt_period(engine: Engine) -> None:
    assert load_editions(engine, WEEK) == []


def test_stored_editions_carry_their_ids(engine: Engine) -> None:
    freeze(engine, make_issue("First"))
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(editions.c.id)).scalars())
    assert sorted(e.id for e in load_editions(engine, WEEK) if e.id is not None) == ids


def test_the_accounting_is_frozen_with_the_editions(engine: Engine) -> None:
    issue = make_issue("Counted", ("Policy Track", "Case File"))
    assert freeze(engine, issue)
    found = load_accounting(engine, WEEK)
    assert found is not None and issue.accounting is not None
    assert found.as_dict() == issue.accounting.as_dict()


def test_the_signals_as_built_are_frozen_with_the_editions(engine: Engine) -> None:
    issue = make_issue("Kept", ("Policy Track", "Case File"))
    assert freeze(engine, issue)
    with engine.connect() as conn:
        found = load_signal_snapshot(conn, WEEK)
    built = [s for section in issue.grouped.sections for s in section.signals]
    assert found == {s.id: s for s in built}


def test_lists_of_issues_leave_the_signal_snapshot_unread(engine: Engine) -> None:
    # The public archive index and feed list every sent issue: each snapshot is tens of KB of
    # JSON that only that issue's own pages read.
    assert freeze(engine, make_issue("Kept"))
    with engine.begin() as conn:
        conn.execute(update(issues).values(status="sent"))
        rows = [*all_issues(conn), *sent_issues(conn, ["sent"])]
    assert rows and all("signals" not in row._fields for row in rows)


def test_a_period_never_built_has_no_signal_snapshot(engine: Engine) -> None:
    with engine.connect() as conn:
        assert load_signal_snapshot(conn, WEEK) is None


def test_a_period_never_built_has_no_accounting(engine: Engine) -> None:
    assert load_accounting(engine, WEEK) is None
