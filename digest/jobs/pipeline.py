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
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from digest.audience.csvio import ImportReport, import_file
from digest.config import Settings
from digest.delivery.notify import notify_editors
from digest.delivery.providers import DEFAULT as DEFAULT_PROVIDER
from digest.delivery.providers import configured_provider, make_provider
from digest.delivery.report import SendError, SendReport
from digest.delivery.run import preflight, send_period
from digest.issues.build import BuildResult, build, write_editions
from digest.issues.store import find_issue
from digest.jobs.runs import record_run
from digest.period import Period, latest_week_with, parse_period
from digest.resources import example_audience, example_signals
from digest.signals.ingest import IngestReport, ingest, listed_warnings
from digest.signals.store import latest_published
from digest.storage.db import open_database
from digest.text import counted

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
    result: BuildResult | None = None
    """What the build produced (None from a stage that builds nothing, as tests' fakes do)."""


@dataclass(frozen=True)
class SendSummary:
    """What the send stage reports; the numbers come from the delivery ledger."""

    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    suppressed: int = 0
    detail: str = ""
    report: SendReport | None = None
    """The delivery's own report, for callers that print it (`digest run`)."""


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


def source_paths(settings: Settings) -> tuple[list[str], bool]:
    """What ingest reads, and whether it is the bundled examples: `sources.paths`, or the
    examples when none are configured. The one place that fallback is written."""
    if settings.sources.paths:
        return list(settings.sources.paths), False
    return [str(example_signals())], True


def ingest_sources(settings: Settings, engine: Engine) -> str:
    """The ingest stage: `source_paths` into the store."""
    paths, _ = source_paths(settings)
    report = ingest(engine, paths, settings.sources, class_order=settings.editions.class_order)
    for problem in [*listed_warnings(report.warnings), *report.errors]:
        log.warning("ingest: %s", problem)
    counts = report.counts
    return (
        f"ingested {counted(report.signals, 'signal')} from "
        f"{counted(len(report.sources), 'source')} "
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
    the send stage, for the provider it is about to use (send_for_schedule), as it does for
    `digest send`.
    """
    return list(built.problems)


def send_for_schedule(
    settings: Settings, engine: Engine, built: BuiltIssue, zones: frozenset[str] | None
) -> SendSummary:
    """The real send stage: `digest check`'s preflight for the configured provider, then the
    send, through Celery workers when `celery.enabled`.

    The preflight reuses the check results of the editions the build stage just made (or
    reused): the issue is not built a second time to check it.
    """
    name = configured_provider(settings)
    editions = built.result.editions if built.result is not None else None
    problems = preflight(settings, engine, name, built.period, built=editions)
    if problems:
        raise SendError("digest check failed: " + "; ".join(problems))
    executor = "celery" if settings.celery.enabled else "inprocess"
    return _send(settings, engine, built, zones, name, executor)


def send_to_outbox(
    settings: Settings, engine: Engine, built: BuiltIssue, zones: frozenset[str] | None
) -> SendSummary:
    """`digest run`'s send stage: the registry's default provider (the outbox), in this
    process (nothing leaves the machine)."""
    return _send(settings, engine, built, zones, DEFAULT_PROVIDER, "inprocess")


def _send(
    settings: Settings,
    engine: Engine,
    built: BuiltIssue,
    zones: frozenset[str] | None,
    name: str,
    executor: str,
) -> SendSummary:
    report = send_period(
        settings,
        engine,
        built.period,
        make_provider(name, settings),
        executor=executor,
        timezones=zones,
    )
    where = " on Celery workers" if executor == "celery" else ""
    return SendSummary(
        accepted=report.accepted,
        failed=report.failed,
        uncertain=report.uncertain,
        suppressed=report.suppressed,
        detail=f"{report.sent_now} sent now through {name}{where}; "
        f"{report.skipped} already settled, {report.pending} pending, "
        f"{report.outside_interests} with no signal in their classes",
        report=report,
    )


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
    return PipelineSteps(send=send_for_schedule, notify=notify_editors)


# --- the run ----------------------------------------------------------------------------------


class StageObserver:
    """Hears each stage's output as it comes; the default hears nothing."""

    def built(self, built: BuiltIssue) -> None:
        """The build stage's output."""

    def sent(self, sent: SendSummary) -> None:
        """The send stage's output."""


def _run_stages(
    settings: Settings,
    engine: Engine,
    period: Period,
    now: dt.datetime,
    zones: frozenset[str] | None,
    steps: PipelineSteps,
    stages: Collection[Stage],
    observer: StageObserver,
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
    observer.built(built)
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
            observer.sent(sent)
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
    observer: StageObserver | None = None,
    record: bool = True,
) -> PipelineResult:
    """Run the pipeline for one period and record the result; never raises for a failed stage.

    `observer` hears each stage's output as it comes (`digest run` prints it); `record` False
    leaves `schedule_runs` alone (a run no schedule made).

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
            result = _run_stages(
                settings, engine, period, now, zones, steps, stages, observer or StageObserver()
            )
        except Exception as exc:
            if not record:
                raise
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
        if not record:
            return result
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


# --- `digest run`: the main job, once ----------------------------------------------------------


class MainJobObserver(StageObserver):
    """Hears the main job's steps as they happen (`digest run` prints them)."""

    def sources(self, paths: list[str], on_examples: bool) -> None:
        """Before ingest: what is about to be read."""

    def reading(self, source: str) -> None:
        """Ingest is reading `source` (one call per source)."""

    def ingested(self, report: IngestReport) -> None:
        """After ingest."""

    def audience(self, report: ImportReport | None) -> None:
        """After the example audience was imported (only on the bundled examples); None when
        this installation carries no bundled subscribers folder."""


@dataclass
class MainRun:
    """What the main job did; `result` is None when the store holds no dated signal."""

    ingest: IngestReport
    on_examples: bool
    audience: ImportReport | None = None
    result: PipelineResult | None = None


def build_and_write(
    settings: Settings, engine: Engine, period: Period, now: dt.datetime
) -> BuiltIssue:
    """`digest run`'s build stage: the scheduler's, then the editions written to
    `editions.out_dir` to open in a browser."""
    built = build_frozen(settings, engine, period, now)
    if built.result is not None:
        out_dir = Path(settings.editions.out_dir)
        write_editions(built.result, out_dir, built.result.editions, settings.publication.base_url)
    return built


def _example_audience(settings: Settings, engine: Engine) -> ImportReport | None:
    try:
        path = example_audience()
    except FileNotFoundError:
        return None
    zone, order = settings.publication.timezone, settings.editions.class_order
    return import_file(engine, path, default_zone=zone, class_order=order)


def main_job(
    settings: Settings,
    engine: Engine,
    *,
    now: dt.datetime,
    observer: MainJobObserver | None = None,
) -> MainRun:
    """The weekly job once, on the newest complete week the store holds (`digest run`).

    Ingest (the bundled examples when no source is configured, with the example audience, which
    belongs with them only), then the period's build, check and send through the pipeline
    (`run_period`), to the outbox. A RenderError, SendError or ConfigError is raised as is.
    """
    observer = observer or MainJobObserver()
    paths, on_examples = source_paths(settings)
    observer.sources(paths, on_examples)
    report = ingest(
        engine,
        paths,
        settings.sources,
        progress=observer.reading,
        class_order=settings.editions.class_order,
    )
    run = MainRun(report, on_examples)
    observer.ingested(run.ingest)
    if on_examples:
        run.audience = _example_audience(settings, engine)
        observer.audience(run.audience)
    with engine.connect() as conn:
        period = latest_week_with(latest_published(conn), settings.publication.zone)
    if period is None:
        return run
    steps = PipelineSteps(build=build_and_write, send=send_to_outbox)
    run.result = run_period(
        settings,
        period.key,
        now=now,
        steps=steps,
        stages=DELIVER_STAGES,
        engine=engine,
        job_id="run",
        kind="run",
        observer=observer,
        record=False,
    )
    return run
