"""The scheduler's process: `digest schedule run` (standby, lock, signals) and `trigger`.

One active scheduler per database: a process waits for the lock (standing by while another
holds it), schedules until SIGTERM/SIGINT, and exits 1 when it loses the lock so a supervisor
restarts it as a standby. Every job is harmless to run twice: the build reuses the frozen issue,
the ledger sends each subscriber at most once, and `schedule_runs` shows every fire, skip and
result.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.base import BaseScheduler

from digest.config import Settings
from digest.jobs.lock import holder_id, scheduler_lock, wait_for_lock
from digest.jobs.pipeline import PipelineSteps
from digest.jobs.scheduler import StoreWriter, make_scheduler, prepare, stored_jobs
from digest.jobs.timing import period_for_fire
from digest.jobs.weekly import fire_period, job_context, set_handle, use_steps
from digest.period import parse_period
from digest.storage.db import open_database

log = logging.getLogger(__name__)

WATCHDOG_JOB_ID = "lock-watchdog"


def absolute_config(config_path: str | None) -> str | None:
    """Jobs outlive the working directory they were created in: store an absolute path."""
    return str(Path(config_path).resolve()) if config_path else None


def run_forever(
    settings: Settings,
    config_path: str | None,
    *,
    steps: PipelineSteps | None = None,
    on_active: Callable[[BaseScheduler], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Wait for the lock (standby), then schedule until SIGTERM/SIGINT; the exit status.

    `steps` replaces the pipeline's stages for this process's jobs (tests); it is never stored
    with a job. Returns 0 after a clean stop and 1 when the lock was lost (the database
    connection that held it dropped), so a supervisor restarts this process as a standby.
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
        prepare(scheduler, settings, engine, config_path)

        def watchdog() -> None:
            if not lock.still_held():
                log.critical("scheduler lock lost: stopping so a standby can take over")
                lost.set()
                stop.set()

        scheduler.add_job(watchdog, "interval", seconds=poll, id=WATCHDOG_JOB_ID, jobstore="memory")
        if on_active is not None:
            on_active(scheduler)
        set_handle(scheduler)
        use_steps(steps)
        if stop.is_set():
            return 0
        for job in stored_jobs(engine):
            log.info("job %s next at %s", job.id, job.next_run_time)
        scheduler.start()  # blocks until `stop` is set
        scheduler.shutdown(wait=True)  # jobs in flight finish before the lock is released
        engine.dispose()
    finally:
        set_handle(None)
        use_steps(None)
        lock.release()
    return 1 if lost.is_set() else 0


def trigger_now(
    settings: Settings,
    config_path: str | None,
    period_text: str | None = None,
    *,
    steps: PipelineSteps | None = None,
) -> str:
    """`digest schedule trigger`: run the weekly job body now, in this process.

    Follow-up jobs (approval checks, local-time buckets) are written to the job store, where the
    running scheduler picks them up within `schedule.standby_poll_seconds` (or the next
    `digest schedule run` does).
    """
    config_path = absolute_config(config_path)
    ctx = job_context(config_path, settings)
    writer = make_scheduler(settings, StoreWriter)
    writer.start(paused=True)  # never runs jobs: it only writes follow-ups to the store
    set_handle(writer)
    use_steps(steps)
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
        use_steps(None)
        writer.shutdown(wait=False)
        ctx.engine.dispose()
