"""The scheduler under a controlled clock: fires, downtime, restarts, approval, local buckets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine, insert, select

from digest.issues.controls_store import set_note
from digest.issues.store import FrozenError
from digest.jobs.approval import approve
from digest.jobs.scheduler import stored_jobs
from digest.jobs.weekly import WEEKLY_JOB_ID
from digest.period import parse_period
from digest.storage.db import open_database
from digest.storage.schema import schedule_runs, subscribers

from .fake_steps import sent_lines

LONDON = ZoneInfo("Europe/London")
SUNDAY_NIGHT = dt.datetime(2026, 11, 22, 23, 0, tzinfo=LONDON)
MONDAY_0700 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=LONDON)
MONDAY_0900 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
MONDAY_2000 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=LONDON)


def runs(url: str, **where: str) -> list[Any]:
    engine = open_database(url)
    query = select(schedule_runs).order_by(schedule_runs.c.id)
    for key, value in where.items():
        query = query.where(schedule_runs.c[key] == value)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    engine.dispose()
    return list(rows)


def test_fire_at_the_trigger_sends_the_last_complete_week(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = h.start()
        sched.step()
        clock.move_to(MONDAY_0700)
        sched.step()
    assert sent_lines(send_log) == ["send 2026-W47 *"]


def test_nothing_fires_before_the_trigger(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        h.start().step()
    assert sent_lines(send_log) == []


def test_down_at_seven_back_at_nine_runs_once_at_nine(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        h.start().step()
        h.stop()  # the machine goes down before 07:00
        clock.move_to(MONDAY_0900)
        sched = h.start()
        sched.step()
        sched.step()
    assert sent_lines(send_log) == ["send 2026-W47 *"]


def test_late_run_is_recorded_against_the_seven_oclock_fire(
    harness_for: Any, sqlite_url: str
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        h.start().step()
        h.stop()
        clock.move_to(MONDAY_0900)
        h.start().step()
    [executed] = runs(sqlite_url, event="executed")
    scheduled = executed.scheduled_for.replace(tzinfo=dt.UTC)
    assert (executed.period_key, scheduled) == ("2026-W47", MONDAY_0700.astimezone(dt.UTC))


def test_down_beyond_the_grace_skips_and_records_why(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        h.start().step()
        h.stop()
        clock.move_to(MONDAY_2000)  # 13 hours late, grace 12
        h.start().step()
    assert sent_lines(send_log) == []
    [missed] = runs(sqlite_url, event="missed")
    assert (missed.period_key, missed.outcome) == ("2026-W47", "skipped")
    assert "missed by 13h00m" in missed.detail and "misfire_grace_hours = 12" in missed.detail


def test_after_a_skip_the_next_week_is_scheduled(harness_for: Any, sqlite_url: str) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        h.start().step()
        h.stop()
        clock.move_to(MONDAY_2000)
        h.start().step()
        engine = open_database(sqlite_url)
        [job] = [j for j in stored_jobs(engine) if j.id == WEEKLY_JOB_ID]
        engine.dispose()
    assert job.next_run_time == dt.datetime(2026, 11, 30, 7, 0, tzinfo=LONDON)


def test_restart_after_the_fire_runs_nothing_more(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(MONDAY_0700 - dt.timedelta(minutes=1), tick=False) as clock:
        h.start().step()
        clock.move_to(MONDAY_0700)
        h.current.step()
        h.stop()
        clock.move_to(MONDAY_0700 + dt.timedelta(minutes=5))
        h.start().step()
    assert sent_lines(send_log) == ["send 2026-W47 *"]


def test_restarts_keep_exactly_one_weekly_job(harness_for: Any, sqlite_url: str) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        for _ in range(3):
            h.start()
            h.stop()
        engine = open_database(sqlite_url)
        ids = [j.id for j in stored_jobs(engine)]
        engine.dispose()
    assert ids == [WEEKLY_JOB_ID]


def test_changed_trigger_replaces_the_stored_fire_time(
    harness_for: Any, sqlite_url: str, tmp_path: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        h.start()
        h.stop()
        h2 = harness_for(sqlite_url, weekly="tue 08:00")
        h2.start()
        h2.stop()
        engine = open_database(sqlite_url)
        [job] = stored_jobs(engine)
        engine.dispose()
    assert job.next_run_time == dt.datetime(2026, 11, 24, 8, 0, tzinfo=LONDON)


def test_every_fire_leaves_a_result_row(harness_for: Any, sqlite_url: str) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(MONDAY_0700, tick=False):
        h.start().step()
    assert [(r.event, r.outcome) for r in runs(sqlite_url)] == [
        ("fired", None),
        ("result", "sent"),
        ("executed", None),
    ]


def test_spring_forward_week_fires_exactly_once(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, weekly="sun 01:30")
    start = dt.datetime(2026, 3, 28, 12, 0, tzinfo=LONDON)
    with time_machine.travel(start, tick=False) as clock:
        sched = h.start()
        for minutes in range(0, 26 * 60, 15):  # Saturday noon to Sunday 14:00, every 15 min
            clock.move_to(start + dt.timedelta(minutes=minutes))
            sched.step()
    assert sent_lines(send_log) == ["send 2026-W12 *"]


def test_fall_back_week_fires_exactly_once(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, weekly="sun 01:30")
    start = dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        sched = h.start()
        for minutes in range(0, 26 * 60, 15):  # real (UTC) time, so the doubled hour is walked
            clock.move_to(start + dt.timedelta(minutes=minutes))
            sched.step()
    assert sent_lines(send_log) == ["send 2026-W42 *"]


def test_year_boundary_fires_week_53_then_week_1(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url)
    with time_machine.travel(dt.datetime(2027, 1, 3, 12, tzinfo=LONDON), tick=False) as clock:
        sched = h.start()
        clock.move_to(dt.datetime(2027, 1, 4, 7, tzinfo=LONDON))
        sched.step()
        clock.move_to(dt.datetime(2027, 1, 11, 7, tzinfo=LONDON))
        sched.step()
    assert sent_lines(send_log) == ["send 2026-W53 *", "send 2027-W01 *"]


# --- approval gate ----------------------------------------------------------------------------

APPROVAL = {"approval_required": True, "approval_deadline_hours": 6, "approval_check_minutes": 10}


def _fire_with_approval(h: Any, clock: Any) -> Any:
    sched = h.start()
    clock.move_to(MONDAY_0700)
    sched.step()
    return sched


def test_approval_gate_builds_but_does_not_send_at_the_trigger(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        _fire_with_approval(h, clock).step()
    assert sent_lines(send_log) == []
    assert [r.outcome for r in runs(sqlite_url, event="result")] == ["built"]


def test_stored_jobs_carry_only_settings_paths_and_periods(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    """The fake stages were injected into the process: no stored job names code to run."""
    h = harness_for(sqlite_url, **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        _fire_with_approval(h, clock).step()
    engine = open_database(sqlite_url)
    args = {job.id: job.args for job in stored_jobs(engine)}
    engine.dispose()
    assert args == {
        WEEKLY_JOB_ID: (str(h.config),),
        "approval:2026-W47": (
            str(h.config),
            "2026-W47",
            MONDAY_0700.astimezone(dt.UTC).isoformat(),
            (MONDAY_0700 + dt.timedelta(hours=6)).astimezone(dt.UTC).isoformat(),
        ),
    }


def test_approval_before_the_deadline_sends(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=2))
        engine = open_database(sqlite_url)
        approve(engine, "2026-W47", "editor@example.com", MONDAY_0700 + dt.timedelta(hours=2))
        engine.dispose()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=2, minutes=10))
        sched.step()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=3))
        sched.step()
    assert sent_lines(send_log) == ["send 2026-W47 *"]


def test_no_approval_by_the_deadline_skips_and_notifies_editors(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, editors=["ed@example.com"], **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=6, minutes=5))
        sched.step()
    assert sent_lines(send_log) == ["notify ed@example.com Signal Weekly: 2026-W47 was not sent"]
    [resolved] = runs(sqlite_url, event="resolved")
    assert resolved.outcome == "skipped" and "editors notified" in resolved.detail


def test_no_approval_by_the_deadline_sends_when_configured(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, on_deadline="send", **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=6, minutes=5))
        sched.step()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=7))
        sched.step()
    assert sent_lines(send_log) == ["send 2026-W47 *"]


def test_approval_after_the_deadline_changes_nothing(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=6, minutes=5))
        sched.step()
        engine = open_database(sqlite_url)
        approve(
            engine, "2026-W47", "late@example.com", MONDAY_0700 + dt.timedelta(hours=6, minutes=6)
        )
        engine.dispose()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=6, minutes=15))
        sched.step()
    assert sent_lines(send_log) == []


# --- local-time delivery ----------------------------------------------------------------------


def _subscriber(engine: Engine, n: int, zone: str, status: str = "active") -> None:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(subscribers).values(
                email=f"r{n}@example.com",
                email_hash=f"h{n}",
                name="",
                tier="open",
                locale="en",
                timezone=zone,
                interests="",
                status=status,
                created_at=now,
                updated_at=now,
            )
        )


def test_local_time_buckets_go_out_at_seven_local(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, local_time_delivery=True)
    engine = open_database(sqlite_url)
    for n, zone in enumerate(["Europe/London", "Asia/Tokyo", "America/Los_Angeles"]):
        _subscriber(engine, n, zone)
    _subscriber(engine, 9, "Australia/Sydney", status="unsubscribed")
    engine.dispose()
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = h.start()
        clock.move_to(MONDAY_0700)
        sched.step()  # the weekly fire plans the buckets; London's is due at once
        sched.step()
        sent_at = {}
        for hours in range(1, 30):
            clock.move_to(MONDAY_0700 + dt.timedelta(hours=hours))
            before = len(sent_lines(send_log))
            sched.step()
            sent_at.update({line: hours for line in sent_lines(send_log)[before:]})
    # London at once (07:00); Los Angeles 07:00 PST = 15:00 London; Tokyo Tue 07:00 = Mon 22:00.
    assert sent_lines(send_log)[0] == "send 2026-W47 Europe/London"
    assert sent_at == {"send 2026-W47 America/Los_Angeles": 8, "send 2026-W47 Asia/Tokyo": 15}


def test_local_time_buckets_are_recorded_with_their_local_times(
    harness_for: Any, sqlite_url: str
) -> None:
    h = harness_for(sqlite_url, local_time_delivery=True)
    engine = open_database(sqlite_url)
    _subscriber(engine, 1, "Asia/Tokyo")
    engine.dispose()
    with time_machine.travel(MONDAY_0700, tick=False):
        h.start().step()
    [planned] = runs(sqlite_url, event="planned")
    assert (planned.zone, planned.detail) == ("Asia/Tokyo", "local Tue 2026-11-24 07:00 JST")


def test_a_change_after_approval_holds_the_send_until_approved_again(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, **APPROVAL)
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=2))
        engine = open_database(sqlite_url)
        approve(engine, "2026-W47", "editor@example.com", MONDAY_0700 + dt.timedelta(hours=2))
        set_note(engine, parse_period("2026-W47"), "en", "One more thing.", by="ed")
        engine.dispose()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=2, minutes=10))
        sched.step()
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=3))
        sched.step()
    assert sent_lines(send_log) == []


def test_once_approved_buckets_are_planned_the_issue_is_closed_to_changes(
    harness_for: Any, sqlite_url: str, send_log: Path
) -> None:
    h = harness_for(sqlite_url, local_time_delivery=True, **APPROVAL)
    engine = open_database(sqlite_url)
    _subscriber(engine, 1, "Asia/Tokyo")
    with time_machine.travel(SUNDAY_NIGHT, tick=False) as clock:
        sched = _fire_with_approval(h, clock)
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=1))
        approve(engine, "2026-W47", "editor@example.com", MONDAY_0700 + dt.timedelta(hours=1))
        clock.move_to(MONDAY_0700 + dt.timedelta(hours=1, minutes=10))
        sched.step()  # the approval check plans Tokyo's bucket for Tuesday 07:00 JST
        with pytest.raises(FrozenError, match="local-time buckets"):
            set_note(engine, parse_period("2026-W47"), "en", "Too late.", by="ed")
    engine.dispose()
