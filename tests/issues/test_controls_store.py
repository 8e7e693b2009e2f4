"""Storing an editor's controls: checked against the period, one transaction, frozen after the
send starts, and marking built editions stale (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, insert, update

from digest.config import Settings
from digest.issues import controls_store as cs
from digest.issues.build import build
from digest.issues.controls import NO_CONTROLS, ControlsError
from digest.issues.editions import build_issue
from digest.issues.store import FrozenError, find_issue, freeze, load_controls
from digest.period import parse_period
from digest.storage.schema import issues, schedule_runs
from tests.issues.controls_data import IDS, WEEK, store_week

BY = "ed"


@pytest.fixture
def week(engine: Engine) -> Engine:
    store_week(engine)
    return engine


def built(engine: Engine) -> None:
    assert build(Settings(), WEEK, engine=engine).frozen


def test_a_period_without_controls_loads_the_empty_value(week: Engine) -> None:
    assert load_controls(week, WEEK) == NO_CONTROLS


def test_an_exclusion_is_stored_for_its_period(week: Engine) -> None:
    cs.exclude(week, WEEK, ["s1", "s2"], by=BY)
    assert load_controls(week, WEEK).excluded == {"s1", "s2"}


def test_controls_of_one_period_leave_another_alone(week: Engine) -> None:
    cs.exclude(week, WEEK, ["s1"], by=BY)
    assert load_controls(week, parse_period("2026-W46")) == NO_CONTROLS


def test_every_kind_of_control_reads_back(week: Engine) -> None:
    cs.set_lead(week, WEEK, "s3", by=BY)
    cs.merge(week, WEEK, "s1", ["s2"], by=BY)
    cs.unmerge(week, WEEK, "s4", by=BY)
    cs.set_note(week, WEEK, "zh", "你好", by=BY)
    got = load_controls(week, WEEK)
    assert (got.lead, dict(got.merges), got.unmerged, dict(got.notes)) == (
        "s3",
        {"s2": "s1"},
        {"s4"},
        {"zh": "你好"},
    )


def test_an_unknown_id_is_refused_by_name(week: Engine) -> None:
    with pytest.raises(ControlsError, match="nope: no signal has this id"):
        cs.exclude(week, WEEK, ["nope"], by=BY)


def test_an_id_of_another_period_is_refused_with_its_date(week: Engine) -> None:
    with pytest.raises(ControlsError, match=r"old is not a signal of 2026-W47.*2026-11-10"):
        cs.set_lead(week, WEEK, "old", by=BY)


def test_an_internal_signal_is_refused(week: Engine) -> None:
    with pytest.raises(ControlsError, match="mon is an internal-monitoring signal"):
        cs.exclude(week, WEEK, ["mon"], by=BY)


def test_a_refused_change_applies_none_of_its_ids(week: Engine) -> None:
    with pytest.raises(ControlsError):
        cs.exclude(week, WEEK, ["s1", "nope"], by=BY)
    assert load_controls(week, WEEK).excluded == frozenset()


def test_a_refused_merge_leaves_the_earlier_merges(week: Engine) -> None:
    cs.merge(week, WEEK, "s1", ["s2"], by=BY)
    with pytest.raises(ControlsError, match="already merged into s1"):
        cs.merge(week, WEEK, "s3", ["s4", "s2"], by=BY)
    assert dict(load_controls(week, WEEK).merges) == {"s2": "s1"}


def test_a_note_is_stored_as_checked(week: Engine) -> None:
    cs.set_note(week, WEEK, "en", "\r\n  Hello  \r\n", by=BY)
    assert dict(load_controls(week, WEEK).notes) == {"en": "Hello"}


def test_a_bad_note_is_refused_naming_the_language(week: Engine) -> None:
    with pytest.raises(ControlsError, match=r"note \(en\): line 1: raw HTML"):
        cs.set_note(week, WEEK, "en", "<i>x</i>", by=BY)


def test_an_unknown_note_language_is_refused(week: Engine) -> None:
    with pytest.raises(ControlsError, match="'fr' is not one of en, zh"):
        cs.set_note(week, WEEK, "fr", "Bonjour", by=BY)


def test_a_change_before_the_first_build_marks_nothing_stale(week: Engine) -> None:
    assert not cs.exclude(week, WEEK, ["s1"], by=BY).stale


def test_a_change_after_the_build_marks_the_editions_stale(week: Engine) -> None:
    built(week)
    assert cs.exclude(week, WEEK, ["s1"], by=BY).stale
    row = find_issue(week, WEEK)
    assert row is not None and row.stale_at is not None


def test_a_change_to_the_same_choice_marks_nothing_stale(week: Engine) -> None:
    cs.exclude(week, WEEK, ["s1"], by=BY)
    built(week)
    cs.exclude(week, WEEK, ["s1"], by=BY)
    row = find_issue(week, WEEK)
    assert row is not None and row.stale_at is None


def test_a_change_is_refused_once_sending_began(week: Engine) -> None:
    built(week)
    with week.begin() as conn:
        conn.execute(update(issues).values(send_started_at=dt.datetime.now(dt.UTC)))
    with pytest.raises(FrozenError, match=r"sending began .* can no longer be changed"):
        cs.set_note(week, WEEK, "en", "Late", by=BY)
    assert load_controls(week, WEEK).notes == {}


def test_a_change_withdraws_an_approval(week: Engine) -> None:
    built(week)
    with week.begin() as conn:
        conn.execute(
            update(issues).values(
                approved_at=dt.datetime.now(dt.UTC), approved_by="chief", status="approved"
            )
        )
    assert cs.exclude(week, WEEK, ["s1"], by=BY).unapproved
    row = find_issue(week, WEEK)
    assert row is not None and row.status == "awaiting_approval"


def test_a_plain_build_rebuilds_stale_editions(week: Engine) -> None:
    built(week)
    cs.exclude(week, WEEK, ["s4"], by=BY)
    result = build(Settings(), WEEK, engine=week)
    assert not result.reused
    row = find_issue(week, WEEK)
    assert row is not None and row.stale_at is None


def test_a_build_reuses_editions_that_are_not_stale(week: Engine) -> None:
    built(week)
    assert build(Settings(), WEEK, engine=week).reused


def test_a_freeze_from_controls_changed_meanwhile_stays_stale(week: Engine) -> None:
    built(week)
    cs.set_note(week, WEEK, "en", "One", by=BY)
    issue = build_issue([], Settings(), WEEK, controls=load_controls(week, WEEK))
    cs.set_note(week, WEEK, "en", "Two", by=BY)  # lands while `issue` was being built
    assert freeze(week, issue)
    row = find_issue(week, WEEK)
    assert row is not None and row.stale_at is not None


def test_concurrent_changes_all_land(week: Engine) -> None:
    """Each change locks the period's controls, so simultaneous editors lose nothing."""
    barrier = threading.Barrier(len(IDS))

    def exclude_one(signal_id: str) -> None:
        barrier.wait()
        cs.exclude(week, WEEK, [signal_id], by=signal_id)

    with ThreadPoolExecutor(len(IDS)) as pool:
        list(pool.map(exclude_one, IDS))
    assert load_controls(week, WEEK).excluded == set(IDS)


def test_a_change_is_refused_once_approved_buckets_are_planned(week: Engine) -> None:
    built(week)
    now = dt.datetime.now(dt.UTC)
    common = {"period_key": WEEK.key, "recorded_at": now, "detail": "", "holder": ""}
    with week.begin() as conn:
        for extra in (
            {"job_id": "a", "kind": "approval", "event": "resolved", "outcome": "approved"},
            {"job_id": "b", "kind": "bucket", "event": "planned", "zone": "Asia/Tokyo"},
        ):
            conn.execute(insert(schedule_runs).values(**common, **extra))
    with pytest.raises(FrozenError, match="delivering it in local-time buckets"):
        cs.exclude(week, WEEK, ["s1"], by=BY)
