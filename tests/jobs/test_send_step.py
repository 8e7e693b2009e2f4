"""The scheduler's send step (`send_for_schedule`): a scheduled send of a built issue."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from digest.config import Settings
from digest.delivery.run import SendError
from digest.period import parse_period
from tests.delivery import conftest as delivery_conftest
from tests.delivery import test_run as delivery_run

# The send tests' fixtures (a seeded issue and its settings), shared rather than copied.
seeded = delivery_conftest.seeded
settings = delivery_run.settings
issue = delivery_run.issue


def test_the_scheduler_step_sends_through_the_outbox_by_default(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace, tmp_path: Path
) -> None:
    from digest.jobs.pipeline import BuiltIssue, send_for_schedule

    seeded.subscribers(engine, 2)
    built = BuiltIssue(parse_period("2026-W47"), issue, 6, 0)
    summary = send_for_schedule(settings, engine, built, None)
    assert summary.accepted == 2
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 2


def test_the_scheduler_step_sends_only_to_the_buckets_zones(
    settings: Settings, engine: Engine, issue: int, seeded: SimpleNamespace
) -> None:
    from digest.jobs.pipeline import BuiltIssue, send_for_schedule

    seeded.subscribers(engine, 2)  # in UTC
    built = BuiltIssue(parse_period("2026-W47"), issue, 6, 0)
    assert send_for_schedule(settings, engine, built, frozenset({"Asia/Tokyo"})).accepted == 0
    assert send_for_schedule(settings, engine, built, frozenset({"UTC"})).accepted == 2


def test_the_scheduler_step_refuses_a_real_send_that_fails_the_check(
    engine: Engine, issue: int, seeded: SimpleNamespace, db_url: str, tmp_path: Path
) -> None:
    from digest.jobs.pipeline import BuiltIssue, send_for_schedule

    settings = Settings.model_validate(
        {"database": {"url": db_url}, "sendgrid": {"api_key": "SG.test"}}
    )
    built = BuiltIssue(parse_period("2026-W47"), issue, 6, 0)
    with pytest.raises(SendError, match=r"publication\.from_email"):
        send_for_schedule(settings, engine, built, None)
