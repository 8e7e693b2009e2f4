"""Executors: who runs the batches of a plan. One small interface, two implementations.

`InProcess` runs `run_batch` in this process: for a provider that answers per message,
`provider.parallel` lanes of batches; for one that answers per request (SendGrid), one lane
whose batches overlap on their own (the next is prepared while one is on the wire, and one
thread does all the ledger writes: see `digest.delivery.batch`). The Celery executor
(`digest.delivery.distributed`) publishes the same batches as tasks that workers run with the
same `run_batch`. Neither opens nor finishes a send: `digest.delivery.run.send_period` does
that, the same way for both.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine, func, select

from digest.config import Settings
from digest.delivery import ledger
from digest.delivery.batch import BatchJob, BatchOutcome, recover, run_batch
from digest.delivery.links import LinkValues
from digest.delivery.plan import Plan, stored_message
from digest.delivery.provider import MAX_BATCH, Provider
from digest.delivery.report import Progress, SendReport
from digest.issues.editions import Edition
from digest.issues.render.i18n import translations
from digest.storage.schema import deliveries as d

MAX_RETRY_WAIT = 60.0
"""Longest pause a provider's retry-after can impose between batches."""

OPEN_STATES = (ledger.State.QUEUED.value, ledger.State.SENDING.value)


class Executor(Protocol):
    """Runs a plan's queued rows through the provider until none is left (or it gives up)."""

    def run(self, plan: Plan, report: SendReport, progress: Progress | None) -> None: ...


def lease_of(settings: Settings) -> dt.timedelta:
    """How long a claim lives without a heartbeat."""
    return dt.timedelta(seconds=settings.celery.lease_seconds)


def open_rows(engine: Engine, plan: Plan) -> int:
    """Rows of the plan still queued or being sent: one count, no grouping."""
    query = select(func.count()).where(
        d.c.issue_id == plan.issue_id, d.c.edition_id.in_(plan.scope), d.c.state.in_(OPEN_STATES)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def reassigned(found: ledger.Recovery) -> str:
    """The progress line's note when a dead sender's or worker's claims were settled."""
    queued = found.moved.get(ledger.State.QUEUED, 0)
    uncertain = found.moved.get(ledger.State.UNCERTAIN, 0)
    return (
        f"reassigned {queued} rows of dead worker {', '.join(found.workers)}"
        f" ({uncertain} in flight now uncertain)"
    )


def _held_by_others(engine: Engine, plan: Plan) -> int:
    """Rows of the plan in `sending`: once this sender's lanes are done, others hold them."""
    query = select(func.count()).where(
        d.c.issue_id == plan.issue_id,
        d.c.edition_id.in_(plan.scope),
        d.c.state == ledger.State.SENDING.value,
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@dataclass
class InProcess:
    """Runs the batches here, edition by edition, `provider.parallel` at a time."""

    settings: Settings
    engine: Engine
    provider: Provider
    links: LinkValues
    batch_size: int = MAX_BATCH
    max_attempts: int = 3
    sleep: Callable[[float], None] = time.sleep
    worker: str = field(default_factory=ledger.worker_id)

    def __post_init__(self) -> None:
        self._claims = itertools.count(1)
        self._lock = threading.Lock()
        self._done = 0

    def run(self, plan: Plan, report: SendReport, progress: Progress | None) -> None:
        with self.engine.connect() as conn:
            total = sum(
                ledger.count_queued(conn, plan.issue_id, e.stored_id) for e in plan.editions
            )
        if progress:
            progress(0, total)
        try:
            self._editions(plan, report, progress, total)
            self._take_over(plan, report, progress, total)
        finally:
            self.provider.close()

    def _editions(
        self, plan: Plan, report: SendReport, progress: Progress | None, total: int
    ) -> None:
        for edition in plan.editions:
            # A provider answering per request overlaps its own batches (see run_batch).
            lanes = max(1, self.provider.parallel) if self.provider.per_message else 1
            with ThreadPoolExecutor(lanes, thread_name_prefix="digest-send") as pool:
                running = [
                    pool.submit(self._lane, plan, edition, report, progress, total)
                    for _ in range(lanes)
                ]
                for lane in running:
                    lane.result()

    def _take_over(
        self, plan: Plan, report: SendReport, progress: Progress | None, total: int
    ) -> None:
        """Rows other senders still hold: wait for them, and send those of a sender that died
        (its lease lapsed) — so one of two senders dying costs a lease, not the rest of its
        share. Gives up after `celery.give_up_after` seconds without change (rows `pending`)."""
        lease = lease_of(self.settings)
        patience = self.settings.celery.give_up_after
        held, since = _held_by_others(self.engine, plan), time.monotonic()
        while held and time.monotonic() - since < patience:
            self.sleep(min(lease.total_seconds() / 3, 5.0))
            found = recover(self.engine, plan.issue_id, plan.period.key, self.provider, lease)
            if found.moved:
                note = reassigned(found)
                report.notes.append(note)
                if progress:
                    progress(min(self._done, total), total, note)
                self._editions(plan, report, progress, total)
            now_held = _held_by_others(self.engine, plan)
            if now_held != held:
                held, since = now_held, time.monotonic()

    def _lane(
        self,
        plan: Plan,
        edition: Edition,
        report: SendReport,
        progress: Progress | None,
        total: int,
    ) -> None:
        """Batches of one edition, one after another, until none is queued."""
        message = stored_message(self.settings, plan.period, plan.issue_id, edition)
        job = BatchJob(
            plan.issue_id,
            edition.stored_id,
            plan.period.key,
            self.provider.name,
            self.batch_size,
            self.max_attempts,
        )
        fallback = translations(edition.locale).gettext("reader")
        lease = lease_of(self.settings)

        def told(outcome: BatchOutcome) -> None:
            with self._lock:
                self._done += outcome.taken
                report.sent_now += outcome.accepted
                if progress:
                    progress(min(self._done, total), total)

        while True:
            claim = f"{self.worker}:{next(self._claims)}"
            outcome = run_batch(
                self.engine,
                job,
                self.provider,
                self.links,
                message,
                fallback_name=fallback,
                lease=lease,
                worker=claim,
                batches=None,
                on_batch=told,
            )
            if outcome.retry_after is None:
                return
            self.sleep(min(outcome.retry_after, MAX_RETRY_WAIT))
