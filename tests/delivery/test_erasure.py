from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, insert, select

from digest.audience import store
from digest.audience.model import Status
from digest.audience.suppression import suppression_reason
from digest.delivery import erasure
from digest.storage.schema import deliveries, events, issues, subscribers, suppressions
from tests.audience.test_store import NOW, ann


def _ledger_rows(engine: Engine, subscriber_id: int) -> None:
    with engine.begin() as conn:
        issue_id = conn.execute(
            insert(issues).values(
                period_key="2026-W47",
                period_start=dt.date(2026, 11, 16),
                period_end=dt.date(2026, 11, 22),
                status="sent",
                created_at=NOW,
            )
        ).inserted_primary_key[0]
        delivery_id = conn.execute(
            insert(deliveries).values(
                issue_id=issue_id,
                subscriber_id=subscriber_id,
                state="accepted",
                attempts=1,
                updated_at=NOW,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(events).values(occurred_at=NOW, data={}),
            [
                {"delivery_id": delivery_id, "subscriber_id": None, "event": "delivered"},
                {"delivery_id": None, "subscriber_id": subscriber_id, "event": "open"},
            ],
        )


def test_forget_erases_subscriber_deliveries_and_events(engine: Engine) -> None:
    with engine.begin() as conn:
        _, s = store.add(conn, ann(), source="cli")
    _ledger_rows(engine, s.id)
    with engine.begin() as conn:
        gone = erasure.forget(conn, "ann@example.com")
    assert gone == erasure.Forgotten(subscriber=True, deliveries=1, events=2)
    with engine.connect() as conn:
        for table in (subscribers, deliveries, events):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0


def test_forget_leaves_only_a_hash_on_the_suppression_list(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        erasure.forget(conn, "ann@example.com")
    with engine.connect() as conn:
        rows = conn.execute(select(suppressions)).all()
        assert suppression_reason(conn, "ANN@example.com") == "forgotten"
    (row,) = rows
    assert "ann" not in str(tuple(row)).lower()
    assert len(row.email_hash) == 64


def test_forget_keeps_an_earlier_reason(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, ann(), source="cli")
        store.set_status(conn, "ann@example.com", Status.COMPLAINED, "spam report")
        erasure.forget(conn, "ann@example.com")
        assert suppression_reason(conn, "ann@example.com") == "complained"
