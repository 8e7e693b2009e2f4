"""Sending a period's issue: the orchestrator behind `digest send`, the scheduler and the main job.

`send_period` is a library call with the provider injected. It sends the period's frozen editions
(building and freezing them when there are none), queues one ledger row per eligible subscriber
before anything leaves, then claims batches of one edition, fills each recipient's links, hands
the batch to the provider and records every outcome set-based. Because every step goes through
the ledger (see `digest.delivery.ledger`), running it again — after success, a crash or a kill -9 —
sends only what no run has sent, and never guesses: unknown fates are `uncertain`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, exists, func, select, update

from digest.audience.model import Status, interests_key
from digest.audience.selection import _effective  # the audience's own interest narrowing
from digest.audience.store import set_status
from digest.audience.tokens import MissingSecretKey
from digest.config import Settings
from digest.delivery import ledger
from digest.delivery.headers import TEST_PREFIX
from digest.delivery.links import FastTokens, LinkValues, signing_keys
from digest.delivery.provider import (
    BOUNCE_PREFIX,
    MAX_BATCH,
    EditionMessage,
    Outcome,
    Provider,
    Recipient,
    Result,
)
from digest.delivery.providers.outbox import OutboxProvider, safe_folder
from digest.issues.render.i18n import translations
from digest.period import Period
from digest.storage.schema import deliveries as d
from digest.storage.schema import editions as et
from digest.storage.schema import issues as it
from digest.storage.schema import signals as sig
from digest.storage.schema import subscribers as s
from digest.storage.schema import suppressions as sup

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (rows handled, rows to handle) at the start and after every batch."""

REAL_PROVIDERS = frozenset({"smtp", "sendgrid"})
"""Providers whose mail leaves the machine: they need a configured key and a passing check."""

MAX_RETRY_WAIT = 60.0


class SendError(Exception):
    """The send cannot start (no editions, failing checks, missing key); nothing was sent."""


@dataclass(frozen=True)
class StoredEdition:
    """A frozen edition with its database id (what the ledger and the provider refer to)."""

    id: int
    tier: str
    locale: str
    interests_key: str
    subject: str
    html: str
    text: str


@dataclass
class SendReport:
    """What a send did. Counts are the ledger's, for the editions in scope, across runs."""

    period: str
    provider: str
    issue_id: int | None = None
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    suppressed: int = 0
    skipped: int = 0
    """Rows an earlier run had already settled: nothing to do for them now."""
    pending: int = 0
    """Rows still queued or being sent (by another sender) when this run ended."""
    sent_now: int = 0
    """Accepted by the provider during this run."""
    recovered: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    would_send: int = 0
    test_to: str | None = None
    notes: list[str] = field(default_factory=list)
    outbox_dir: str | None = None

    @property
    def exit_code(self) -> int:
        """0: all accepted or suppressed; 3: the only shortfall is uncertain; 1: any failure."""
        if self.failed:
            return 1
        if self.uncertain or self.pending:
            return 3
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "provider": self.provider,
            "issue_id": self.issue_id,
            "accepted": self.accepted,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "suppressed": self.suppressed,
            "skipped": self.skipped,
            "pending": self.pending,
            "sent_now": self.sent_now,
            "recovered": self.recovered,
            "dry_run": self.dry_run,
            "would_send": self.would_send,
            "test_to": self.test_to,
            "outbox_dir": self.outbox_dir,
            "notes": self.notes,
            "exit_code": self.exit_code,
        }


# --- editions ---------------------------------------------------------------------------------


def _stored(conn: Connection, issue_id: int) -> list[StoredEdition]:
    rows = conn.execute(
        select(
            et.c.id, et.c.tier, et.c.locale, et.c.interests_key, et.c.subject, et.c.html, et.c.text
        )
        .where(et.c.issue_id == issue_id)
        .order_by(et.c.id)
    ).all()
    return [StoredEdition(*row) for row in rows]


def frozen_editions(
    settings: Settings, engine: Engine, period: Period
) -> tuple[int, list[StoredEdition]]:
    """The period's frozen editions with ids; built and frozen first when there are none."""
    with engine.connect() as conn:
        issue_id = conn.execute(
            select(it.c.id).where(it.c.period_key == period.key)
        ).scalar_one_or_none()
        found = _stored(conn, issue_id) if issue_id is not None else []
    if found:
        assert issue_id is not None
        return issue_id, _with_new_interest_sets(settings, engine, period, issue_id, found)
    from digest.build import build

    result = build(settings, period, engine=engine)
    if result.failed or not result.frozen:
        problems = "; ".join(
            f"{e.tier}.{e.locale}: {c.name}: {c.message}"
            for e in result.editions
            for c in e.failures
        )
        raise SendError(f"{period.key}: the editions fail the inbox checks ({problems})")
    with engine.connect() as conn:
        issue_id = conn.execute(select(it.c.id).where(it.c.period_key == period.key)).scalar_one()
        return issue_id, _stored(conn, issue_id)


def _with_new_interest_sets(
    settings: Settings, engine: Engine, period: Period, issue_id: int, found: list[StoredEdition]
) -> list[StoredEdition]:
    """The frozen editions plus any interest set that appeared since the build, rendered now.

    Without this, someone who chose some classes after the build would silently get the
    all-classes edition. New sets are rendered from the store's signals of the period; the
    frozen editions themselves never change.
    """
    from digest.audience.selection import audience_interest_sets
    from digest.issues import collect
    from digest.issues.editions import build_issue
    from digest.issues.store import add_editions

    with engine.connect() as conn:
        classes = _issue_classes(conn, found)
    have = {e.interests_key for e in found}
    missing = [s for s in audience_interest_sets(engine, classes) if interests_key(s) not in have]
    if not missing:
        return found
    collection = collect.from_store(engine, period)
    issue = build_issue(collection.signals, settings, period, [frozenset(), *missing])
    new = [e for e in issue.editions if e.interests and not e.failures]
    add_editions(engine, period, new)
    with engine.connect() as conn:
        return _stored(conn, issue_id)


def _issue_classes(conn: Connection, editions: Collection[StoredEdition]) -> frozenset[str]:
    """The market classes the issue covers: those of the signals its editions show."""
    ids = sorted({i for e in editions for i in _signal_ids(conn, e.id)})
    classes: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = select(sig.c.market_class).where(sig.c.id.in_(chunk)).distinct()
        classes.update(c for (c,) in conn.execute(query) if c)
    for e in editions:
        classes.update(c for c in e.interests_key.split(";") if c)
    return frozenset(classes)


def _signal_ids(conn: Connection, edition_id: int) -> list[str]:
    value = conn.execute(select(et.c.signal_ids).where(et.c.id == edition_id)).scalar_one()
    return [str(v) for v in value or []]


class EditionParts(Protocol):
    """What a message needs of an edition, stored (StoredEdition) or just built (Edition)."""

    @property
    def tier(self) -> str: ...
    @property
    def locale(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


def edition_message(
    settings: Settings,
    period: Period,
    issue_id: int,
    edition_id: int,
    e: EditionParts,
    *,
    test: bool = False,
    categories: tuple[str, ...] | None = None,
) -> EditionMessage:
    """The provider's message for one edition: the same From, ids and categories everywhere."""
    pub = settings.publication
    if categories is None:
        categories = ("digest", f"issue-{period.key}", f"tier-{e.tier}", f"locale-{e.locale}")
    return EditionMessage(
        issue_id=issue_id,
        edition_id=edition_id,
        period_key=period.key,
        tier=e.tier,
        locale=e.locale,
        subject=e.subject,
        html=e.html,
        text=e.text,
        from_email=pub.from_email,
        from_name=pub.from_name,
        reply_to=None,
        categories=categories,
        test=test,
    )


def _message(
    settings: Settings, period: Period, issue_id: int, e: StoredEdition, *, test: bool = False
) -> EditionMessage:
    return edition_message(settings, period, issue_id, e.id, e, test=test)


# --- the audience, grouped as editions ---------------------------------------------------------


def _groups(
    conn: Connection,
    editions: list[StoredEdition],
    classes: frozenset[str],
    tiers: Collection[str] | None,
) -> list[tuple[str, str, str, StoredEdition]]:
    """(tier, locale, stored interests, edition) for each group of mailable subscribers.

    A subscriber reads the edition of their interests narrowed to the issue's classes; when no
    edition was frozen for that set (their interests changed after the build), the tier and
    language's all-classes edition. Groups whose interests the issue does not cover get none.
    """
    by_key = {(e.tier, e.locale, e.interests_key): e for e in editions}
    suppressed = exists().where(sup.c.email_hash == s.c.email_hash)
    query = (
        select(s.c.tier, s.c.locale, s.c.interests)
        .where(s.c.status == Status.ACTIVE.value, ~suppressed)
        .distinct()
    )
    if tiers is not None:
        query = query.where(s.c.tier.in_(sorted(tiers)))
    groups = []
    for tier, locale, stored in conn.execute(query):
        narrowed = _effective(tuple(c for c in str(stored).split(";") if c), classes)
        if narrowed is None:
            continue
        edition = by_key.get((tier, locale, ";".join(sorted(narrowed)))) or by_key.get(
            (tier, locale, "")
        )
        if edition is not None:
            groups.append((tier, locale, str(stored), edition))
    return groups


def _unmailable_without_row(conn: Connection, issue_id: int, tiers: Collection[str] | None) -> int:
    """Subscribers in scope kept out at queue time (opted out, bounced, complained, listed)."""
    suppressed = exists().where(sup.c.email_hash == s.c.email_hash)
    has_row = exists().where(d.c.issue_id == issue_id, d.c.subscriber_id == s.c.id)
    query = select(func.count()).where((s.c.status != Status.ACTIVE.value) | suppressed, ~has_row)
    if tiers is not None:
        query = query.where(s.c.tier.in_(sorted(tiers)))
    return int(conn.execute(query).scalar_one())


# --- the send ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_sending(
    conn: Connection,
    issue_id: int,
    scope: Sequence[int],
    groups: Sequence[tuple[str, str, str, StoredEdition]],
    now: dt.datetime,
    timezones: Collection[str] | None,
    *,
    resend_uncertain: bool,
) -> dict[str, int]:
    """Mark the issue as sending and queue a ledger row for every eligible recipient.

    Shared by the in-process and the Celery executor, so both open a send the same way. Returns
    the ledger's counts from before the queuing (what earlier runs already settled).
    """
    conn.execute(
        update(it)
        .where(it.c.id == issue_id, it.c.send_started_at.is_(None))
        .values(send_started_at=now)
    )
    conn.execute(
        update(it).where(it.c.id == issue_id, it.c.status != "sent").values(status="sending")
    )
    if resend_uncertain:
        ledger.requeue_uncertain(conn, issue_id, scope)
    before = ledger.state_counts(conn, issue_id, scope)
    for tier, locale, stored, edition in groups:
        ledger.enqueue_group(
            conn,
            issue_id,
            edition.id,
            tier=tier,
            locale=locale,
            interests=stored,
            now=now,
            timezones=timezones,
        )
    return before


def send_period(
    settings: Settings,
    engine: Engine,
    period: Period,
    provider: Provider,
    *,
    tiers: Collection[str] | None = None,
    timezones: Collection[str] | None = None,
    dry_run: bool = False,
    test_to: str | None = None,
    resend_uncertain: bool = False,
    batch_size: int = MAX_BATCH,
    max_attempts: int = 3,
    pipeline: bool = True,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    worker: str | None = None,
) -> SendReport:
    """Send `period`'s issue through `provider`; see the module docstring. Raises SendError
    (before anything is sent) when there are no editions, they fail the checks, or a real
    provider has no signing key. `pipeline` keeps one batch in flight while the next is
    claimed (False: strictly one batch at a time)."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH}")
    report = SendReport(period.key, provider.name, dry_run=dry_run, test_to=test_to)
    if isinstance(provider, OutboxProvider):
        report.outbox_dir = str((provider.directory / safe_folder(period.key)).resolve())
    issue_id, editions = frozen_editions(settings, engine, period)
    report.issue_id = issue_id
    if tiers is not None:
        editions = [e for e in editions if e.tier in tiers]
    try:
        keys, note = signing_keys(settings, engine, allow_local=provider.name not in REAL_PROVIDERS)
    except MissingSecretKey as exc:
        raise SendError(str(exc)) from None
    if note:
        report.notes.append(note)
    links = LinkValues(FastTokens(keys), settings.publication.base_url)
    if test_to is not None:
        return _send_test(settings, period, issue_id, editions, provider, links, test_to, report)
    with engine.connect() as conn:
        classes = _issue_classes(conn, editions)
        groups = _groups(conn, editions, classes, tiers)
    if dry_run:
        return _dry_run(engine, issue_id, editions, groups, tiers, timezones, report)
    worker = worker or ledger.worker_id()
    scope = [e.id for e in editions]
    now = _now()
    with engine.begin() as conn:
        recovered = ledger.recover(conn, issue_id, now, never_sent=_proof(provider, period))
        report.recovered = {str(k): v for k, v in recovered.items()}
        before = start_sending(
            conn, issue_id, scope, groups, now, timezones, resend_uncertain=resend_uncertain
        )
        report.skipped = sum(before.get(str(st), 0) for st in ledger.FINAL)
        total = sum(ledger.count_queued(conn, issue_id, e.id) for e in editions)
    sender = _Sender(engine, issue_id, provider, links, worker, batch_size, max_attempts)
    done = 0
    if progress:
        progress(0, total)

    def settle(outcome: Future[tuple[int, int, float | None]]) -> None:
        nonlocal done
        handled, accepted, wait = outcome.result()
        done += handled
        report.sent_now += accepted
        if progress:
            progress(min(done, total), total)
        if wait is not None:
            sleep(min(wait, MAX_RETRY_WAIT))

    # One batch in flight while the next is claimed and prepared: the provider's network wait
    # overlaps this thread's token work. Each batch still goes claim → send → record in order.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-send")
    try:
        for edition in editions:
            message = _message(settings, period, issue_id, edition)
            fallback = translations(edition.locale).gettext("reader")
            in_flight: Future[tuple[int, int, float | None]] | None = None
            while True:
                batch = sender.claim(edition, fallback)
                if batch is None:  # nothing queued now; the batch in flight may requeue some
                    if in_flight is None:
                        break
                    settle(in_flight)
                    in_flight = None
                    continue
                if not pipeline and in_flight is not None:
                    settle(in_flight)
                    in_flight = None
                previous = in_flight
                in_flight = pool.submit(sender.deliver, message, batch)
                if previous is not None:
                    settle(previous)
                if not pipeline:
                    settle(in_flight)
                    in_flight = None
    finally:
        pool.shutdown(wait=True)
        provider.close()
    _finish(engine, issue_id, scope, report, tiers, timezones)
    return report


def _proof(provider: Provider, period: Period) -> Callable[[ledger.Stale], bool | None]:
    """How a dead sender's claim can be settled for sure: only the outbox can tell (its file)."""

    def never_sent(row: ledger.Stale) -> bool | None:
        if not isinstance(provider, OutboxProvider):
            return None
        folder = provider.directory / safe_folder(period.key)
        return not (folder / f"{row.edition_id}-{row.subscriber_id}.eml").exists()

    return never_sent


@dataclass
class _Batch:
    claim_id: str
    edition_id: int
    taken: int
    claimed: list[ledger.Claimed]
    recipients: list[Recipient]


@dataclass
class _Sender:
    """Claims, sends and records batches for one send (see `send_period`)."""

    engine: Engine
    issue_id: int
    provider: Provider
    links: LinkValues
    worker: str
    batch_size: int
    max_attempts: int
    batches: int = 0

    def claim(self, edition: StoredEdition, fallback: str) -> _Batch | None:
        """The next batch of `edition`, claimed and personalized; None when none is queued."""
        self.batches += 1
        claim_id = f"{self.worker}:{self.batches}"
        with self.engine.begin() as conn:
            claimed, taken = ledger.claim(
                conn, self.issue_id, edition.id, claim_id, self.batch_size, _now()
            )
        if taken == 0:
            return None
        values = self.links.values
        recipients = []
        for c in claimed:
            html_values, text_values, unsubscribe = values(
                c.subscriber_id, c.email, c.name, fallback
            )
            recipients.append(
                Recipient(c.subscriber_id, c.email, c.name, html_values, text_values, unsubscribe)
            )
        return _Batch(claim_id, edition.id, taken, claimed, recipients)

    def deliver(self, message: EditionMessage, batch: _Batch) -> tuple[int, int, float | None]:
        """Send and record: (rows taken, accepted, seconds to wait before retrying or None)."""
        if not batch.recipients:  # everyone in it was suppressed at claim time
            return batch.taken, 0, None
        try:
            results = self.provider.send(message, batch.recipients)
        except Exception as exc:  # a provider bug or crash mid-call: the batch's fate is unknown
            log.exception("provider %s raised during a send", self.provider.name)
            results = [
                Result(r.subscriber_id, Outcome.UNCERTAIN, f"provider raised {exc!r}")
                for r in batch.recipients
            ]
        by_subscriber = {c.subscriber_id: c for c in batch.claimed}
        pairs = [(by_subscriber[r.subscriber_id].delivery_id, r) for r in results]
        bounces = [
            by_subscriber[r.subscriber_id].email
            for r in results
            if r.outcome is Outcome.FAILED and (r.reason or "").startswith(BOUNCE_PREFIX)
        ]
        with self.engine.begin() as conn:
            counts = ledger.record(
                conn,
                batch.claim_id,
                pairs,
                self.provider.name,
                _now(),
                self.max_attempts,
                issue_id=self.issue_id,
                edition_id=batch.edition_id,
            )
            for email in bounces:
                set_status(conn, email, Status.BOUNCED, "hard bounce at send time")
        wait = None
        if counts.get(Outcome.RETRYABLE):
            asked = [r.retry_after for r in results if r.retry_after is not None]
            wait = max(asked) if asked else 1.0
        return batch.taken, counts.get(Outcome.ACCEPTED, 0), wait


def _finish(
    engine: Engine,
    issue_id: int,
    scope: list[int],
    report: SendReport,
    tiers: Collection[str] | None,
    timezones: Collection[str] | None,
) -> None:
    """Fill the report from the ledger; mark the issue sent once nothing is left for anyone."""
    with engine.begin() as conn:
        counts = ledger.state_counts(conn, issue_id, scope)
        report.accepted = counts.get("accepted", 0)
        report.failed = counts.get("failed", 0)
        report.uncertain = counts.get("uncertain", 0)
        report.pending = counts.get("queued", 0) + counts.get("sending", 0)
        report.suppressed = counts.get("suppressed", 0) + _unmailable_without_row(
            conn, issue_id, tiers
        )
        everything = ledger.state_counts(conn, issue_id)
        open_rows = everything.get("queued", 0) + everything.get("sending", 0)
        if tiers is None and timezones is None and not open_rows:
            conn.execute(
                update(it)
                .where(it.c.id == issue_id, it.c.status != "sent")
                .values(status="sent", sent_at=_now())
            )


def _dry_run(
    engine: Engine,
    issue_id: int,
    editions: list[StoredEdition],
    groups: list[tuple[str, str, str, StoredEdition]],
    tiers: Collection[str] | None,
    timezones: Collection[str] | None,
    report: SendReport,
) -> SendReport:
    """Count what a send would do, writing nothing."""
    suppressed = exists().where(sup.c.email_hash == s.c.email_hash)
    settled = exists().where(
        d.c.issue_id == issue_id,
        d.c.subscriber_id == s.c.id,
        d.c.state.in_([str(x) for x in ledger.FINAL]),
    )
    with engine.connect() as conn:
        for tier, locale, stored, _edition in groups:
            query = select(func.count()).where(
                s.c.status == Status.ACTIVE.value,
                s.c.tier == tier,
                s.c.locale == locale,
                s.c.interests == stored,
                ~suppressed,
                ~settled,
            )
            if timezones is not None:
                query = query.where(s.c.timezone.in_(sorted(timezones)))
            report.would_send += int(conn.execute(query).scalar_one())
        counts = ledger.state_counts(conn, issue_id, [e.id for e in editions])
        report.accepted = counts.get("accepted", 0)
        report.failed = counts.get("failed", 0)
        report.uncertain = counts.get("uncertain", 0)
        report.skipped = sum(counts.get(str(st), 0) for st in ledger.FINAL)
        report.suppressed = counts.get("suppressed", 0) + _unmailable_without_row(
            conn, issue_id, tiers
        )
    return report


def _send_test(
    settings: Settings,
    period: Period,
    issue_id: int,
    editions: list[StoredEdition],
    provider: Provider,
    links: LinkValues,
    address: str,
    report: SendReport,
) -> SendReport:
    """Every all-classes edition to one address, subject marked as a test; no ledger rows."""
    try:
        for edition in editions:
            if edition.interests_key:
                continue
            message = _message(settings, period, issue_id, edition, test=True)
            fallback = translations(edition.locale).gettext("reader")
            html_values, text_values, unsubscribe = links.values(0, address, "", fallback)
            recipient = Recipient(0, address, "", html_values, text_values, unsubscribe)
            (result,) = provider.send(message, [recipient])
            if result.outcome is Outcome.ACCEPTED:
                report.accepted += 1
                report.sent_now += 1
            elif result.outcome is Outcome.UNCERTAIN:
                report.uncertain += 1
            else:
                report.failed += 1
                report.notes.append(f"{edition.tier}.{edition.locale}: {result.reason}")
    finally:
        provider.close()
    report.notes.append(f"test send: subjects start with {TEST_PREFIX.strip()}; ledger untouched")
    return report


def outbox_files(report: SendReport) -> list[Path]:
    """The .eml files in the report's outbox folder (for the main job's message)."""
    if report.outbox_dir is None:
        return []
    return sorted(Path(report.outbox_dir).glob("*.eml"))


# --- the scheduler's send step -----------------------------------------------------------------


def configured_provider(settings: Settings) -> str:
    """The provider an unattended send uses: SendGrid when it has a key, else SMTP when it has
    a URL, else the outbox (so a fresh install's schedule never mails anyone by surprise)."""
    if settings.sendgrid.api_key is not None:
        return "sendgrid"
    if settings.smtp.url is not None:
        return "smtp"
    return "outbox"


def preflight(settings: Settings, engine: Engine, provider: str, period: Period) -> list[str]:
    """`digest check`'s blocking failures for a real provider ([] for the outbox)."""
    from digest.delivery.check import failures, run_checks

    if provider not in REAL_PROVIDERS:
        return []
    return [str(p) for p in failures(run_checks(settings, engine, provider, period=period))]


def send_for_schedule(
    settings: Settings, engine: Engine, built: Any, zones: frozenset[str] | None
) -> Any:
    """The pipeline's send step: preflight, then `send_period` with the configured provider."""
    from digest.delivery import make_provider
    from digest.jobs.pipeline import SendSummary

    name = configured_provider(settings)
    problems = preflight(settings, engine, name, built.period)
    if problems:
        raise SendError("digest check failed: " + "; ".join(problems))
    report = send_period(
        settings, engine, built.period, make_provider(name, settings), timezones=zones
    )
    return SendSummary(
        accepted=report.accepted,
        failed=report.failed,
        uncertain=report.uncertain,
        suppressed=report.suppressed,
        detail=f"{report.sent_now} sent now through {name}; {report.skipped} already settled",
    )
