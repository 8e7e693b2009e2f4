"""Sending over many machines: Celery workers run the batches, the ledger keeps them exactly once.

`Celery` is an executor (see `digest.delivery.executors`): given a plan whose rows are queued,
it publishes one task per batch — one edition × at most `celery.batch_size` recipients — and
follows progress *from the ledger*, not from Celery results (there is no result backend). A
worker runs the task with the same `run_batch` as the in-process executor.

Why a redelivered or duplicated task is harmless: a task carries no recipients, only "claim up
to N queued rows of edition E", and claiming goes through the ledger (row locks, SKIP LOCKED on
PostgreSQL), so rows another worker holds, or that are settled, are never taken again.

Why a lost worker costs a minute, not the evening: its claim is a lease its heartbeat renews.
Once the lease lapses (`celery.lease_seconds`), whoever looks next — any worker starting a
batch, or the sender, which looks at every poll — settles the dead claim: rows never handed to
the provider go back to the queue (the sender publishes tasks for them at once and says so on
its progress line); only the rows in flight become `uncertain`. The sender also re-publishes
tasks when progress stalls (`celery.republish_after`), e.g. after a Redis restart without
persistence.

The broker settings: `task_acks_late` (a task is acknowledged after it ran, so one killed
mid-batch is redelivered: at once by RabbitMQ, after the visibility timeout by Redis),
`task_reject_on_worker_lost` (a pool child killed under a live worker also returns its task),
`worker_prefetch_multiplier=1` (a worker holds no more tasks than it runs).

Celery is imported only when this path is used: the Quickstart never needs it or a broker.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from digest.config import Settings
from digest.delivery.batch import BatchJob, BatchOutcome, recover, run_batch
from digest.delivery.executors import (
    MAX_RETRY_WAIT,
    OPEN_STATES,
    lease_of,
    open_rows,
    reassigned,
)
from digest.delivery.heap import quiet_collector
from digest.delivery.links import FastTokens, LinkValues, signing_keys
from digest.delivery.plan import Plan, stored_message
from digest.delivery.provider import Provider
from digest.delivery.providers import make_provider, spec
from digest.delivery.report import Progress, SendError, SendReport
from digest.issues.editions import Edition
from digest.issues.render.i18n import translations
from digest.issues.store import stored_edition
from digest.period import parse_period
from digest.storage.db import open_database
from digest.storage.schema import deliveries as d

log = logging.getLogger(__name__)

TASK_NAME = "digest.send_batch"


# --- the Celery app ----------------------------------------------------------------------------


def celery_config(settings: Settings, broker_url: str | None = None) -> dict[str, Any]:
    """The Celery settings a digest worker and sender share (see the module docstring)."""
    conf = settings.celery
    return {
        "broker_url": broker_url or conf.broker_url,
        "task_default_queue": conf.queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Redis: how long a taken, unacknowledged task waits before another worker gets it,
        # and how often workers look for such tasks (kombu's default sweep is every ~100 s).
        "broker_transport_options": {
            "visibility_timeout": conf.visibility_timeout,
            "unacked_restore_interval": max(1, min(10, conf.visibility_timeout // 3)),
            "unacked_restore_throttle": 1,
        },
        "task_ignore_result": True,  # progress is read from the ledger: no result backend
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker outlives a broker restart
        # A task still running when the broker connection drops finishes its batch; the copy
        # the broker redelivers then finds its rows settled (cancelling it would only make
        # them uncertain).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        "enable_utc": True,
    }


def make_app(settings: Settings, broker_url: str | None = None) -> Any:
    """A Celery app configured from `settings`, with the batch task registered.

    The task runs `BatchRunner.run` of a runner made from these same settings; a worker
    process builds its engine and providers lazily, after the pool has forked.
    """
    from celery import Celery  # Celery only for a distributed send: the Quickstart needs none

    app = Celery("digest", set_as_current=False)
    app.conf.update(celery_config(settings, broker_url))
    runner = BatchRunner(settings)

    @app.task(bind=True, name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_batch_task(self: Any, **job: Any) -> dict[str, Any]:
        batch = BatchJob(**job)
        try:
            with quiet_collector():  # as in-process sends (digest.delivery.heap)
                outcome = runner.run(batch)
        except DBAPIError as exc:  # the database blinked: nothing of this batch was recorded
            wait = backoff(self.request.retries)
            raise self.retry(exc=exc, countdown=wait, max_retries=10) from exc
        if outcome.retry_after is not None and self.request.retries < batch.max_attempts:
            wait = backoff(self.request.retries, outcome.retry_after)
            raise self.retry(countdown=wait, max_retries=batch.max_attempts)
        return asdict(outcome)

    return app


def backoff(retries: int, asked: float | None = None) -> float:
    """Seconds before retry number `retries` + 1: exponential with jitter, at least what the
    provider asked for, at most a minute."""
    wait = max(asked or 0.0, min(2.0**retries, MAX_RETRY_WAIT))
    return min(wait * random.uniform(1.0, 1.25), MAX_RETRY_WAIT)


# --- one batch, as a worker runs it ------------------------------------------------------------


class BatchRunner:
    """A worker process's state: its engine, providers and link signer, made on first use.

    Made per process id, because a prefork pool forks after the app is built and a database
    connection or SMTP socket must never be shared across a fork; providers are also per
    thread (`--pool threads`), since an SMTP connection carries one conversation at a time.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = -1
        self._engine: Engine | None = None
        self._local = threading.local()
        self._links: dict[bool, LinkValues] = {}
        self._editions: dict[int, Edition] = {}

    def _fresh(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._engine = None
            self._local = threading.local()
            self._links = {}

    @property
    def engine(self) -> Engine:
        self._fresh()
        if self._engine is None:
            self._engine = open_database(self.settings.database.url)
        return self._engine

    def provider(self, name: str) -> Provider:
        self._fresh()
        providers: dict[str, Provider] = self._local.__dict__.setdefault("providers", {})
        if name not in providers:
            providers[name] = make_provider(name, self.settings)
        return providers[name]

    def links(self, provider: str) -> LinkValues:
        """Signed-link values; the outbox may use the database's generated key, as in-process."""
        real = spec(provider).leaves_machine
        self._fresh()
        if real not in self._links:
            keys, _note = signing_keys(self.settings, self.engine, allow_local=not real)
            self._links[real] = LinkValues(FastTokens(keys), self.settings.publication.base_url)
        return self._links[real]

    def edition(self, edition_id: int) -> Edition:
        """Frozen editions never change, so each is read once per process (a few kept)."""
        if edition_id not in self._editions:
            if len(self._editions) >= 32:
                self._editions.clear()
            with self.engine.connect() as conn:
                self._editions[edition_id] = stored_edition(conn, edition_id)
        return self._editions[edition_id]

    def run(self, job: BatchJob) -> BatchOutcome:
        """Settle dead claims of the issue, then run one batch (`run_batch`).

        A worker settles another machine's lapsed claims only after twice the lease: the sender,
        polling all along, gets there first and says so on its progress line; the worker's own
        settling is the fallback for a send whose sender is gone.
        """
        provider = self.provider(job.provider)
        lease = lease_of(self.settings)
        recovered = recover(self.engine, job.issue_id, job.period_key, provider, 2 * lease)
        edition = self.edition(job.edition_id)
        period = parse_period(job.period_key)
        outcome = run_batch(
            self.engine,
            job,
            provider,
            self.links(job.provider),
            stored_message(self.settings, period, job.issue_id, edition),
            fallback_name=translations(edition.locale).gettext("reader"),
            lease=lease,
        )
        if recovered.moved:
            moved = {str(k): v for k, v in recovered.moved.items()}
            outcome = BatchOutcome(outcome.taken, outcome.accepted, outcome.retry_after, moved)
        log.info(
            "batch of edition %s: %s taken, %s accepted%s",
            job.edition_id,
            outcome.taken,
            outcome.accepted,
            f", recovered {outcome.recovered}" if outcome.recovered else "",
        )
        return outcome


# --- the executor: publish, follow, reassign ---------------------------------------------------


def _open_by_edition(engine: Engine, plan: Plan) -> dict[int, int]:
    """Rows still queued or being sent, per edition."""
    query = (
        select(d.c.edition_id, func.count())
        .where(
            d.c.issue_id == plan.issue_id,
            d.c.edition_id.in_(plan.scope),
            d.c.state.in_(OPEN_STATES),
        )
        .group_by(d.c.edition_id)
    )
    with engine.connect() as conn:
        return {int(e): int(n) for e, n in conn.execute(query)}


@contextmanager
def _app_for(settings: Settings, app: Any) -> Iterator[Any]:
    if app is not None:
        yield app
        return
    made = make_app(settings)
    try:
        yield made
    finally:
        made.close()


def publish(app: Any, settings: Settings, engine: Engine, plan: Plan, provider: str) -> int:
    """One task per batch of every edition's open rows; returns how many were published."""
    conf = settings.celery
    jobs = [
        BatchJob(
            plan.issue_id,
            edition_id,
            plan.period.key,
            provider,
            conf.batch_size,
            conf.max_attempts,
        )
        for edition_id, rows in sorted(_open_by_edition(engine, plan).items())
        for _ in range(math.ceil(rows / conf.batch_size))
    ]
    with app.producer_or_acquire() as producer:
        for job in jobs:
            app.send_task(TASK_NAME, kwargs=asdict(job), queue=conf.queue, producer=producer)
    return len(jobs)


@dataclass
class Celery:
    """The Celery executor: publishes a plan's batches, follows the ledger, reassigns dead
    workers' rows. Returns once no row in scope is open, or after `celery.give_up_after`
    seconds without progress (the rest reported `pending`; the published tasks still run)."""

    settings: Settings
    engine: Engine
    provider: str
    app: Any = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def run(self, plan: Plan, report: SendReport, progress: Progress | None) -> None:
        conf = self.settings.celery
        with _app_for(self.settings, self.app) as app:
            try:
                published = publish(app, self.settings, self.engine, plan, self.provider)
            except Exception as exc:  # kombu's OperationalError and friends: broker unreachable
                raise SendError(
                    f"cannot publish to the broker {conf.broker_url}: {exc}; the rows stay "
                    "queued (run again, or send in-process with --executor inprocess)"
                ) from None
            log.info("published %s tasks for plan of issue %s", published, plan.issue_id)
            _Follower(app, self, plan, make_provider(self.provider, self.settings)).run(
                progress, report
            )


@dataclass
class _Follower:
    """Polls the ledger until nothing is open; settles dead claims and re-publishes."""

    app: Any
    executor: Celery
    plan: Plan
    provider: Provider

    def republish(self, why: str) -> None:
        ex = self.executor
        try:
            again = publish(self.app, ex.settings, ex.engine, self.plan, ex.provider)
            log.warning("%s: re-published %s tasks for the open rows", why, again)
        except Exception as exc:  # the broker is down: try again at the next stall
            log.warning("re-publishing failed (%s); will try again", exc)

    def reassign(self, report: SendReport) -> str | None:
        """Settle claims whose lease lapsed; a note for the progress line when there were any."""
        ex = self.executor
        lease = lease_of(ex.settings)
        found = recover(ex.engine, self.plan.issue_id, self.plan.period.key, self.provider, lease)
        if not found.moved:
            return None
        for state, n in found.moved.items():
            report.recovered[str(state)] = report.recovered.get(str(state), 0) + n
        note = reassigned(found)
        report.notes.append(note)
        self.republish(note)
        return note

    def run(self, progress: Progress | None, report: SendReport) -> None:
        ex = self.executor
        conf = ex.settings.celery
        total = open_rows(ex.engine, self.plan)
        last_open, last_change, last_publish = total, ex.clock(), ex.clock()
        if progress:
            progress(0, total)
        pause = conf.poll_seconds
        while last_open:
            ex.sleep(pause)
            asked = ex.clock()
            note = self.reassign(report)
            still, now = open_rows(ex.engine, self.plan), ex.clock()
            if note and progress:
                progress(max(0, total - still), total, note)
            # Counting a million open rows takes a while: poll at most a tenth of the time, so
            # following never competes much with the workers for the database.
            pause = max(conf.poll_seconds, 9 * (now - asked))
            if still != last_open:
                last_open, last_change = still, now
                if progress:
                    progress(max(0, total - still), total)
                continue
            if now - last_change >= conf.give_up_after:
                report.notes.append(
                    f"{still} recipients still open after {conf.give_up_after:.0f} s without "
                    "progress: are workers running (`digest worker`)? Their tasks stay queued."
                )
                return
            if now - max(last_change, last_publish) >= conf.republish_after:
                last_publish = now
                self.republish("no progress")
