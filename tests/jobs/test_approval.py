"""The approval gate: its decision (may a period's editions be sent at this check?), and an
approval given before an editor's change being withdrawn."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from digest.issues.controls_store import set_note
from digest.jobs.approval import approve, approved_at, decide
from digest.storage.schema import issues
from tests.issues.controls_data import WEEK, store_week
from tests.jobs.fake_steps import ensure_issue_row

FIRE = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
DEADLINE = FIRE + dt.timedelta(hours=24)
KEY = "2026-W47"


def built(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(issues).values(
                period_key=KEY,
                period_start=dt.date(2026, 11, 16),
                period_end=dt.date(2026, 11, 22),
                status="awaiting_approval",
                created_at=FIRE,
            )
        )


def test_without_approval_before_the_deadline_it_waits(engine: Engine) -> None:
    built(engine)
    decision = decide(engine, KEY, FIRE + dt.timedelta(hours=1), DEADLINE, "skip")
    assert decision.outcome == "awaiting"
    assert not decision.resolved and not decision.sends


def test_an_approved_issue_is_sent_before_the_deadline(engine: Engine) -> None:
    built(engine)
    approve(engine, KEY, "ann", FIRE + dt.timedelta(hours=2))
    decision = decide(engine, KEY, FIRE + dt.timedelta(hours=3), DEADLINE, "skip")
    assert (decision.outcome, decision.sends) == ("approved", True)
    assert decision.detail == f"approved at {(FIRE + dt.timedelta(hours=2)).isoformat()}"


def test_past_the_deadline_unapproved_is_skipped_when_so_configured(engine: Engine) -> None:
    built(engine)
    decision = decide(engine, KEY, DEADLINE, DEADLINE, "skip")
    assert (decision.outcome, decision.resolved, decision.sends) == ("skipped", True, False)
    assert "schedule.on_deadline = skip" in decision.detail


def test_past_the_deadline_unapproved_is_sent_anyway_when_so_configured(engine: Engine) -> None:
    built(engine)
    decision = decide(engine, KEY, DEADLINE, DEADLINE, "send")
    assert (decision.outcome, decision.sends) == ("deadline_send", True)
    assert decision.detail == f"not approved by {DEADLINE.isoformat()}: sending anyway"


NOW = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)


def approved_then_changed(engine: Engine) -> None:
    store_week(engine)
    with engine.begin() as conn:
        ensure_issue_row(conn, WEEK, NOW)
    approve(engine, WEEK.key, "chief", NOW)
    set_note(engine, WEEK, "en", "A late thought.", by="ed")


def test_a_change_after_approval_needs_approval_again(engine: Engine) -> None:
    approved_then_changed(engine)
    assert approved_at(engine, WEEK.key) is None


def test_approving_after_the_change_is_a_new_approval(engine: Engine) -> None:
    approved_then_changed(engine)
    assert not approve(engine, WEEK.key, "chief", NOW + dt.timedelta(minutes=5)).already
