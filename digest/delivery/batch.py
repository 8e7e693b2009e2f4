"""One batch, the only way mail leaves: claim rows, hand them to the provider, record every outcome.

The in-process executor and the Celery task both call `run_batch`, unchanged, so the two can
never drift apart. What makes a crash cheap:

- the claim is a lease, renewed by a heartbeat thread while the batch works, so a dead worker's
  rows move on within `lease` (see `digest.delivery.ledger`);
- rows are marked *handed* just before the provider gets them, and recorded as soon as it
  answers. A provider that answers per message (SMTP, outbox) is handed one recipient at a time,
  each commit recording the previous message and handing the next, so a kill leaves at most the
  one message on the wire uncertain; a provider that answers per request (SendGrid) has its
  whole request handed and recorded at once, so at most the requests in flight are uncertain;
- a row is sent only if handing it found it still ours, so a claim lost to a stalled heartbeat
  is never sent twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from digest.audience.model import Status
from digest.audience.store import set_status
from digest.delivery import ledger
from digest.delivery.links import LinkValues
from digest.delivery.provider import (
    BOUNCE_PREFIX,
    MAX_BATCH,
    EditionMessage,
    Outcome,
    Provider,
    Recipient,
    Result,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class BatchJob:
    """Which edition to claim from, and how; JSON-safe, so it is also a Celery task's arguments."""

    issue_id: int
    edition_id: int
    period_key: str
    provider: str
    batch_size: int = MAX_BATCH
    max_attempts: int = 3


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did: rows taken, accepted now, recovered, and whether to retry (seconds)."""

    taken: int
    accepted: int
    retry_after: float | None = None
    recovered: dict[str, int] = field(default_factory=dict)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def recover(
    engine: Engine, issue_id: int, period_key: str, provider: Provider, lease: dt.timedelta
) -> ledger.Recovery:
    """Settle dead claims of the issue, with the provider's proof of what it delivered."""

    def never_sent(row: ledger.Stale) -> bool | None:
        delivered = provider.delivered(period_key, row.edition_id, row.subscriber_id)
        return None if delivered is None else not delivered

    with engine.begin() as conn:
        return ledger.recover(conn, issue_id, now(), never_sent=never_sent, lease=lease)


def run_batch(
    engine: Engine,
    job: BatchJob,
    provider: Provider,
    links: LinkValues,
    message: EditionMessage,
    *,
    fallback_name: str,
    lease: dt.timedelta = ledger.LEASE,
    worker: str | None = None,
) -> BatchOutcome:
    """Claim up to `job.batch_size` queued rows of one edition, send them, record each outcome.

    Safe to run any number of times for the same job. `worker` must be unique per call (the
    claim's rows are found by it). Returns the seconds to wait before retrying when the provider
    answered RETRYABLE for some rows (they are back to `queued`, or `failed` past
    `job.max_attempts`).
    """
    claim_id = worker or ledger.worker_id()
    attempts = itertools.count()

    def take(conn: Connection) -> tuple[list[ledger.Claimed], int]:
        # A fresh claim id per attempt: if a claim committed but its answer was lost, its rows
        # are never handed, so they go back to the queue when the lease lapses.
        nonlocal worker
        tried = next(attempts)
        worker = claim_id if not tried else f"{claim_id}.r{tried}"
        return ledger.claim(conn, job.issue_id, job.edition_id, worker, job.batch_size, now())

    claimed, taken = transaction(engine, take)
    assert worker is not None
    if not claimed:
        return BatchOutcome(taken, 0)
    batch = _Batch(engine, job, provider, worker, claimed)
    with _heartbeat(engine, job, worker, lease):
        recipients = [_recipient(links, c, fallback_name) for c in claimed]
        if provider.per_message:
            results = batch.one_by_one(message, recipients)
        else:
            results = batch.all_at_once(message, recipients)
    accepted = sum(1 for r in results if r.outcome is Outcome.ACCEPTED)
    retry_after = None
    if any(r.outcome is Outcome.RETRYABLE for r in results):
        asked = [r.retry_after for r in results if r.retry_after is not None]
        retry_after = max(asked) if asked else 1.0
    return BatchOutcome(taken, accepted, retry_after)


_DATABASE_GONE = (OperationalError, InterfaceError)


def transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` in one transaction, again while the database is unreachable (up to 30 s).

    Every step of a batch is safe to repeat: a claim under a fresh id, handing and recording
    only touch rows still held by the claim. So a database that blinks (a failover, a network
    cut of a few seconds) delays the batch instead of failing the send.
    """
    for attempt in Retrying(
        retry=retry_if_exception_type(_DATABASE_GONE),
        wait=wait_exponential(multiplier=0.2, max=4),
        stop=stop_after_delay(30),
        reraise=True,
    ):
        with attempt, engine.begin() as conn:
            return work(conn)
    raise AssertionError("unreachable")  # pragma: no cover: Retrying re-raises


def _recipient(links: LinkValues, c: ledger.Claimed, fallback_name: str) -> Recipient:
    html_values, text_values, unsubscribe = links.values(
        c.subscriber_id, c.email, c.name, fallback_name
    )
    return Recipient(c.subscriber_id, c.email, c.name, html_values, text_values, unsubscribe)


def _send(provider: Provider, message: EditionMessage, recipients: list[Recipient]) -> list[Result]:
    try:
        return provider.send(message, recipients)
    except Exception as exc:  # a provider bug or crash mid-call: the batch's fate is unknown
        log.exception("provider %s raised during a send", provider.name)
        return [
            Result(r.subscriber_id, Outcome.UNCERTAIN, f"provider raised {exc!r}")
            for r in recipients
        ]


@dataclass
class _Batch:
    """One claim's rows on their way through the provider (see `run_batch`)."""

    engine: Engine
    job: BatchJob
    provider: Provider
    worker: str
    claimed: list[ledger.Claimed]

    def __post_init__(self) -> None:
        self.by_subscriber = {c.subscriber_id: c for c in self.claimed}

    def all_at_once(self, message: EditionMessage, recipients: list[Recipient]) -> list[Result]:
        """Hand the whole claim, send one request, record it: one commit before, one after."""
        mine = transaction(self.engine, partial(self._hand, delivery_ids=None))
        kept = [r for r in recipients if self.by_subscriber[r.subscriber_id].delivery_id in mine]
        if not kept:
            return []
        results = _send(self.provider, message, kept)
        whole = len(kept) == len(self.claimed)
        transaction(self.engine, partial(self._record, results=results, whole=whole))
        return results

    def one_by_one(self, message: EditionMessage, recipients: list[Recipient]) -> list[Result]:
        """Hand and record message by message; each commit records one and hands the next.

        A RETRYABLE answer means the provider cannot take mail now (a server unreachable):
        the rest of the claim goes back to the queue unsent rather than trying each in turn.
        """
        results: list[Result] = []
        ids = [self.by_subscriber[r.subscriber_id].delivery_id for r in recipients]
        ours = transaction(self.engine, partial(self._hand, delivery_ids=ids[:1]))
        for index, recipient in enumerate(recipients):
            if ids[index] not in ours:  # lost to a recovery while the heartbeat stalled
                break
            (result,) = _send(self.provider, message, [recipient])
            done = [result]
            rest = recipients[index + 1 :]
            if result.outcome is Outcome.RETRYABLE and rest:
                done += [Result(r.subscriber_id, Outcome.RETRYABLE, result.reason) for r in rest]
            more = len(done) == 1 and bool(rest)
            following = ids[index + 1 : index + 2] if more else []
            ours = transaction(self.engine, partial(self._advance, done=done, following=following))
            results += done
            if not more:
                break
        return results

    def _advance(self, conn: Connection, done: list[Result], following: list[int]) -> set[int]:
        """Record `done` and hand the next row, in one commit (one accepted message, the common
        case, through two prebuilt statements)."""
        if len(done) == 1 and done[0].outcome is Outcome.ACCEPTED:
            (result,) = done
            row = self.by_subscriber[result.subscriber_id].delivery_id
            nxt = following[0] if following else None
            return ledger.accept_and_hand(
                conn, self.worker, (row, result), nxt, self.provider.name, now()
            )
        self._record(conn, done, whole=False)
        return self._hand(conn, following)

    def _hand(self, conn: Connection, delivery_ids: Sequence[int] | None) -> set[int]:
        job = self.job
        return ledger.hand(conn, job.issue_id, job.edition_id, self.worker, now(), delivery_ids)

    def _record(self, conn: Connection, results: list[Result], *, whole: bool) -> None:
        pairs = [(self.by_subscriber[r.subscriber_id].delivery_id, r) for r in results]
        ledger.record(
            conn,
            self.worker,
            pairs,
            self.provider.name,
            now(),
            self.job.max_attempts,
            issue_id=self.job.issue_id,
            edition_id=self.job.edition_id,
            whole_claim=whole,
        )
        for r in results:
            if r.outcome is Outcome.FAILED and (r.reason or "").startswith(BOUNCE_PREFIX):
                email = self.by_subscriber[r.subscriber_id].email
                set_status(conn, email, Status.BOUNCED, "hard bounce at send time")


@contextmanager
def _heartbeat(engine: Engine, job: BatchJob, worker: str, lease: dt.timedelta) -> Iterator[None]:
    """Renew the claim's lease every third of it while the body runs (a thread of its own, so a
    provider that hangs does not let the lease lapse; a database that blinks is tried again)."""
    stop = threading.Event()
    every = max(lease.total_seconds() / 3, 0.05)

    def beat() -> None:
        while not stop.wait(every):
            try:
                with engine.begin() as conn:
                    ledger.renew(conn, job.issue_id, job.edition_id, worker, now())
            except Exception as exc:  # the next beat tries again; the lease outlives a blink
                log.warning("lease heartbeat failed (%s); retrying", exc)

    thread = threading.Thread(target=beat, name="digest-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
