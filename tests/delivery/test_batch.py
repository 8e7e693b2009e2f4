"""run_batch run back to back for a provider that answers per request (the in-process executor):
one commit per batch, at most one request handed and unrecorded, early stops give claims back —
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, event, func, select

from digest.delivery import MemoryProvider, Outcome, ledger
from digest.delivery.batch import BatchJob, BatchOutcome, run_batch
from digest.delivery.links import FastTokens, LinkValues
from digest.delivery.plan import stored_message
from digest.delivery.provider import EditionMessage, Recipient, Result
from digest.issues.store import stored_editions
from digest.period import parse_period
from digest.storage.schema import deliveries as d


@pytest.fixture
def queued(engine: Engine, seeded: SimpleNamespace, tmp_path: Path) -> SimpleNamespace:
    """Five queued rows of one edition, batches of one."""
    settings = seeded.settings("sqlite://", tmp_path / "outbox")
    issue_id = seeded.issue(engine)
    ids = seeded.subscribers(engine, 5)
    with engine.connect() as conn:
        edition = next(e for e in stored_editions(conn, issue_id) if e.tier == "open")
    job = BatchJob(issue_id, edition.id, seeded.PERIOD, "memory", batch_size=1)
    with engine.begin() as conn:
        ledger.enqueue_group(
            conn, issue_id, edition.id, tier="open", locale="en", interests="", now=_now()
        )
    message = stored_message(settings, parse_period(seeded.PERIOD), issue_id, edition)
    links = LinkValues(FastTokens(["k"]), "https://news.example.org")
    return SimpleNamespace(job=job, message=message, links=links, ids=ids)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_all(engine: Engine, queued: SimpleNamespace, provider: MemoryProvider) -> BatchOutcome:
    return run_batch(
        engine,
        queued.job,
        provider,
        queued.links,
        queued.message,
        fallback_name="reader",
        worker="host:1:test",
        batches=None,
    )


def handed_unrecorded(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(d.c.state == "sending", d.c.handed_at.is_not(None))
        return int(conn.execute(query).scalar_one())


def test_each_batch_is_one_commit(engine: Engine, queued: SimpleNamespace) -> None:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    outcome = run_all(engine, queued, MemoryProvider())
    assert (outcome.taken, outcome.accepted) == (5, 5)
    # the first claim, then one commit per batch (record N, hand N+1, claim N+2), the last record
    assert len(commits) == 5 + 2


def test_at_most_one_request_is_handed_and_unrecorded(
    engine: Engine, queued: SimpleNamespace
) -> None:
    seen: list[int] = []

    def look(_message: EditionMessage, _recipient: Recipient) -> None:
        seen.append(handed_unrecorded(engine))

    run_all(engine, queued, MemoryProvider(script=look))
    assert seen == [1] * 5
    assert handed_unrecorded(engine) == 0


def test_a_claim_made_ahead_goes_back_when_the_provider_asks_to_wait(
    engine: Engine, queued: SimpleNamespace
) -> None:
    first = queued.ids[0]
    wait = Result(first, Outcome.RETRYABLE, "busy", retry_after=5.0)
    outcome = run_all(engine, queued, MemoryProvider(outcomes={first: wait}))
    assert outcome.retry_after == 5.0
    with engine.connect() as conn:
        states = dict(conn.execute(select(d.c.state, func.count()).group_by(d.c.state)).all())
    assert states == {"queued": 5}


def test_one_batch_is_one_claim(engine: Engine, queued: SimpleNamespace) -> None:
    provider = MemoryProvider()
    outcome = run_batch(
        engine, queued.job, provider, queued.links, queued.message, fallback_name="reader"
    )
    assert (outcome.taken, len(provider.calls)) == (1, 1)
    with engine.connect() as conn:
        states = dict(conn.execute(select(d.c.state, func.count()).group_by(d.c.state)).all())
    assert states == {"accepted": 1, "queued": 4}


def test_a_provider_sending_two_at_a_time_has_at_most_two_requests_handed(
    engine: Engine, queued: SimpleNamespace
) -> None:
    seen: list[int] = []

    def look(_message: EditionMessage, _recipient: Recipient) -> None:
        seen.append(handed_unrecorded(engine))

    outcome = run_all(engine, queued, MemoryProvider(script=look, parallel=2))
    assert outcome.accepted == 5
    assert max(seen) <= 2
    assert handed_unrecorded(engine) == 0
