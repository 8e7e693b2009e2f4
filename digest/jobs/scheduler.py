"""APScheduler plumbing: the scheduler on the database's job store, its listener, stored jobs.

Jobs live in a SQLAlchemyJobStore on the publication's own database, with explicit ids and
`replace_existing=True`, so a restart never adds copies. A restart keeps a stored fire time that
is already due (APScheduler would otherwise recompute it from "now" and silently drop the fire
missed during downtime); the configurable grace with coalescing then runs it once, or records
it as skipped. What the jobs do is `digest.jobs.weekly`; the process around them is
`digest.jobs.process`.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
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
from sqlalchemy import Engine, inspect, select

from digest.config import Settings
from digest.jobs.lock import holder_id
from digest.jobs.runs import record_run
from digest.jobs.timing import period_for_fire
from digest.jobs.trigger import parse_weekly, weekly_trigger
from digest.jobs.weekly import WEEKLY_JOB_ID, ScheduleError, grace, now_utc, weekly_job
from digest.storage.db import create

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"


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
        now = now_utc()
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
) -> None:
    """Add (or replace) the weekly job, keeping a stored fire time that is still owed.

    Replacing the job recomputes its next fire from "now", which would forget a fire missed
    while the scheduler was down; so when the trigger and arguments are unchanged the stored
    next run time is kept, and the grace decides whether it still runs.
    """
    trigger = weekly_trigger(settings.schedule.weekly, settings.publication.zone)
    args = (config_path,)
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
    install_weekly_job(scheduler, settings, engine, config_path)


class StoreWriter(BackgroundScheduler):  # type: ignore[misc]
    """A scheduler that only writes jobs to the store and never runs one.

    APScheduler processes jobs once more while shutting down a paused BackgroundScheduler (its
    loop wakes with the state already `stopped`, not `paused`), which submitted the freshly
    written follow-up to a closed executor and logged a traceback. Follow-ups belong to the
    running `digest schedule run`.
    """

    def _process_jobs(self) -> float | None:
        return None
