"""The approval gate and an editor's change: an approval given before a change is withdrawn."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from digest.issues.controls_store import set_note
from digest.jobs.approval import approve, approved_at
from tests.issues.controls_data import WEEK, store_week
from tests.jobs.fake_steps import ensure_issue_row

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
