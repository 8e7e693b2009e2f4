"""The scheduler's jobs: the weekly fire, the approval check and the local-time buckets.

These only sequence steps: what the approval gate decides is `digest.jobs.approval.decide`.

Each job is a module-level function taking only strings (APScheduler pickles a reference to it
and its arguments), loads the settings afresh (config edits apply at the next fire) and runs the
pipeline (`digest.jobs.pipeline.run_period`). What a job must not carry in its pickled arguments
is this process's `Runtime`: the scheduler follow-up jobs are added to, and the pipeline stages
when a test or an embedding injects its own (`use_steps`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from digest.audience.selection import mailable_zones
from digest.config import Settings, load_settings
from digest.delivery.providers import register_settings
from digest.jobs.approval import SKIPPED, approval_deadline, decide, mark_awaiting
from digest.jobs.lock import holder_id
from digest.jobs.pipeline import (
    ALL_STAGES,
    DELIVER_STAGES,
    PREPARE_STAGES,
    PipelineResult,
    PipelineSteps,
    Stage,
    default_steps,
    run_period,
)
from digest.jobs.runs import approval_resolved, record_run
from digest.jobs.timing import bucket_anchor, bucket_times, latest_fire, period_for_fire
from digest.jobs.trigger import parse_weekly, weekly_trigger
from digest.period import Period, parse_period
from digest.storage.db import open_database

log = logging.getLogger(__name__)

WEEKLY_JOB_ID = "weekly"


class ScheduleError(RuntimeError):
    """The schedule cannot run as configured; the message names the setting."""


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def grace(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.schedule.misfire_grace_hours)


# --- what this process's jobs use without carrying it ---------------------------------------


@dataclass
class Runtime:
    """This process's scheduler (for follow-up jobs) and injected stages (None: the real ones)."""

    scheduler: BaseScheduler | None = None
    steps: PipelineSteps | None = None


_RUNTIME = Runtime()


def set_handle(scheduler: BaseScheduler | None) -> None:
    """Make `scheduler` the one this process's jobs add follow-up jobs to."""
    _RUNTIME.scheduler = scheduler


def handle() -> BaseScheduler:
    if _RUNTIME.scheduler is None:
        raise ScheduleError("no scheduler in this process to plan follow-up jobs on")
    return _RUNTIME.scheduler


def use_steps(steps: PipelineSteps | None) -> None:
    """Run these stages in this process's jobs (tests, embedding); None: the real stages.

    Injected into the process, never stored with a job: the job store holds only settings paths
    and periods, so no stored job can name code to run.
    """
    _RUNTIME.steps = steps


# --- the jobs (module level: APScheduler pickles references to them) -----------------------


@dataclass(frozen=True)
class JobContext:
    """What every job body needs, loaded afresh at each run (config edits apply next fire)."""

    settings: Settings
    config_path: str | None
    engine: Engine
    now: dt.datetime

    @property
    def steps(self) -> PipelineSteps:
        return _RUNTIME.steps or default_steps()


def job_context(config_path: str | None, settings: Settings | None = None) -> JobContext:
    register_settings()  # the providers' [sections], which config.py cannot import
    settings = settings or load_settings(config_path)
    return JobContext(settings, config_path, open_database(settings.database.url), now_utc())


def weekly_job(config_path: str | None) -> str:
    """The weekly fire: the period is the one of the latest due fire (late runs included)."""
    ctx = job_context(config_path)
    try:
        zone = ctx.settings.publication.zone
        trigger = weekly_trigger(ctx.settings.schedule.weekly, zone)
        lookback = grace(ctx.settings) + dt.timedelta(days=8)
        fire = latest_fire(trigger, ctx.now, lookback) or ctx.now
        period = period_for_fire(fire, zone)
        return fire_period(ctx, period, fire, job_id=WEEKLY_JOB_ID, kind="weekly")
    finally:
        ctx.engine.dispose()


def fire_period(
    ctx: JobContext, period: Period, fire: dt.datetime, *, job_id: str, kind: str
) -> str:
    """What a fire does for `period`: straight through, or build and wait, or plan buckets."""
    sched = ctx.settings.schedule
    log.info("fire %s for %s (scheduled %s)", job_id, period.key, fire.isoformat())
    record_run(
        ctx.engine,
        job_id=job_id,
        kind=kind,
        event="fired",
        now=ctx.now,
        period_key=period.key,
        scheduled_for=fire,
        holder=holder_id(),
    )

    def run(stages: tuple[Stage, ...]) -> PipelineResult:
        return run_period(
            ctx.settings,
            period.key,
            now=ctx.now,
            steps=ctx.steps,
            stages=stages,
            engine=ctx.engine,
            job_id=job_id,
            kind=kind,
            holder=holder_id(),
        )

    if not sched.approval_required and not sched.local_time_delivery:
        return f"{period.key}: {run(ALL_STAGES).outcome}"
    prepared = run(PREPARE_STAGES)
    if not prepared.ok:
        return f"{period.key}: {prepared.outcome}"
    if sched.approval_required:
        return _await_approval(ctx, period, fire)
    return deliver(ctx, period, fire)


def _await_approval(ctx: JobContext, period: Period, fire: dt.datetime) -> str:
    deadline = approval_deadline(fire, ctx.settings.schedule.approval_deadline_hours)
    mark_awaiting(ctx.engine, period.key)
    job_id = f"approval:{period.key}"
    record_run(
        ctx.engine,
        job_id=job_id,
        kind="approval",
        event="awaiting",
        now=ctx.now,
        period_key=period.key,
        scheduled_for=deadline,
        detail=f"waiting for `digest approve --period {period.key}` until {deadline.isoformat()}",
        holder=holder_id(),
    )
    every = dt.timedelta(minutes=ctx.settings.schedule.approval_check_minutes)
    handle().add_job(
        approval_job,
        IntervalTrigger(
            seconds=every.total_seconds(),
            start_date=ctx.now,
            end_date=deadline + every * 2,
            timezone=dt.UTC,
        ),
        id=job_id,
        name=f"approval check {period.key}",
        args=[ctx.config_path, period.key, fire.isoformat(), deadline.isoformat()],
        replace_existing=True,
        next_run_time=ctx.now,
    )
    log.info("%s built; awaiting approval until %s", period.key, deadline.isoformat())
    return f"{period.key}: awaiting approval until {deadline.isoformat()}"


def approval_job(
    config_path: str | None,
    period_key: str,
    fire_iso: str,
    deadline_iso: str,
) -> str:
    """Re-check the approval: approved → send; past the deadline → the configured action.

    Idempotent: once the period is resolved (a `resolved` row), later checks do nothing; the job
    ends on its own shortly after the deadline.
    """
    ctx = job_context(config_path)
    try:
        return check_approval(ctx, parse_period(period_key), fire_iso, deadline_iso)
    finally:
        ctx.engine.dispose()


def check_approval(ctx: JobContext, period: Period, fire_iso: str, deadline_iso: str) -> str:
    job_id = f"approval:{period.key}"
    fire = dt.datetime.fromisoformat(fire_iso)
    deadline = dt.datetime.fromisoformat(deadline_iso)
    if approval_resolved(ctx.engine, period.key):
        return f"{period.key}: approval already resolved"
    decision = decide(ctx.engine, period.key, ctx.now, deadline, ctx.settings.schedule.on_deadline)
    if not decision.resolved:
        log.info("%s: still awaiting approval (deadline %s)", period.key, deadline_iso)
        return f"{period.key}: awaiting approval"
    outcome, detail = decision.outcome, decision.detail
    record_run(
        ctx.engine,
        job_id=job_id,
        kind="approval",
        event="resolved",
        now=ctx.now,
        period_key=period.key,
        outcome=outcome,
        scheduled_for=deadline,
        detail=detail + _notify_if_skipped(ctx, period, outcome, detail),
        holder=holder_id(),
    )
    log.info("%s: %s", period.key, detail)
    if not decision.sends:
        return f"{period.key}: skipped"
    return deliver(ctx, period, fire)


def _notify_if_skipped(ctx: JobContext, period: Period, outcome: str, detail: str) -> str:
    """Tell the editors an issue was skipped; the note says whether they could be told."""
    if outcome != SKIPPED:
        return ""
    editors = ctx.settings.schedule.editors
    if not editors:
        return "; no editors configured (schedule.editors)"
    notify = ctx.steps.notify
    if notify is None:
        log.warning("%s skipped; cannot email editors: no mail sending in this build", period.key)
        return "; editors NOT notified: no mail sending in this build of digest"
    subject = f"{ctx.settings.publication.name}: {period.key} was not sent"
    body = (
        f"The issue for {period.key} was not approved before its deadline and was skipped.\n"
        f"{detail}\nTo send it now: digest approve --period {period.key} && "
        f"digest schedule trigger --period {period.key}\n"
    )
    try:
        notify(ctx.settings, editors, subject, body)
    except Exception as exc:
        log.exception("notifying editors failed")
        return f"; notifying editors failed: {exc.__class__.__name__}"
    return f"; editors notified ({len(editors)})"


def deliver(ctx: JobContext, period: Period, fire: dt.datetime) -> str:
    """Send now, or plan one job per subscriber time zone (local-time delivery)."""
    if not ctx.settings.schedule.local_time_delivery:
        result = run_period(
            ctx.settings,
            period.key,
            now=ctx.now,
            steps=ctx.steps,
            stages=DELIVER_STAGES,
            engine=ctx.engine,
            job_id=WEEKLY_JOB_ID,
            kind="deliver",
            holder=holder_id(),
        )
        return f"{period.key}: {result.outcome}"
    return plan_buckets(ctx, period, fire)


def plan_buckets(ctx: JobContext, period: Period, fire: dt.datetime) -> str:
    """One date job per zone at its local trigger time; ones already past go out now."""
    settings = ctx.settings
    wall = parse_weekly(settings.schedule.weekly).wall_time
    if wall is None:
        raise ScheduleError(
            "schedule.local_time_delivery needs schedule.weekly to name one time of day"
        )
    zone = settings.publication.zone
    zones = mailable_zones(ctx.engine)
    times = bucket_times(bucket_anchor(period, fire, zone), wall, zones)
    strays = [z for z in zones if z not in times]  # not IANA names: go with the publication
    if strays and settings.publication.timezone not in times:
        times[settings.publication.timezone] = bucket_times(
            bucket_anchor(period, fire, zone), wall, [settings.publication.timezone]
        )[settings.publication.timezone]
    for name, at in sorted(times.items(), key=lambda item: item[1]):
        extra = strays if name == settings.publication.timezone else []
        job_id = f"bucket:{period.key}:{name}"
        run_at = max(at, ctx.now)
        handle().add_job(
            bucket_job,
            DateTrigger(run_date=run_at, timezone=dt.UTC),
            id=job_id,
            name=f"send {period.key} to {name}",
            args=[ctx.config_path, period.key, name, extra],
            replace_existing=True,
        )
        record_run(
            ctx.engine,
            job_id=job_id,
            kind="bucket",
            event="planned",
            now=ctx.now,
            period_key=period.key,
            zone=name,
            scheduled_for=at,
            detail=f"local {at.strftime('%a %Y-%m-%d %H:%M %Z')}"
            + (f"; also {', '.join(extra)}" if extra else ""),
            holder=holder_id(),
        )
    log.info("%s: %d local-time buckets planned", period.key, len(times))
    return f"{period.key}: {len(times)} buckets planned"


def bucket_job(
    config_path: str | None,
    period_key: str,
    zone: str,
    extra_zones: list[str] | None = None,
) -> str:
    """Send the period's issue to the subscribers of one time zone (suppression checked now)."""
    ctx = job_context(config_path)
    try:
        result = run_period(
            ctx.settings,
            period_key,
            now=ctx.now,
            only_timezones={zone, *(extra_zones or [])},
            steps=ctx.steps,
            stages=DELIVER_STAGES,
            engine=ctx.engine,
            job_id=f"bucket:{period_key}:{zone}",
            kind="bucket",
            holder=holder_id(),
        )
        return f"{period_key} {zone}: {result.outcome}"
    finally:
        ctx.engine.dispose()
