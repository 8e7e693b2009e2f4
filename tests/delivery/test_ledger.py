"""The delivery ledger's moves, one at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select, text, update

from digest.audience import store
from digest.audience.model import Status
from digest.audience.tokens import LinkSigner, Purpose
from digest.delivery import Outcome, Result, ledger
from digest.delivery.links import FastTokens
from digest.storage.db import open_database
from digest.storage.schema import deliveries

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
ME = f"{socket.gethostname()}:1:me"


@pytest.fixture
def issue(engine: Engine, seeded: SimpleNamespace) -> int:
    issue_id: int = seeded.issue(engine)
    seeded.subscribers(engine, 5)
    return issue_id


def enqueue(engine: Engine, issue_id: int) -> None:
    with engine.begin() as conn:
        ledger.enqueue_group(conn, issue_id, 1, tier="open", locale="en", interests="", now=NOW)


def claim(engine: Engine, issue_id: int, worker: str = ME, limit: int = 10) -> list[ledger.Claimed]:
    with engine.begin() as conn:
        return ledger.claim(conn, issue_id, 1, worker, limit, NOW)[0]


def states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [s for (s,) in conn.execute(select(deliveries.c.state).order_by(deliveries.c.id))]


def test_queueing_twice_keeps_one_row_per_subscriber(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    enqueue(engine, issue)
    assert states(engine) == ["queued"] * 5


def test_queueing_leaves_an_existing_row_as_it_is(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    claim(engine, issue, limit=1)
    enqueue(engine, issue)
    assert states(engine) == ["sending"] + ["queued"] * 4


def test_two_claims_take_disjoint_rows(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    first = claim(engine, issue, "a:1:x", limit=3)
    second = claim(engine, issue, "b:2:y", limit=3)
    assert len(first) == 3 and len(second) == 2
    assert not {c.delivery_id for c in first} & {c.delivery_id for c in second}


def test_a_claim_skips_and_marks_someone_who_opted_out(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    with engine.begin() as conn:
        store.set_status(conn, "reader1@example.com", Status.UNSUBSCRIBED, "link")
    claimed = claim(engine, issue)
    assert "reader1@example.com" not in {c.email for c in claimed}
    assert states(engine).count("suppressed") == 1


def test_record_moves_only_this_workers_rows(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    (row,) = claim(engine, issue, limit=1)
    with engine.begin() as conn:
        result = Result(row.subscriber_id, Outcome.ACCEPTED, message_id="m1")
        ledger.record(
            conn,
            "someone-else",
            [(row.delivery_id, result)],
            "memory",
            NOW,
            3,
            issue_id=issue,
            edition_id=1,
        )
    assert states(engine)[0] == "sending"


def test_accepted_rows_keep_their_message_ids(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    rows = claim(engine, issue, limit=2)
    outcomes = [
        (r.delivery_id, Result(r.subscriber_id, Outcome.ACCEPTED, message_id=f"m{r.subscriber_id}"))
        for r in rows
    ]
    with engine.begin() as conn:
        ledger.record(conn, ME, outcomes, "memory", NOW, 3, issue_id=issue, edition_id=1)
        ids = conn.execute(select(deliveries.c.message_id).where(deliveries.c.state == "accepted"))
        assert sorted(m for (m,) in ids) == sorted(f"m{r.subscriber_id}" for r in rows)


def test_retryable_goes_back_to_queued_with_one_more_attempt(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    (row,) = claim(engine, issue, limit=1)
    with engine.begin() as conn:
        retry = Result(row.subscriber_id, Outcome.RETRYABLE, "429")
        ledger.record(
            conn, ME, [(row.delivery_id, retry)], "memory", NOW, 3, issue_id=issue, edition_id=1
        )
        found = conn.execute(
            select(deliveries.c.state, deliveries.c.attempts).where(
                deliveries.c.id == row.delivery_id
            )
        ).one()
    assert tuple(found) == ("queued", 1)


def test_retryable_at_the_last_attempt_is_failed(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    (row,) = claim(engine, issue, limit=1)
    with engine.begin() as conn:
        retry = Result(row.subscriber_id, Outcome.RETRYABLE, "503")
        ledger.record(
            conn, ME, [(row.delivery_id, retry)], "memory", NOW, 1, issue_id=issue, edition_id=1
        )
    assert states(engine)[0] == "failed"


DEAD = f"{socket.gethostname()}:999999999:dead"


def hand(engine: Engine, issue_id: int, worker: str, rows: list[ledger.Claimed]) -> set[int]:
    with engine.begin() as conn:
        return ledger.hand(conn, issue_id, 1, worker, NOW, [r.delivery_id for r in rows])


def test_a_dead_senders_unhanded_rows_go_back_to_the_queue(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    claim(engine, issue, DEAD, limit=2)
    with engine.begin() as conn:
        found = ledger.recover(conn, issue, NOW)
    assert found.moved == {ledger.State.QUEUED: 2}
    assert states(engine) == ["queued"] * 5


def test_only_a_dead_senders_handed_rows_become_uncertain(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    first, _second = claim(engine, issue, DEAD, limit=2)
    hand(engine, issue, DEAD, [first])
    with engine.begin() as conn:
        found = ledger.recover(conn, issue, NOW)
    assert found.moved == {ledger.State.UNCERTAIN: 1, ledger.State.QUEUED: 1}
    assert found.workers == [DEAD.rsplit(":", 1)[0]]
    assert states(engine)[:2] == ["uncertain", "queued"]


def test_a_live_senders_claim_is_left_alone(engine: Engine, issue: int) -> None:
    import os

    enqueue(engine, issue)
    claim(engine, issue, f"{socket.gethostname()}:{os.getpid()}:live", limit=2)
    with engine.begin() as conn:
        assert ledger.recover(conn, issue, NOW).moved == {}


def test_another_hosts_claim_lapses_with_its_lease(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    claim(engine, issue, "elsewhere:42:x", limit=1)
    lease = dt.timedelta(seconds=30)
    with engine.begin() as conn:
        assert ledger.recover(conn, issue, NOW + dt.timedelta(seconds=20), lease=lease).moved == {}
        found = ledger.recover(conn, issue, NOW + dt.timedelta(seconds=31), lease=lease)
    assert found.moved == {ledger.State.QUEUED: 1}


def test_a_renewed_lease_keeps_the_claim(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    claim(engine, issue, "elsewhere:42:x", limit=1)
    later = NOW + dt.timedelta(seconds=25)
    with engine.begin() as conn:
        assert ledger.renew(conn, issue, 1, "elsewhere:42:x", later) == 1
        found = ledger.recover(conn, issue, NOW + dt.timedelta(seconds=40))
    assert found.moved == {}


def test_handing_skips_rows_the_claim_no_longer_holds(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    rows = claim(engine, issue, DEAD, limit=2)
    with engine.begin() as conn:
        ledger.recover(conn, issue, NOW)  # the claim is gone: its rows are queued again
    assert hand(engine, issue, DEAD, rows) == set()


def test_a_handed_claim_proven_unsent_is_queued_again(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    rows = claim(engine, issue, DEAD, limit=1)
    hand(engine, issue, DEAD, rows)
    with engine.begin() as conn:
        ledger.recover(conn, issue, NOW, never_sent=lambda row: True)
    assert states(engine) == ["queued"] * 5


def test_requeue_uncertain_only_touches_uncertain_rows(engine: Engine, issue: int) -> None:
    enqueue(engine, issue)
    with engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.id <= 2).values(state="uncertain"))
        conn.execute(update(deliveries).where(deliveries.c.id == 3).values(state="accepted"))
        assert ledger.requeue_uncertain(conn, issue, [1]) == 2
    assert states(engine) == ["queued", "queued", "accepted", "queued", "queued"]


@pytest.mark.parametrize("email", ["a@x.com", "zoë名@例え.jp", 'we"ird\\@x.com'])
def test_fast_tokens_are_the_link_signers_tokens(email: str) -> None:
    keys = ["newest", "older"]
    fast, reference = FastTokens(keys), LinkSigner(keys)
    for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES):  # confirm: timestamped
        assert fast.sign(purpose, 123, email) == reference.sign(purpose, 123, email)


def test_fast_tokens_for_a_compressible_address_still_verify() -> None:
    email = "a" * 200 + "@x.com"  # itsdangerous would zlib this payload; we never do
    token = FastTokens(["k"]).sign(Purpose.UNSUBSCRIBE, 7, email)
    signer = LinkSigner(["k"])
    assert signer.binds(signer.verify(Purpose.UNSUBSCRIBE, token), email)


def test_the_pair_is_the_two_purposes_tokens() -> None:
    fast = FastTokens(["k"])
    assert fast.pair(7, "a@x.com") == (
        fast.sign(Purpose.UNSUBSCRIBE, 7, "a@x.com"),
        fast.sign(Purpose.PREFERENCES, 7, "a@x.com"),
    )


def test_the_claim_index_holds_queued_rows_only(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        query = (
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_deliveries_claim'"
            " AND schemaname = current_schema()"
        )
    else:
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_deliveries_claim'"
    with engine.connect() as conn:
        definition = conn.execute(text(query)).scalar_one()
    assert "WHERE" in definition.upper() and "'queued'" in definition


def test_a_claim_finds_its_rows_through_the_claim_index(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'plan.db'}")
    pick = (
        select(deliveries.c.id)
        .where(
            deliveries.c.issue_id == 1,
            deliveries.c.edition_id == 1,
            deliveries.c.state == ledger.QUEUED_ONLY,
        )
        .order_by(deliveries.c.id)
        .limit(1000)
    )
    compiled = pick.compile(engine)  # ids bound as the claim binds them
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        plan = " ".join(str(row[-1]) for row in rows)
    engine.dispose()
    assert "ix_deliveries_claim" in plan
