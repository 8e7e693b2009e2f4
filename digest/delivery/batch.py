"""One batch, the only way mail leaves: claim rows, hand them to the provider, record every outcome.

The in-process executor and the Celery task both call `run_batch`, unchanged, so the two can
never drift apart (the executor asks for batches until none is left, a task for one). What
makes a crash cheap:

- the claim is a lease, renewed by a heartbeat thread while the batch works, so a dead worker's
  rows move on within `lease` (see `digest.delivery.ledger`);
- rows are marked *handed* just before the provider gets them, and recorded as soon as it
  answers. A provider that answers per message (SMTP, outbox) is handed one recipient at a time,
  each commit recording the previous message and handing the next, so a kill leaves at most the
  one message on the wire uncertain; a provider that answers per request (SendGrid) has its
  whole request handed and recorded at once, so at most the requests in flight are uncertain
  (run back to back, one commit records a request, hands the next and claims the one after:
  see `_Chain`);
- a row is sent only if handing it found it still ours, so a claim lost to a stalled heartbeat
  is never sent twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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

    def plus(self, other: BatchOutcome) -> BatchOutcome:
        """The two together (a run of batches); the longer wait either asked for."""
        waits = [w for w in (self.retry_after, other.retry_after) if w is not None]
        return BatchOutcome(
            self.taken + other.taken, self.accepted + other.accepted, max(waits, default=None)
        )


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
    batches: int | None = 1,
    on_batch: Callable[[BatchOutcome], None] | None = None,
) -> BatchOutcome:
    """Claim up to `job.batch_size` queued rows of one edition, send them, record each outcome;
    `batches` times over (None: until none is queued), `on_batch` told after each.

    Safe to run any number of times for the same job. `worker` must be unique per call (the
    claims' ids are made from it). Returns the totals, and the seconds to wait before retrying
    when the provider answered RETRYABLE for some rows (they are back to `queued`, or `failed`
    past `job.max_attempts`); the run stops at such a batch.
    """
    claim_id = worker or ledger.worker_id()
    work = _Work(engine, job, provider, links, message, fallback_name, lease)
    if not provider.per_message:
        chain = _Chain(work, claim_id, batches)
        with _heartbeat(engine, job, chain.renewed, lease):
            return chain.run(on_batch)
    total = BatchOutcome(0, 0)
    for number in itertools.count(1):
        if batches is not None and number > batches:
            break
        one = f"{claim_id}.{number}" if number > 1 else claim_id
        outcome = work.one_by_one(one)
        total = total.plus(outcome)
        if on_batch:
            on_batch(outcome)
        if outcome.taken == 0 or outcome.retry_after is not None:
            break
    return total


@dataclass(frozen=True)
class _Work:
    """What every batch of one run shares."""

    engine: Engine
    job: BatchJob
    provider: Provider
    links: LinkValues
    message: EditionMessage
    fallback_name: str
    lease: dt.timedelta

    def recipients(self, claimed: Sequence[ledger.Claimed]) -> list[Recipient]:
        """The claim's recipients with their link values (the per-recipient tokens)."""
        links, fallback, message = self.links, self.fallback_name, self.message
        return [_recipient(links, c, fallback, message) for c in claimed]

    def one_by_one(self, claim_id: str) -> BatchOutcome:
        """One batch through a provider that answers per message (see `_Batch.one_by_one`)."""
        claimed, taken, worker = transaction(self.engine, _Claimer(self.job, claim_id).take)
        if not claimed:
            return BatchOutcome(taken, 0)
        batch = _Batch(self.engine, self.job, self.provider, worker, claimed)
        with _heartbeat(self.engine, self.job, lambda: [worker], self.lease):
            recipients = self.recipients(claimed)
            results = batch.one_by_one(self.message, recipients)
        return _outcome(taken, results)


def _outcome(taken: int, results: Sequence[Result]) -> BatchOutcome:
    accepted = sum(1 for r in results if r.outcome is Outcome.ACCEPTED)
    retry_after = None
    if any(r.outcome is Outcome.RETRYABLE for r in results):
        asked = [r.retry_after for r in results if r.retry_after is not None]
        retry_after = max(asked) if asked else 1.0
    return BatchOutcome(taken, accepted, retry_after)


@dataclass
class _Claimer:
    """Claims under `claim_id`, and under a fresh id per retried attempt: if a claim committed
    but its answer was lost, its rows are never handed, so they go back to the queue when the
    lease lapses."""

    job: BatchJob
    claim_id: str
    tried: int = 0

    def take(self, conn: Connection) -> tuple[list[ledger.Claimed], int, str]:
        worker = self.claim_id if not self.tried else f"{self.claim_id}.r{self.tried}"
        self.tried += 1
        job = self.job
        claimed, taken = ledger.claim(
            conn, job.issue_id, job.edition_id, worker, job.batch_size, now()
        )
        return claimed, taken, worker


@dataclass
class _InFlight:
    """A handed claim whose request is on the wire (in the sending thread)."""

    batch: _Batch
    sent: Future[list[Result]]


class _Chain:
    """Batches back to back through a provider that answers per request, one commit each.

    Each commit records the answers that came back, hands the next batch and claims the one
    after, all from this one thread: SQLite has one write lock, and two senders taking turns on
    it waited more than they worked. Requests are built, serialized and posted in
    `provider.parallel` other threads while this one makes the next batch's link values and
    commits, so at most `parallel` requests are ever handed and unrecorded — the only rows a
    kill can leave uncertain — and claimed rows never handed go back to the queue.
    """

    def __init__(self, work: _Work, claim_id: str, batches: int | None) -> None:
        self.work, self.claim_id, self.batches = work, claim_id, batches
        self.engine, self.job, self.provider = work.engine, work.job, work.provider
        self.claims = 0
        self.held: list[str] = []  # what the heartbeat renews
        self.stopped = False  # the provider asked to wait: no more hands or claims

    def renewed(self) -> list[str]:
        return list(self.held)

    def _more(self) -> bool:
        return not self.stopped and (self.batches is None or self.claims < self.batches)

    def _claimer(self) -> _Claimer:
        self.claims += 1
        number = self.claims
        return _Claimer(self.job, self.claim_id if number == 1 else f"{self.claim_id}.{number}")

    def _post(self, poster: ThreadPoolExecutor, kept: list[Recipient]) -> Future[list[Result]]:
        """The request, in a posting thread; here and now if the provider sends one at a time
        (`parallel` 1)."""
        if self.provider.parallel > 1:
            return poster.submit(_send, self.provider, self.work.message, kept)
        answered: Future[list[Result]] = Future()
        answered.set_result(_send(self.provider, self.work.message, kept))
        return answered

    def _answered(self, flights: deque[_InFlight], handing: bool) -> list[_Done]:
        """Requests that came back; waits for the oldest when handing another would exceed
        `parallel` in flight, or when there is nothing left to hand."""
        done: list[_Done] = []
        bound = max(1, self.provider.parallel)
        while flights and (flights[0].sent.done() or len(flights) >= bound or not handing):
            flight = flights.popleft()
            done.append((flight.batch, flight.sent.result()))
            handing = True  # draining: one at a time
        return done

    def run(self, on_batch: Callable[[BatchOutcome], None] | None) -> BatchOutcome:
        total = BatchOutcome(0, 0)
        claimed, taken, worker = transaction(self.engine, self._claimer().take)
        nxt: _Batch | None = _Batch(self.engine, self.job, self.provider, worker, claimed, taken)
        self.held = [worker]
        if not taken:
            return total
        flights: deque[_InFlight] = deque()
        lanes = max(1, self.provider.parallel)
        with ThreadPoolExecutor(lanes, thread_name_prefix="digest-post") as poster:
            while flights or nxt is not None:
                current = nxt if nxt is not None and nxt.taken else None
                recipients = self.work.recipients(current.claimed) if current else []
                done = self._answered(flights, current is not None)
                outcomes = [_outcome(batch.taken, results) for batch, results in done]
                self.stopped = self.stopped or any(o.retry_after is not None for o in outcomes)
                step = _Step(self, done, current, claim_next=current is not None)
                mine, nxt = transaction(self.engine, step.run)
                kept = [r for r in recipients if current and current.delivery_id(r) in mine]
                if current and kept:
                    current.kept = len(kept)
                    flights.append(_InFlight(current, self._post(poster, kept)))
                elif current and not self.stopped:  # all suppressed, or lost to a recovery
                    outcomes.append(BatchOutcome(current.taken, 0))
                held = [f.batch for f in flights] + ([nxt] if nxt is not None else [])
                self.held = [b.worker for b in held]
                for outcome in outcomes:
                    total = total.plus(outcome)
                    if on_batch:
                        on_batch(outcome)
                if nxt is not None and not nxt.taken:
                    nxt = None
        return total


_Done = tuple["_Batch", list[Result]]


@dataclass
class _Step:
    """One commit of a chain: record what came back, hand what is ready, claim what is next.
    Safe to repeat (a retried transaction): recording and handing only touch rows the claims
    still hold, and a retried claim takes a fresh id."""

    chain: _Chain
    done: list[_Done]
    ready: _Batch | None
    claim_next: bool
    claimer: _Claimer | None = None

    def run(self, conn: Connection) -> tuple[set[int], _Batch | None]:
        chain = self.chain
        for batch, results in self.done:
            batch.record(conn, results, whole=batch.kept == len(batch.claimed))
        mine: set[int] = set()
        if self.ready is not None and not chain.stopped:
            mine = self.ready.hand(conn, None)
        elif self.ready is not None:  # the provider asked to wait: the claim goes back
            job = chain.job
            ledger.release(conn, job.issue_id, job.edition_id, self.ready.worker)
        if not (self.claim_next and chain._more()):
            return mine, None
        if self.claimer is None:
            self.claimer = chain._claimer()
        claimed, taken, worker = self.claimer.take(conn)
        return mine, _Batch(chain.engine, chain.job, chain.provider, worker, claimed, taken)


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


def _recipient(
    links: LinkValues, c: ledger.Claimed, fallback_name: str, message: EditionMessage
) -> Recipient:
    html_values, text_values, unsubscribe = links.values(
        c.subscriber_id, c.email, c.name, fallback_name, message
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
    taken: int = 0
    kept: int = 0

    def __post_init__(self) -> None:
        self.by_subscriber = {c.subscriber_id: c for c in self.claimed}

    def delivery_id(self, recipient: Recipient) -> int:
        return self.by_subscriber[recipient.subscriber_id].delivery_id

    def one_by_one(self, message: EditionMessage, recipients: list[Recipient]) -> list[Result]:
        """Hand and record message by message; each commit records one and hands the next.

        A RETRYABLE answer means the provider cannot take mail now (a server unreachable):
        the rest of the claim goes back to the queue unsent rather than trying each in turn.
        """
        results: list[Result] = []
        ids = [self.by_subscriber[r.subscriber_id].delivery_id for r in recipients]
        ours = transaction(self.engine, partial(self.hand, delivery_ids=ids[:1]))
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
        self.record(conn, done, whole=False)
        return self.hand(conn, following)

    def hand(self, conn: Connection, delivery_ids: Sequence[int] | None) -> set[int]:
        job = self.job
        return ledger.hand(conn, job.issue_id, job.edition_id, self.worker, now(), delivery_ids)

    def record(self, conn: Connection, results: list[Result], *, whole: bool) -> None:
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
def _heartbeat(
    engine: Engine, job: BatchJob, claims: Callable[[], list[str]], lease: dt.timedelta
) -> Iterator[None]:
    """Renew the lease of the claims held (`claims()`) every third of it while the body runs (a
    thread of its own, so a provider that hangs does not let the lease lapse; a database that
    blinks is tried again)."""
    stop = threading.Event()
    every = max(lease.total_seconds() / 3, 0.05)

    def beat() -> None:
        while not stop.wait(every):
            try:
                with engine.begin() as conn:
                    for worker in claims():
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
