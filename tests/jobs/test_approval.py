"""The approval gate: its decision (may a period's editions be sent at this check?), and an
approval given before an editor's change being withdrawn."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from digest.config import Settings
from digest.issues.controls_store import set_note
from digest.issues.store import IssueRow
from digest.jobs.approval import approve, approved_at, decide, status_label
from digest.period import parse_period
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


# --- the status an editor reads -----------------------------------------------------------------

WEEK_47 = parse_period(KEY)


def schedule(**values: object) -> Settings:
    """Settings with the default publication (Europe/London, `mon 07:00`) and this schedule."""
    return Settings.model_validate({"schedule": values})


def issue(status: str = "awaiting_approval", stale_at: dt.datetime | None = None) -> IssueRow:
    """Week 47's issue row as a build (`awaiting_approval`) or a later step leaves it."""
    return IssueRow(1, WEEK_47, status, FIRE, None, stale_at)


def test_a_built_issue_awaits_approval_only_when_approval_is_required() -> None:
    label = status_label(issue(), WEEK_47, schedule(approval_required=True), FIRE)
    assert label == "awaiting approval"


def test_without_approval_a_built_issue_says_when_the_scheduler_sends_it() -> None:
    label = status_label(issue(), WEEK_47, schedule(), FIRE - dt.timedelta(hours=1))
    assert label == "built · sends Mon 2026-11-23 07:00 GMT"


def test_without_approval_a_built_issue_past_its_send_time_is_ready_to_send() -> None:
    label = status_label(issue(), WEEK_47, schedule(), FIRE + dt.timedelta(days=2))
    assert label == "built · ready to send"


def test_a_changed_issue_past_its_send_time_needs_a_rebuild_not_ready_to_send() -> None:
    changed = issue(stale_at=FIRE + dt.timedelta(days=1))
    label = status_label(changed, WEEK_47, schedule(), FIRE + dt.timedelta(days=2))
    assert label == "built · changed since: rebuild before sending"


def test_other_statuses_read_the_same_whatever_the_approval_setting() -> None:
    for settings in (schedule(), schedule(approval_required=True)):
        assert status_label(issue("sending"), WEEK_47, settings, FIRE) == "sending"
        assert status_label(issue("approved"), WEEK_47, settings, FIRE) == "approved"
        assert status_label(None, WEEK_47, settings, FIRE) == "not built"


def test_a_date_range_issue_names_no_send_time_the_scheduler_never_keeps() -> None:
    # The scheduler sends only the ISO week a fire covers (`period_for_fire`): a range built by
    # hand is sent with `digest send`, never at the next fire after it closes.
    days = parse_period("2026-11-16..2026-11-18")
    label = status_label(issue(), days, schedule(), FIRE - dt.timedelta(hours=1))
    assert label == "built · ready to send"
