"""run_period: the weekly job's body, with injected stages and with the real ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.issues.controls_store import set_note
from digest.issues.store import find_issue
from digest.jobs.pipeline import (
    PREPARE_STAGES,
    BuiltIssue,
    PipelineSteps,
    SendSummary,
    build_frozen,
    default_steps,
    run_period,
)
from digest.period import Period
from digest.storage.schema import issues, schedule_runs
from tests.issues.controls_data import WEEK, store_week

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []

    def steps(self, problems: list[str] | None = None) -> PipelineSteps:
        def ingest(settings: Settings, engine: Engine) -> str:
            self.log.append("ingest")
            return "ingested"

        def build(
            settings: Settings, engine: Engine, period: Period, now: dt.datetime
        ) -> BuiltIssue:
            self.log.append(f"build {period.key}")
            return BuiltIssue(period, None, 6, 2)

        def check(settings: Settings, engine: Engine, built: BuiltIssue) -> list[str]:
            self.log.append("check")
            return problems or []

        def send(
            settings: Settings, engine: Engine, built: BuiltIssue, zones: frozenset[str] | None
        ) -> SendSummary:
            self.log.append(f"send {sorted(zones) if zones else '*'}")
            return SendSummary(accepted=5)

        return PipelineSteps(ingest, build, check, send)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings.model_validate({"database": {"url": db_url}})


def test_stages_run_in_order(settings: Settings, engine: Engine) -> None:
    calls = Calls()
    run_period(settings, "2026-W47", now=NOW, steps=calls.steps(), engine=engine)
    assert calls.log == ["ingest", "build 2026-W47", "check", "send *"]


def test_a_full_run_is_sent(settings: Settings, engine: Engine) -> None:
    result = run_period(settings, "2026-W47", now=NOW, steps=Calls().steps(), engine=engine)
    assert (result.outcome, result.sent) == ("sent", SendSummary(accepted=5))


def test_only_timezones_reach_the_send(settings: Settings, engine: Engine) -> None:
    calls = Calls()
    run_period(
        settings,
        "2026-W47",
        now=NOW,
        only_timezones={"Asia/Tokyo"},
        steps=calls.steps(),
        engine=engine,
    )
    assert calls.log[-1] == "send ['Asia/Tokyo']"


def test_a_failed_check_stops_before_the_send(settings: Settings, engine: Engine) -> None:
    calls = Calls()
    result = run_period(
        settings, "2026-W47", now=NOW, steps=calls.steps(["open.en: size: too big"]), engine=engine
    )
    assert (result.outcome, calls.log[-1]) == ("check_failed", "check")


def test_prepare_stages_do_not_send(settings: Settings, engine: Engine) -> None:
    calls = Calls()
    result = run_period(
        settings, "2026-W47", now=NOW, steps=calls.steps(), stages=PREPARE_STAGES, engine=engine
    )
    assert (result.outcome, "send *" in calls.log) == ("built", False)


def test_without_a_send_step_the_run_says_so(settings: Settings, engine: Engine) -> None:
    steps = replace(Calls().steps(), send=None)
    result = run_period(settings, "2026-W47", now=NOW, steps=steps, engine=engine)
    assert result.outcome == "send_not_wired"


def test_every_run_is_recorded(settings: Settings, engine: Engine) -> None:
    run_period(settings, "2026-W47", now=NOW, steps=Calls().steps(), engine=engine, kind="manual")
    run_period(settings, "2026-W47", now=NOW, steps=Calls().steps(), engine=engine, kind="manual")
    with engine.connect() as conn:
        rows = conn.execute(select(schedule_runs.c.period_key, schedule_runs.c.outcome)).all()
    assert [tuple(r) for r in rows] == [("2026-W47", "sent"), ("2026-W47", "sent")]


def test_a_failing_stage_is_recorded_and_raised(settings: Settings, engine: Engine) -> None:
    def broken(settings: Settings, engine: Engine) -> str:
        raise RuntimeError("feed down")

    steps = replace(Calls().steps(), ingest=broken)
    with pytest.raises(RuntimeError):
        run_period(settings, "2026-W47", now=NOW, steps=steps, engine=engine)
    with engine.connect() as conn:
        row = conn.execute(select(schedule_runs.c.outcome, schedule_runs.c.detail)).one()
    assert tuple(row) == ("failed", "RuntimeError: feed down")


def test_period_given_as_a_range_is_the_same_week(settings: Settings, engine: Engine) -> None:
    calls = Calls()
    run_period(settings, "2026-11-16..2026-11-22", now=NOW, steps=calls.steps(), engine=engine)
    assert "build 2026-W47" in calls.log


def test_real_stages_ingest_the_examples_and_build_the_issue(tmp_path: Path) -> None:
    settings = Settings.model_validate({"database": {"url": f"sqlite:///{tmp_path / 'd.db'}"}})
    steps = replace(default_steps(), send=None)
    from digest.storage.db import open_database

    engine = open_database(settings.database.url)
    with engine.connect():
        pass
    from digest.resources import example_signals
    from digest.signals.ingest import ingest
    from digest.signals.store import latest_published

    ingest(engine, [str(example_signals())], settings.sources)
    with engine.connect() as conn:
        latest = latest_published(conn)
    assert latest is not None
    key = f"{latest.isocalendar()[0]}-W{latest.isocalendar()[1]:02d}"
    result = run_period(settings, key, now=NOW, steps=steps, engine=engine)
    assert result.built is not None and result.built.editions >= 6
    with engine.connect() as conn:
        assert conn.execute(select(issues.c.period_key)).scalars().all() == [key]
    engine.dispose()


def test_a_real_run_builds_the_issue_once_and_checks_what_it_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send stage's preflight reads the build's check results; it makes no trial build."""
    import digest.delivery.check as check
    import digest.jobs.pipeline as pipeline
    from digest.delivery.report import SendError
    from digest.storage.db import open_database

    builds: list[str] = []
    real_build = pipeline.build

    def counted(*args: object, **kwargs: object) -> object:
        builds.append("build")
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "build", counted)
    monkeypatch.setattr(check, "build", counted)
    settings = Settings.model_validate(
        {"database": {"url": f"sqlite:///{tmp_path / 'd.db'}"}, "smtp": {"url": "smtp://x:25"}}
    )
    engine = open_database(settings.database.url)
    with pytest.raises(SendError, match=r"publication\.from_email"):  # a real send, refused
        run_period(settings, "2026-W47", now=NOW, steps=default_steps(), engine=engine)
    engine.dispose()
    assert builds == ["build"]


def test_digest_runs_job_is_the_pipeline_on_the_newest_week(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`digest run` = main_job: ingest (the examples), then run_period's build, check, send."""
    from digest.jobs.pipeline import main_job
    from digest.storage.db import open_database

    monkeypatch.chdir(tmp_path)  # editions and the outbox go to ./out and ./outbox
    settings = Settings.model_validate({"database": {"url": f"sqlite:///{tmp_path / 'd.db'}"}})
    engine = open_database(settings.database.url)
    run = main_job(settings, engine, now=NOW)
    engine.dispose()
    assert run.on_examples and run.audience is not None and run.audience.ok
    assert run.result is not None
    assert (run.result.period_key, run.result.stages) == ("2026-W47", ["build", "check", "send"])
    assert run.result.sent is not None and run.result.sent.accepted == 16


def test_the_examples_stand_in_for_sources_in_one_place() -> None:
    from digest.jobs.pipeline import source_paths
    from digest.resources import example_signals

    assert source_paths(Settings()) == ([str(example_signals())], True)
    configured = Settings.model_validate({"sources": {"paths": ["a.md"]}})
    assert source_paths(configured) == (["a.md"], False)


def test_the_scheduled_build_rebuilds_editions_an_editor_made_stale(engine: Engine) -> None:
    store_week(engine)
    build_frozen(Settings(), engine, WEEK, NOW)
    set_note(engine, WEEK, "en", "Read *this* first.", by="ed")
    built = build_frozen(Settings(), engine, WEEK, NOW)
    assert built.result is not None and not built.result.reused
    row = find_issue(engine, WEEK)
    assert row is not None and row.stale_at is None
