"""Opening a send: refused for editions an editor's change made stale after they were fetched."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from digest.config import Settings
from digest.delivery.plan import make_plan, open_send
from digest.delivery.report import SendError
from digest.issues import controls_store as cs
from digest.issues.build import frozen_editions
from digest.issues.store import find_issue
from tests.issues.controls_data import WEEK, store_week


def test_a_change_after_the_editions_were_fetched_stops_the_send(engine: Engine) -> None:
    store_week(engine)
    issue_id, editions = frozen_editions(Settings(), engine, WEEK)
    plan = make_plan(engine, WEEK, issue_id, editions)
    cs.exclude(engine, WEEK, ["s1"], by="ed")  # lands between fetching and opening
    with pytest.raises(SendError, match="stale"), engine.begin() as conn:
        open_send(conn, plan, dt.datetime.now(dt.UTC), resend_uncertain=False)
    row = find_issue(engine, WEEK)
    assert row is not None and row.send_started_at is None
