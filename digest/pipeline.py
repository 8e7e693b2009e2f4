"""The weekly job's body: ingest, build the period's issue, check it, send it.

One function, `run_period`, is what the scheduler fires, what `digest schedule trigger` runs and
what a local-time bucket runs for its zone. The four stages are plain callables gathered in
`PipelineSteps`, so tests inject fakes and each stage can be swapped for the real one as it
lands (the send orchestrator is wired here once it exists). Running it twice for one period is
harmless by construction: the build reuses the frozen issue and the delivery ledger sends each
subscriber at most once. Every run's result is recorded in `schedule_runs`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Engine, insert

from digest.config import Settings
from digest.period import Period, parse_period
from digest.storage.db import open_database
from digest.storage.schema import schedule_runs

log = logging.getLogger(__name__)

Stage = Literal["ingest", "build", "check", "send"]
ALL_STAGES: tuple[Stage, ...] = ("ingest", "build", "check", "send")
PREPARE_STAGES: tuple[Stage, ...] = ("ingest", "build", "check")
"""What the approval gate runs at the trigger time: everything but the send."""
DELIVER_STAGES: tuple[Stage, ...] = ("build", "check", "send")
"""What a later send runs (approval, local-time bucket): the build reuses the frozen issue."""

Outcome = Literal["sent", "built", "check_failed", "send_not_wired", "failed"]


@dataclass(frozen=True)
class BuiltIssue:
    """What the build stage hands the check and send stages."""

    period: Period
    issue_id: int | None
    editions: int
    signals: int
    problems: tuple[str, ...] = ()
    """Inbox-check failures found while building (one line per edition and check)."""
    result: Any = None
    """What the build produced (`digest.build.BuildResult` for the real stage)."""


@dataclass(frozen=True)
class SendSummary:
    """What the send stage reports; the numbers come from the delivery ledger."""

    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    suppressed: int = 0
    detail: str = ""


IngestStep = Callable[[Settings, Engine], str]
BuildStep = Callable[[Settings, Engine, Period, dt.datetime], BuiltIssue]
CheckStep = Callable[[Settings, Engine, BuiltIssue], list[str]]
SendStep = Callable[[Settings, Engine, BuiltIssue, frozenset[str] | None], SendSummary]
NotifyStep = Callable[[Settings, list[str], str, str], None]
"""Email editors (settings, addresses, subject, text) through the configured provider."""


@dataclass
class PipelineResult:
    """One run of the pipeline for one period (and, for a local-time bucket, some zones)."""

    period_key: str
    outcome: Outcome
    stages: list[Stage] = field(default_factory=list)
    detail: str = ""
    only_timezones: frozenset[str] | None = None
    built: BuiltIssue | None = None
    sent: SendSummary | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("sent", "built")


# --- the real stages --------------------------------------------------------------------------


def ingest_sources(settings: Settings, engine: Engine) -> str:
    """Ingest `sources.paths`, or the bundled examples when there are none (as `digest run`)."""
    from digest.ingest import ingest, listed_warnings
    from digest.resources import example_signals

    paths = settings.sources.paths or [str(example_signals())]
    report = ingest(engine, paths, settings.sources)
    for problem in [*listed_warnings(report.warnings), *report.errors]:
        log.warning("ingest: %s", problem)
    counts = report.counts
    return (
        f"ingested {report.signals} signals from {len(report.sources)} sources "
        f"({counts.new} new, {counts.updated} updated, {len(report.errors)} errors, "
        f"{len(report.warnings)} warnings)"
    )


def build_frozen(
    settings: Settings, engine: Engine, period: Period, now: dt.datetime
) -> BuiltIssue:
    """`digest build`'s workflow: reuse the period's frozen editions, else build and freeze.

    Freezing happens only when every inbox check passed, so a failed build leaves no issue to
    approve or send; the check stage then stops the run and says why.
    """
    from digest.build import build
    from digest.storage.editions import find_issue

    result = build(settings, period, engine=engine)
    problems = tuple(
        f"{e.tier}.{e.locale}: {c.name}: {c.message}" for e in result.editions for c in e.failures
    )
    row = find_issue(engine, period)
    signals = sum(1 for s in result.signals if not s.internal)
    return BuiltIssue(
        period, row.id if row else None, len(result.editions), signals, problems, result
    )


def check_built(settings: Settings, engine: Engine, built: BuiltIssue) -> list[str]:
    """The inbox checks found at build time.

    `digest check`'s preflight of the settings (From address, https, keys, credentials) runs in
    the send step, for the provider it is about to use (send_for_schedule), as it does for
    `digest send`.
    """
    return list(built.problems)


@dataclass(frozen=True)
class PipelineSteps:
    """The pipeline's stages; `default_steps()` gives the real ones, tests pass fakes.

    With `send` None the run stops after the check with outcome `send_not_wired`, which
    `digest schedule list` shows. `notify` tells editors about a skipped issue (approval
    deadline); None means the skip is recorded but nobody is emailed.
    """

    ingest: IngestStep = ingest_sources
    build: BuildStep = build_frozen
    check: CheckStep = check_built
    send: SendStep | None = None
    notify: NotifyStep | None = None


def default_steps() -> PipelineSteps:
    """The real stages."""
    # Imported here: the send package imports the editions and audience code, which the
    # scheduler's start-up does not otherwise need. In-process, or through Celery workers when
    # celery.enabled (the distributed module decides per run, from its settings).
    from digest.delivery.notify import notify_editors
    from digest.delivery.run import send_for_schedule

    return PipelineSteps(send=send_for_schedule, notify=notify_editors)


# --- the run ----------------------------------------------------------------------------------


def record_run(
    engine: Engine,
    *,
    job_id: str,
    kind: str,
    event: str,
    now: dt.datetime,
    period_key: str | None = None,
    zone: str | None = None,
    outcome: str | None = None,
    scheduled_for: dt.datetime | None = None,
    detail: str = "",
    holder: str = "",
) -> None:
    """Append one row to `schedule_runs` (the scheduler's visible memory)."""
    with engine.begin() as conn:
        conn.execute(
            insert(schedule_runs).values(
                job_id=job_id,
                kind=kind,
                event=event,
                period_key=period_key,
                zone=zone,
                outcome=outcome,
                scheduled_for=scheduled_for,
                recorded_at=now,
                detail=detail[:4000],
                holder=holder,
            )
        )


def _run_stages(
    settings: Settings,
    engine: Engine,
    period: Period,
    now: dt.datetime,
    zones: frozenset[str] | None,
    steps: PipelineSteps,
    stages: Collection[Stage],
) -> PipelineResult:
    result = PipelineResult(period.key, "built", only_timezones=zones)
    notes: list[str] = []
    if "ingest" in stages:
        notes.append(steps.ingest(settings, engine))
        result.stages.append("ingest")
    if not ({"build", "check", "send"} & set(stages)):
        result.detail = "; ".join(notes)
        return result
    built = steps.build(settings, engine, period, now)
    result.built = built
    result.stages.append("build")
    notes.append(f"built {built.editions} editions of {built.signals} signals")
    if "check" in stages:
        problems = steps.check(settings, engine, built)
        result.stages.append("check")
        if problems:
            result.outcome = "check_failed"
            result.detail = "; ".join([*notes, *problems])
            return result
    if "send" in stages:
        if steps.send is None:
            result.outcome = "send_not_wired"
            notes.append("no send step in this build of digest: nothing was sent")
        else:
            sent = steps.send(settings, engine, built, zones)
            result.sent = sent
            result.stages.append("send")
            result.outcome = "sent"
            notes.append(
                f"sent: {sent.accepted} accepted, {sent.failed} failed, "
                f"{sent.uncertain} uncertain, {sent.suppressed} suppressed"
            )
    result.detail = "; ".join(n for n in notes if n)
    return result


def run_period(
    settings: Settings,
    period_key: str,
    *,
    now: dt.datetime,
    only_timezones: Collection[str] | None = None,
    steps: PipelineSteps | None = None,
    stages: Collection[Stage] = ALL_STAGES,
    engine: Engine | None = None,
    job_id: str = "manual",
    kind: str = "manual",
    holder: str = "",
) -> PipelineResult:
    """Run the pipeline for one period and record the result; never raises for a failed stage.

    `now` is the moment the run counts as happening (the scheduled fire time, or the clock), so
    tests pass a fixed one. `only_timezones` limits the send to subscribers in those IANA zones
    (a local-time bucket). A stage that raises is recorded as `failed` and re-raised, so the
    scheduler's error event sees it too.
    """
    period = parse_period(period_key)
    zones = frozenset(only_timezones) if only_timezones is not None else None
    steps = steps or default_steps()
    own_engine = engine is None
    engine = engine or open_database(settings.database.url)
    zone_label = ",".join(sorted(zones)) if zones else None
    try:
        try:
            result = _run_stages(settings, engine, period, now, zones, steps, stages)
        except Exception as exc:
            record_run(
                engine,
                job_id=job_id,
                kind=kind,
                event="result",
                now=now,
                period_key=period.key,
                zone=zone_label,
                outcome="failed",
                detail=f"{exc.__class__.__name__}: {exc}",
                holder=holder,
            )
            log.exception("pipeline for %s failed", period.key)
            raise
        log.info(
            "pipeline %s %s: %s (%s)", period.key, zone_label or "", result.outcome, result.detail
        )
        record_run(
            engine,
            job_id=job_id,
            kind=kind,
            event="result",
            now=now,
            period_key=period.key,
            zone=zone_label,
            outcome=result.outcome,
            detail=result.detail,
            holder=holder,
        )
        return result
    finally:
        if own_engine:
            engine.dispose()


def with_send(steps: PipelineSteps, send: SendStep) -> PipelineSteps:
    """The same steps with `send` wired (for callers that hold a provider)."""
    return replace(steps, send=send)
