"""`digest schedule run`: one APScheduler per database firing the weekly pipeline.

Jobs live in a SQLAlchemyJobStore on the publication's own database, with explicit ids and
`replace_existing=True`, so a restart never adds copies. A restart keeps a stored fire time that
is already due (APScheduler would otherwise recompute it from "now" and silently drop the fire
missed during downtime); the configurable grace with coalescing then runs it once, or records
it as skipped. Job callables are module-level functions taking only strings (jobs are pickled),
and every job is harmless to run twice: the build reuses the frozen issue, the ledger sends
each subscriber at most once, and `schedule_runs` shows every fire, skip and result.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pickle
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, inspect, select

from digest.audience.selection import mailable
from digest.config import Settings, load_settings
from digest.delivery.providers import register_settings
from digest.period import Period, parse_period
from digest.pipeline import (
    ALL_STAGES,
    DELIVER_STAGES,
    PREPARE_STAGES,
    PipelineResult,
    PipelineSteps,
    Stage,
    default_steps,
    record_run,
    run_period,
)
from digest.schedule.approval import approved_at, mark_awaiting
from digest.schedule.lock import holder_id, scheduler_lock, wait_for_lock
from digest.schedule.timing import bucket_anchor, bucket_times, latest_fire, period_for_fire
from digest.schedule.trigger import parse_weekly
from digest.storage.db import create, open_database
from digest.storage.schema import schedule_runs, subscribers

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
WEEKLY_JOB_ID = "weekly"
WATCHDOG_JOB_ID = "lock-watchdog"

_HANDLE: BaseScheduler | None = None
"""This process's scheduler: jobs add their follow-up jobs (approval checks, buckets) to it."""


class ScheduleError(RuntimeError):
    """The schedule cannot run as configured; the message names the setting."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def grace(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.schedule.misfire_grace_hours)


# --- pluggable steps (for tests and embedding) ------------------------------------------------


def resolve_steps(ref: str | None) -> PipelineSteps:
    """`module:attr` naming a PipelineSteps or a factory of one; None = the real stages.

    Jobs are pickled, so they carry the steps by name rather than as objects.
    """
    if ref is None:
        return default_steps()
    module, _, attr = ref.partition(":")
    found = getattr(importlib.import_module(module), attr)
    steps = found if isinstance(found, PipelineSteps) else found()
    if not isinstance(steps, PipelineSteps):
        raise TypeError(f"{ref} is not a PipelineSteps")
    return steps


# --- the jobs (module level: APScheduler pickles references to them) -----------------------


@dataclass(frozen=True)
class JobContext:
    """What every job body needs, loaded afresh at each run (config edits apply next fire)."""

    settings: Settings
    config_path: str | None
    steps_ref: str | None
    engine: Engine
    now: dt.datetime

    @property
    def steps(self) -> PipelineSteps:
        return resolve_steps(self.steps_ref)


def _context(
    config_path: str | None, steps_ref: str | None, settings: Settings | None = None
) -> JobContext:
    register_settings()  # the providers' [sections], which config.py cannot import
    settings = settings or load_settings(config_path)
    return JobContext(
        settings, config_path, steps_ref, open_database(settings.database.url), _now()
    )


def weekly_job(config_path: str | None, steps_ref: str | None = None) -> str:
    """The weekly fire: the period is the one of the latest due fire (late runs included)."""
    ctx = _context(config_path, steps_ref)
    try:
        zone = ctx.settings.publication.zone
        trigger = parse_weekly(ctx.settings.schedule.weekly).cron(zone)
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
    deadline = fire + dt.timedelta(hours=ctx.settings.schedule.approval_deadline_hours)
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
    _handle().add_job(
        approval_job,
        IntervalTrigger(
            seconds=every.total_seconds(),
            start_date=ctx.now,
            end_date=deadline + every * 2,
            timezone=dt.UTC,
        ),
        id=job_id,
        name=f"approval check {period.key}",
        args=[ctx.config_path, period.key, fire.isoformat(), deadline.isoformat(), ctx.steps_ref],
        replace_existing=True,
        next_run_time=ctx.now,
    )
    log.info("%s built; awaiting approval until %s", period.key, deadline.isoformat())
    return f"{period.key}: awaiting approval until {deadline.isoformat()}"


def _resolved(engine: Engine, period_key: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(schedule_runs.c.id)
            .where(schedule_runs.c.period_key == period_key)
            .where(schedule_runs.c.kind == "approval")
            .where(schedule_runs.c.event == "resolved")
            .limit(1)
        ).first()
    return found is not None


def approval_job(
    config_path: str | None,
    period_key: str,
    fire_iso: str,
    deadline_iso: str,
    steps_ref: str | None = None,
) -> str:
    """Re-check the approval: approved → send; past the deadline → the configured action.

    Idempotent: once the period is resolved (a `resolved` row), later checks do nothing; the job
    ends on its own shortly after the deadline.
    """
    ctx = _context(config_path, steps_ref)
    try:
        return check_approval(ctx, parse_period(period_key), fire_iso, deadline_iso)
    finally:
        ctx.engine.dispose()


def check_approval(ctx: JobContext, period: Period, fire_iso: str, deadline_iso: str) -> str:
    job_id = f"approval:{period.key}"
    fire = dt.datetime.fromisoformat(fire_iso)
    deadline = dt.datetime.fromisoformat(deadline_iso)
    if _resolved(ctx.engine, period.key):
        return f"{period.key}: approval already resolved"
    approved = approved_at(ctx.engine, period.key)
    on_deadline = ctx.settings.schedule.on_deadline
    if approved is None and ctx.now < deadline:
        log.info("%s: still awaiting approval (deadline %s)", period.key, deadline_iso)
        return f"{period.key}: awaiting approval"
    if approved is not None:
        outcome, detail = "approved", f"approved at {approved.isoformat()}"
    elif on_deadline == "send":
        outcome, detail = "deadline_send", f"not approved by {deadline_iso}: sending anyway"
    else:
        outcome = "skipped"
        detail = f"not approved by {deadline_iso}: skipped (schedule.on_deadline = skip)"
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
    if outcome == "skipped":
        return f"{period.key}: skipped"
    return deliver(ctx, period, fire)


def _notify_if_skipped(ctx: JobContext, period: Period, outcome: str, detail: str) -> str:
    """Tell the editors an issue was skipped; the note says whether they could be told."""
    if outcome != "skipped":
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


def active_zones(engine: Engine) -> list[str]:
    """The distinct time zones of mailable subscribers: one delivery bucket each."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(subscribers.c.timezone).where(mailable(subscribers)).distinct()
        ).scalars()
        return sorted({str(z) for z in rows if z})


def plan_buckets(ctx: JobContext, period: Period, fire: dt.datetime) -> str:
    """One date job per zone at its local trigger time; ones already past go out now."""
    settings = ctx.settings
    wall = parse_weekly(settings.schedule.weekly).wall_time
    if wall is None:
        raise ScheduleError(
            "schedule.local_time_delivery needs schedule.weekly to name one time of day"
        )
    zone = settings.publication.zone
    zones = active_zones(ctx.engine)
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
        _handle().add_job(
            bucket_job,
            DateTrigger(run_date=run_at, timezone=dt.UTC),
            id=job_id,
            name=f"send {period.key} to {name}",
            args=[ctx.config_path, period.key, name, extra, ctx.steps_ref],
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
    steps_ref: str | None = None,
) -> str:
    """Send the period's issue to the subscribers of one time zone (suppression checked now)."""
    ctx = _context(config_path, steps_ref)
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


def _handle() -> BaseScheduler:
    if _HANDLE is None:
        raise ScheduleError("no scheduler in this process to plan follow-up jobs on")
    return _HANDLE


def set_handle(scheduler: BaseScheduler | None) -> None:
    """Make `scheduler` the one this process's jobs add follow-up jobs to."""
    global _HANDLE
    _HANDLE = scheduler


# --- building the scheduler -------------------------------------------------------------------


def _period_of_job(job_id: str, scheduled: dt.datetime | None, settings: Settings) -> str | None:
    parts = job_id.split(":")
    if len(parts) >= 2:
        return parts[1]
    if job_id == WEEKLY_JOB_ID and scheduled is not None:
        return period_for_fire(scheduled, settings.publication.zone).key
    return None


def make_listener(settings: Settings, engine: Engine) -> Callable[[JobExecutionEvent], None]:
    """Record every executed, missed (skipped) and failed job in `schedule_runs`."""

    def listener(event: JobExecutionEvent) -> None:
        if event.jobstore != "default":  # the in-memory housekeeping jobs
            return
        now = _now()
        scheduled: dt.datetime | None = event.scheduled_run_time
        period = _period_of_job(event.job_id, scheduled, settings)
        zone = event.job_id.split(":")[2] if event.job_id.count(":") >= 2 else None
        kind = event.job_id.split(":")[0]
        if event.code == EVENT_JOB_MISSED:
            late = now - scheduled if scheduled else dt.timedelta(0)
            detail = (
                f"missed by {_human(late)}, beyond schedule.misfire_grace_hours = "
                f"{settings.schedule.misfire_grace_hours:g} (the scheduler was down or busy)"
            )
            code, outcome = "missed", "skipped"
            log.warning("skipped %s for %s: %s", event.job_id, period, detail)
        elif event.code == EVENT_JOB_ERROR:
            detail = f"{event.exception.__class__.__name__}: {event.exception}"
            code, outcome = "error", "failed"
            log.error("job %s for %s failed: %s", event.job_id, period, detail)
        else:
            detail = str(event.retval or "")
            code, outcome = "executed", None
            log.info("job %s for %s done: %s", event.job_id, period, detail)
        try:
            record_run(
                engine,
                job_id=event.job_id,
                kind=kind,
                event=code,
                now=now,
                period_key=period,
                zone=zone,
                outcome=outcome,
                scheduled_for=scheduled,
                detail=detail,
                holder=holder_id(),
            )
        except Exception:
            log.exception("could not record %s of job %s", code, event.job_id)

    return listener


def _human(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


class StoppableScheduler(BlockingScheduler):  # type: ignore[misc]
    """A BlockingScheduler whose loop also ends when `stop` is set (by a signal handler).

    Calling `shutdown` from a signal handler or another thread races the main loop (APScheduler
    3 then fails to remove a finished one-off job and raises), so the loop checks the flag at
    least every `TICK` seconds and the caller shuts down on the main thread.
    """

    TICK = 0.5

    def __init__(self, *args: Any, stop: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requested = stop

    def _main_loop(self) -> None:
        wait_seconds: float | None = 0.0
        while self.state != STATE_STOPPED and not self.stop_requested.is_set():
            self._event.wait(self.TICK if wait_seconds is None else min(wait_seconds, self.TICK))
            self._event.clear()
            if not self.stop_requested.is_set():
                wait_seconds = self._process_jobs()


def make_scheduler(
    settings: Settings,
    scheduler_cls: type[BaseScheduler] = StoppableScheduler,
    executor: Any = None,
    stop: threading.Event | None = None,
) -> BaseScheduler:
    """A scheduler on the database's job store, with the schedule's job defaults."""
    store = SQLAlchemyJobStore(engine=create(settings.database.url), tablename=JOBSTORE_TABLE)
    extra: dict[str, Any] = (
        {"stop": stop or threading.Event()} if scheduler_cls is StoppableScheduler else {}
    )
    return scheduler_cls(
        timezone=settings.publication.zone,
        jobstores={"default": store, "memory": MemoryJobStore()},
        executors={"default": executor or ThreadPoolExecutor(4)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(grace(settings).total_seconds()),
        },
        **extra,
    )


@dataclass(frozen=True)
class StoredJob:
    """A job as the store holds it, read without a running scheduler (`schedule list`)."""

    id: str
    next_run_time: dt.datetime | None
    trigger: str
    trigger_zone: str
    args: tuple[Any, ...]


def stored_jobs(engine: Engine) -> list[StoredJob]:
    """Every job in the store, soonest first; [] before the first `digest schedule run`."""
    if not inspect(engine).has_table(JOBSTORE_TABLE):
        return []
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    jobs: list[StoredJob] = []
    with engine.connect() as conn:
        rows = conn.execute(select(store.jobs_t.c.id, store.jobs_t.c.job_state)).all()
    for row in rows:
        try:
            state = pickle.loads(row.job_state)
        except Exception:
            log.warning("job %s in the store cannot be read", row.id)
            continue
        trigger = state["trigger"]
        jobs.append(
            StoredJob(
                row.id,
                state.get("next_run_time"),
                str(trigger),
                str(getattr(trigger, "timezone", "")),
                tuple(state.get("args", ())),
            )
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(jobs, key=lambda j: (j.next_run_time or far, j.id))


def install_weekly_job(
    scheduler: BaseScheduler,
    settings: Settings,
    engine: Engine,
    config_path: str | None,
    steps_ref: str | None = None,
) -> None:
    """Add (or replace) the weekly job, keeping a stored fire time that is still owed.

    Replacing the job recomputes its next fire from "now", which would forget a fire missed
    while the scheduler was down; so when the trigger and arguments are unchanged the stored
    next run time is kept, and the grace decides whether it still runs.
    """
    trigger = parse_weekly(settings.schedule.weekly).cron(settings.publication.zone)
    args = (config_path, steps_ref)
    kwargs: dict[str, Any] = {}
    for job in stored_jobs(engine):
        same = (job.trigger, job.trigger_zone) == (str(trigger), str(trigger.timezone))
        if job.id == WEEKLY_JOB_ID and same and job.args == args and job.next_run_time:
            kwargs["next_run_time"] = job.next_run_time
    scheduler.add_job(
        weekly_job,
        trigger,
        id=WEEKLY_JOB_ID,
        name="weekly issue",
        args=list(args),
        replace_existing=True,
        **kwargs,
    )


def prepare(
    scheduler: BaseScheduler,
    settings: Settings,
    engine: Engine,
    config_path: str | None,
    steps_ref: str | None = None,
) -> None:
    """Listeners and the weekly job on a not-yet-started scheduler."""
    if (
        settings.schedule.local_time_delivery
        and parse_weekly(settings.schedule.weekly).wall_time is None
    ):
        raise ScheduleError(
            "schedule.local_time_delivery needs schedule.weekly to name one time of day"
        )
    scheduler.add_listener(
        make_listener(settings, engine), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
    )
    install_weekly_job(scheduler, settings, engine, config_path, steps_ref)


def absolute_config(config_path: str | None) -> str | None:
    """Jobs outlive the working directory they were created in: store an absolute path."""
    return str(Path(config_path).resolve()) if config_path else None


# --- the long-running process -----------------------------------------------------------------


def run_forever(
    settings: Settings,
    config_path: str | None,
    *,
    steps_ref: str | None = None,
    on_active: Callable[[BaseScheduler], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Wait for the lock (standby), then schedule until SIGTERM/SIGINT; the exit status.

    Returns 0 after a clean stop and 1 when the lock was lost (the database connection that
    held it dropped), so a supervisor restarts this process as a standby.
    """
    config_path = absolute_config(config_path)
    url = settings.database.url
    stop = threading.Event()
    lost = threading.Event()
    poll = settings.schedule.standby_poll_seconds

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only set flags here: a handler runs between two bytecodes of the main thread, perhaps
        # while it holds the scheduler's locks, so the main loop itself notices and stops.
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    if install_signals:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    lock = scheduler_lock(url)
    standby = lambda: log.info("another scheduler holds %s: standing by", lock.describe())  # noqa: E731
    if not wait_for_lock(lock, poll, stop, standby):
        return 0
    try:
        log.info("scheduler active (%s, %s)", holder_id(), lock.describe())
        engine = open_database(url)
        scheduler = make_scheduler(settings, stop=stop)
        prepare(scheduler, settings, engine, config_path, steps_ref)

        def watchdog() -> None:
            if not lock.still_held():
                log.critical("scheduler lock lost: stopping so a standby can take over")
                lost.set()
                stop.set()

        scheduler.add_job(watchdog, "interval", seconds=poll, id=WATCHDOG_JOB_ID, jobstore="memory")
        if on_active is not None:
            on_active(scheduler)
        set_handle(scheduler)
        if stop.is_set():
            return 0
        for job in stored_jobs(engine):
            log.info("job %s next at %s", job.id, job.next_run_time)
        scheduler.start()  # blocks until `stop` is set
        scheduler.shutdown(wait=True)  # jobs in flight finish before the lock is released
        engine.dispose()
    finally:
        set_handle(None)
        lock.release()
    return 1 if lost.is_set() else 0


class _StoreWriter(BackgroundScheduler):  # type: ignore[misc]
    """A scheduler that only writes jobs to the store and never runs one.

    APScheduler processes jobs once more while shutting down a paused BackgroundScheduler (its
    loop wakes with the state already `stopped`, not `paused`), which submitted the freshly
    written follow-up to a closed executor and logged a traceback. Follow-ups belong to the
    running `digest schedule run`.
    """

    def _process_jobs(self) -> float | None:
        return None


def trigger_now(
    settings: Settings,
    config_path: str | None,
    period_text: str | None = None,
    *,
    steps_ref: str | None = None,
) -> str:
    """`digest schedule trigger`: run the weekly job body now, in this process.

    Follow-up jobs (approval checks, local-time buckets) are written to the job store, where the
    running scheduler picks them up within `schedule.standby_poll_seconds` (or the next
    `digest schedule run` does).
    """
    config_path = absolute_config(config_path)
    ctx = _context(config_path, steps_ref, settings)
    writer = make_scheduler(settings, _StoreWriter)
    writer.start(paused=True)  # never runs jobs: it only writes follow-ups to the store
    set_handle(writer)
    try:
        zone = settings.publication.zone
        if period_text:
            period = parse_period(period_text)
            fire = ctx.now
        else:
            fire = ctx.now
            period = period_for_fire(fire, zone)
        return fire_period(ctx, period, fire, job_id=f"manual:{period.key}", kind="manual")
    finally:
        set_handle(None)
        writer.shutdown(wait=False)
        ctx.engine.dispose()
