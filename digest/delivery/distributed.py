"""Sending over many machines: Celery workers take one batch each, the ledger keeps it exactly once.

The in-process send (`digest.delivery.run.send_period`) claims, sends and records batches in a loop.
Here the sender does the same preparation (editions, ledger rows queued before anything leaves),
then publishes one task per batch — one edition × at most `celery.batch_size` recipients — and
follows progress *from the ledger*, not from Celery results (there is no result backend).

Why a redelivered or duplicated task is harmless: a task carries no recipients, only "claim up
to N queued rows of edition E". It claims through `ledger.claim` (row locks, SKIP LOCKED on
PostgreSQL), so rows another worker is sending, or that are settled, are never taken again.
Before claiming it settles the `sending` rows of senders that are gone (`ledger.recover`): on
the same host the process id tells exactly; the outbox can prove which files exist; otherwise
they become `uncertain`, never re-sent by guess. Every task's effect is a function of the
ledger, so the broker may deliver a task twice, or lose it: the sender re-publishes tasks for
rows still open once progress stalls (`celery.republish_after`), e.g. after a Redis restart
without persistence.

The broker settings that make a lost worker survivable: `task_acks_late` (a task is acknowledged
after it ran, so one killed mid-batch is redelivered: at once by RabbitMQ, after the visibility
timeout by Redis), `task_reject_on_worker_lost` (a pool child killed under a live worker also
returns its task), `worker_prefetch_multiplier=1` (a worker holds no more tasks than it runs,
so a dead one strands no backlog).

Celery is imported only when this path is used: the Quickstart never needs it or a broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from digest.audience.model import Status
from digest.audience.store import set_status
from digest.audience.tokens import MissingSecretKey
from digest.config import Settings
from digest.delivery import ledger
from digest.delivery.links import FastTokens, LinkValues, signing_keys
from digest.delivery.provider import BOUNCE_PREFIX, MAX_BATCH, Outcome, Provider, Recipient, Result
from digest.delivery.run import (
    MAX_RETRY_WAIT,
    REAL_PROVIDERS,
    Progress,
    SendError,
    SendReport,
    StoredEdition,
    _finish,
    _groups,
    _issue_classes,
    _message,
    _proof,
    frozen_editions,
    send_period,
    start_sending,
)
from digest.issues.render.i18n import translations
from digest.period import Period, parse_period
from digest.storage.db import open_database
from digest.storage.schema import deliveries as d
from digest.storage.schema import editions as et

log = logging.getLogger(__name__)

TASK_NAME = "digest.send_batch"
OPEN_STATES = (ledger.State.QUEUED.value, ledger.State.SENDING.value)


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
    from celery import Celery

    app = Celery("digest", set_as_current=False)
    app.conf.update(celery_config(settings, broker_url))
    runner = BatchRunner(settings)

    @app.task(bind=True, name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_batch_task(self: Any, **job: Any) -> dict[str, Any]:
        batch = BatchJob(**job)
        try:
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


@dataclass(frozen=True)
class BatchJob:
    """A task's arguments: which edition to claim from, and how. JSON-safe on purpose."""

    issue_id: int
    edition_id: int
    period_key: str
    provider: str
    batch_size: int = MAX_BATCH
    max_attempts: int = 3


@dataclass(frozen=True)
class BatchOutcome:
    """What one task did: rows taken, accepted now, recovered, and whether to retry (seconds)."""

    taken: int
    accepted: int
    retry_after: float | None = None
    recovered: dict[str, int] = field(default_factory=dict)


def send_batch(
    settings: Settings,
    engine: Engine,
    job: BatchJob,
    provider: Provider,
    links: LinkValues,
    *,
    edition: StoredEdition | None = None,
    worker: str | None = None,
) -> BatchOutcome:
    """Settle dead claims, claim up to `job.batch_size` queued rows of one edition, send, record.

    Safe to run any number of times for the same job (see the module docstring). Returns the
    seconds to wait before retrying when the provider answered RETRYABLE for some rows (they
    are back to `queued`, or `failed` past `job.max_attempts`). `edition` saves reading the
    stored edition (its HTML) again when the caller keeps it.
    """
    period = parse_period(job.period_key)
    now = _now()
    with engine.begin() as conn:
        recovered = ledger.recover(conn, job.issue_id, now, never_sent=_proof(provider, period))
    worker = worker or ledger.worker_id()  # unique per claim: the claim's rows are found by it
    with engine.begin() as conn:
        claimed, taken = ledger.claim(
            conn, job.issue_id, job.edition_id, worker, job.batch_size, _now()
        )
    moved = {str(k): v for k, v in recovered.items() if v}
    if not claimed:
        return BatchOutcome(taken, 0, None, moved)
    if edition is None or edition.id != job.edition_id:
        edition = read_edition(engine, job.edition_id)
    message = _message(settings, period, job.issue_id, edition)
    fallback = translations(edition.locale).gettext("reader")
    recipients = []
    for c in claimed:
        html_values, text_values, unsubscribe = links.values(
            c.subscriber_id, c.email, c.name, fallback
        )
        recipients.append(
            Recipient(c.subscriber_id, c.email, c.name, html_values, text_values, unsubscribe)
        )
    try:
        results = provider.send(message, recipients)
    except Exception as exc:  # a provider bug or crash mid-call: the batch's fate is unknown
        log.exception("provider %s raised during a send", provider.name)
        results = [
            Result(r.subscriber_id, Outcome.UNCERTAIN, f"provider raised {exc!r}")
            for r in recipients
        ]
    by_subscriber = {c.subscriber_id: c for c in claimed}
    pairs = [(by_subscriber[r.subscriber_id].delivery_id, r) for r in results]
    bounces = [
        by_subscriber[r.subscriber_id].email
        for r in results
        if r.outcome is Outcome.FAILED and (r.reason or "").startswith(BOUNCE_PREFIX)
    ]
    with engine.begin() as conn:
        counts = ledger.record(
            conn,
            worker,
            pairs,
            provider.name,
            _now(),
            job.max_attempts,
            issue_id=job.issue_id,  # finds the claim's rows through the claim index
            edition_id=job.edition_id,
        )
        for email in bounces:
            set_status(conn, email, Status.BOUNCED, "hard bounce at send time")
    retry_after = None
    if counts.get(Outcome.RETRYABLE):
        asked = [r.retry_after for r in results if r.retry_after is not None]
        retry_after = max(asked) if asked else 1.0
    return BatchOutcome(taken, counts.get(Outcome.ACCEPTED, 0), retry_after, moved)


def read_edition(engine: Engine, edition_id: int) -> StoredEdition:
    """One frozen edition by id, as the worker sends it."""
    columns = (et.c.id, et.c.tier, et.c.locale, et.c.interests_key, et.c.subject, et.c.html)
    with engine.connect() as conn:
        row = conn.execute(select(*columns, et.c.text).where(et.c.id == edition_id)).one()
    return StoredEdition(*row)


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
        self._editions: dict[int, StoredEdition] = {}

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
        from digest.delivery import make_provider

        self._fresh()
        providers: dict[str, Provider] = self._local.__dict__.setdefault("providers", {})
        if name not in providers:
            providers[name] = make_provider(name, self.settings)
        return providers[name]

    def links(self, provider: str) -> LinkValues:
        """Signed-link values; the outbox may use the database's generated key, as in-process."""
        real = provider in REAL_PROVIDERS
        self._fresh()
        if real not in self._links:
            keys, _note = signing_keys(self.settings, self.engine, allow_local=not real)
            self._links[real] = LinkValues(FastTokens(keys), self.settings.publication.base_url)
        return self._links[real]

    def edition(self, edition_id: int) -> StoredEdition:
        """Frozen editions never change, so each is read once per process (a few kept)."""
        if edition_id not in self._editions:
            if len(self._editions) >= 32:
                self._editions.clear()
            self._editions[edition_id] = read_edition(self.engine, edition_id)
        return self._editions[edition_id]

    def run(self, job: BatchJob) -> BatchOutcome:
        outcome = send_batch(
            self.settings,
            self.engine,
            job,
            self.provider(job.provider),
            self.links(job.provider),
            edition=self.edition(job.edition_id),
        )
        log.info(
            "batch of edition %s: %s taken, %s accepted%s",
            job.edition_id,
            outcome.taken,
            outcome.accepted,
            f", recovered {outcome.recovered}" if outcome.recovered else "",
        )
        return outcome


# --- the sender: queue, publish, follow --------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _open_by_edition(engine: Engine, issue_id: int, scope: list[int]) -> dict[int, int]:
    """Rows still queued or being sent, per edition."""
    query = (
        select(d.c.edition_id, func.count())
        .where(d.c.issue_id == issue_id, d.c.edition_id.in_(scope), d.c.state.in_(OPEN_STATES))
        .group_by(d.c.edition_id)
    )
    with engine.connect() as conn:
        return {int(e): int(n) for e, n in conn.execute(query)}


@dataclass
class _Prepared:
    issue_id: int
    scope: list[int]
    total: int
    accepted_before: int


def _prepare(
    settings: Settings,
    engine: Engine,
    period: Period,
    provider: str,
    report: SendReport,
    tiers: Collection[str] | None,
    timezones: Collection[str] | None,
    resend_uncertain: bool,
) -> _Prepared:
    """What `send_period` does before its loop: editions, keys, recovery, queued ledger rows."""
    issue_id, editions = frozen_editions(settings, engine, period)
    report.issue_id = issue_id
    if tiers is not None:
        editions = [e for e in editions if e.tier in tiers]
    try:  # generated here, before any worker needs it, when the outbox may use a local key
        _keys, note = signing_keys(settings, engine, allow_local=provider not in REAL_PROVIDERS)
    except MissingSecretKey as exc:
        raise SendError(str(exc)) from None
    if note:
        report.notes.append(note)
    with engine.connect() as conn:
        groups = _groups(conn, editions, _issue_classes(conn, editions), tiers)
    scope = [e.id for e in editions]
    now = _now()
    with engine.begin() as conn:
        before = start_sending(
            conn, issue_id, scope, groups, now, timezones, resend_uncertain=resend_uncertain
        )
        report.skipped = sum(before.get(str(st), 0) for st in ledger.FINAL)
        counts = ledger.state_counts(conn, issue_id, scope)
    total = sum(counts.get(s, 0) for s in OPEN_STATES)
    return _Prepared(issue_id, scope, total, before.get(ledger.State.ACCEPTED.value, 0))


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


def publish(
    app: Any,
    settings: Settings,
    engine: Engine,
    period: Period,
    provider: str,
    prepared: _Prepared,
) -> int:
    """One task per batch of every edition's open rows; returns how many were published."""
    batch = settings.celery.batch_size
    jobs = [
        BatchJob(
            prepared.issue_id,
            edition_id,
            period.key,
            provider,
            batch,
            settings.celery.max_attempts,
        )
        for edition_id, rows in sorted(
            _open_by_edition(engine, prepared.issue_id, prepared.scope).items()
        )
        for _ in range(math.ceil(rows / batch))
    ]
    with app.producer_or_acquire() as producer:
        for job in jobs:
            app.send_task(
                TASK_NAME, kwargs=asdict(job), queue=settings.celery.queue, producer=producer
            )
    return len(jobs)


def send_distributed(
    settings: Settings,
    engine: Engine,
    period: Period,
    provider: str,
    *,
    tiers: Collection[str] | None = None,
    timezones: Collection[str] | None = None,
    dry_run: bool = False,
    test_to: str | None = None,
    resend_uncertain: bool = False,
    progress: Progress | None = None,
    app: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SendReport:
    """`send_period`, fanned out to Celery workers; the same report and exit codes.

    Dry runs and test sends touch no ledger rows and need no workers: they run in-process.
    Returns once no row in scope is open, or after `celery.give_up_after` seconds without
    progress (the rest reported `pending`, exit 3; the published tasks still run later).
    """
    if dry_run or test_to is not None:
        from digest.delivery import make_provider

        return send_period(
            settings,
            engine,
            period,
            make_provider(provider, settings),
            tiers=tiers,
            timezones=timezones,
            dry_run=dry_run,
            test_to=test_to,
        )
    report = SendReport(period.key, provider)
    if provider == "outbox":
        from digest.delivery.providers.outbox import safe_folder

        report.outbox_dir = os.path.abspath(
            os.path.join(settings.outbox.dir, safe_folder(period.key))
        )
    prepared = _prepare(
        settings, engine, period, provider, report, tiers, timezones, resend_uncertain
    )
    conf = settings.celery
    with _app_for(settings, app) as celery_app:
        try:
            published = publish(celery_app, settings, engine, period, provider, prepared)
        except Exception as exc:  # kombu's OperationalError and friends: broker unreachable
            raise SendError(
                f"cannot publish to the broker {conf.broker_url}: {exc}; the rows stay queued "
                "(run again, or send in-process with --executor inprocess)"
            ) from None
        log.info("published %s tasks for %s open rows", published, prepared.total)
        follow = _Follower(celery_app, settings, engine, period, provider, prepared)
        follow.run(progress, sleep, clock, report)
    _finish(engine, prepared.issue_id, prepared.scope, report, tiers, timezones)
    report.sent_now = max(0, report.accepted - prepared.accepted_before)
    return report


@dataclass
class _Follower:
    """Polls the ledger until nothing is open; re-publishes tasks when progress stalls."""

    app: Any
    settings: Settings
    engine: Engine
    period: Period
    provider: str
    prepared: _Prepared

    def open_rows(self) -> int:
        """Rows still queued or being sent: one count, no grouping (a million rows is a while)."""
        p = self.prepared
        query = select(func.count()).where(
            d.c.issue_id == p.issue_id, d.c.edition_id.in_(p.scope), d.c.state.in_(OPEN_STATES)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def republish(self) -> None:
        try:
            again = publish(
                self.app, self.settings, self.engine, self.period, self.provider, self.prepared
            )
            log.warning("no progress: re-published %s tasks for the open rows", again)
        except Exception as exc:  # the broker is down: try again at the next stall
            log.warning("re-publishing failed (%s); will try again", exc)

    def run(
        self,
        progress: Progress | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        report: SendReport,
    ) -> None:
        conf = self.settings.celery
        total = self.prepared.total
        last_open, last_change, last_publish = total, clock(), clock()
        if progress:
            progress(0, total)
        pause = conf.poll_seconds
        while last_open:
            sleep(pause)
            asked = clock()
            still, now = self.open_rows(), clock()
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
                self.republish()


# --- the scheduler's send step -----------------------------------------------------------------


def send_for_schedule(
    settings: Settings, engine: Engine, built: Any, zones: frozenset[str] | None
) -> Any:
    """The pipeline's send step: through Celery when `celery.enabled`, else in-process."""
    from digest.delivery import run
    from digest.jobs.pipeline import SendSummary

    if not settings.celery.enabled:
        return run.send_for_schedule(settings, engine, built, zones)
    name = run.configured_provider(settings)
    problems = run.preflight(settings, engine, name, built.period)
    if problems:
        raise SendError("digest check failed: " + "; ".join(problems))
    report = send_distributed(settings, engine, built.period, name, timezones=zones)
    return SendSummary(
        accepted=report.accepted,
        failed=report.failed,
        uncertain=report.uncertain,
        suppressed=report.suppressed,
        detail=f"{report.sent_now} sent now through {name} on Celery workers; "
        f"{report.skipped} already settled, {report.pending} pending",
    )
