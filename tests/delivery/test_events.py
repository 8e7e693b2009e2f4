"""The Event Webhook: signed like SendGrid signs (ECDSA P-256 over timestamp + raw body), on
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select

from digest.audience import store
from digest.audience.model import Status
from digest.audience.suppression import suppression_reason
from digest.config import Settings
from digest.delivery import MemoryProvider
from digest.delivery.events import edition_stats, handle_webhook
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.schema import events

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def signed(payload: list[dict[str, Any]], at: dt.datetime = NOW) -> tuple[bytes, str, str]:
    body = orjson.dumps(payload)
    timestamp = str(int(at.timestamp()))
    signature = PRIVATE.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, base64.b64encode(signature).decode(), timestamp


def event(kind: str, sid: int, n: int = 0, issue_id: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "email": f"reader{sid}@example.com",
        "timestamp": int(NOW.timestamp()) - 60,
        "event": kind,
        "sg_event_id": f"ev-{kind}-{sid}-{n}",
        "sg_message_id": "msg.1",
        "issue_id": str(issue_id),
        "edition_id": "1",
        "subscriber_id": str(sid),
        **extra,
    }


@pytest.fixture
def settings(db_url: str, tmp_path: Path, seeded: SimpleNamespace) -> Settings:
    made: Settings = seeded.settings(db_url, tmp_path / "outbox")
    return made


@pytest.fixture
def sent(settings: Settings, engine: Engine, seeded: SimpleNamespace) -> list[int]:
    """Subscribers 1..3 sent the seeded issue (id 1)."""
    seeded.issue(engine)
    ids: list[int] = seeded.subscribers(engine, 3)
    send_period(settings, engine, parse_period("2026-W47"), MemoryProvider())
    return ids


def post(engine: Engine, payload: list[dict[str, Any]], **override: Any) -> Any:
    body, signature, timestamp = signed(payload)
    body = override.pop("body", body)
    args: dict[str, Any] = {"signature": signature, "timestamp": timestamp, "now": NOW}
    args.update(override)
    return handle_webhook(engine, None, body, public_key=PUBLIC_KEY, **args)


def status_of(engine: Engine, email: str) -> Status:
    with engine.connect() as conn:
        found = store.get(conn, email)
    assert found is not None
    return found.status


def stored_events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_a_hard_bounce_marks_bounced_and_suppresses(engine: Engine, sent: list[int]) -> None:
    report = post(engine, [event("bounce", sent[0], type="bounce")])
    assert report.status == 200
    assert status_of(engine, "reader1@example.com") is Status.BOUNCED
    with engine.connect() as conn:
        assert suppression_reason(conn, "reader1@example.com") == "bounced"


def test_a_blocked_bounce_changes_nothing(engine: Engine, sent: list[int]) -> None:
    post(engine, [event("bounce", sent[0], type="blocked")])
    assert status_of(engine, "reader1@example.com") is Status.ACTIVE


def test_a_spam_report_marks_complained(engine: Engine, sent: list[int]) -> None:
    post(engine, [event("spamreport", sent[1])])
    assert status_of(engine, "reader2@example.com") is Status.COMPLAINED


def test_an_unsubscribe_marks_unsubscribed(engine: Engine, sent: list[int]) -> None:
    post(engine, [event("group_unsubscribe", sent[2])])
    assert status_of(engine, "reader3@example.com") is Status.UNSUBSCRIBED


def test_an_event_without_custom_args_is_matched_by_address(
    engine: Engine, sent: list[int]
) -> None:
    bare = {"email": "Reader2@Example.com", "event": "spamreport", "sg_event_id": "x1"}
    post(engine, [bare])
    assert status_of(engine, "reader2@example.com") is Status.COMPLAINED


def test_delivered_open_and_click_are_recorded_against_the_ledger_row(
    engine: Engine, sent: list[int]
) -> None:
    post(engine, [event("delivered", sent[0]), event("open", sent[0]), event("click", sent[0])])
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.event, events.c.delivery_id)).all()
    assert {kind for kind, _ in rows} == {"delivered", "open", "click"}
    assert all(delivery is not None for _, delivery in rows)


def test_a_bad_signature_is_refused_and_changes_nothing(engine: Engine, sent: list[int]) -> None:
    body, _, timestamp = signed([event("bounce", sent[0])])
    _, other_signature, _ = signed([event("open", sent[0])])
    report = post(engine, [], body=body, signature=other_signature, timestamp=timestamp)
    assert report.status == 403 and stored_events(engine) == 0
    assert status_of(engine, "reader1@example.com") is Status.ACTIVE


def test_a_tampered_body_is_refused(engine: Engine, sent: list[int]) -> None:
    body, signature, timestamp = signed([event("open", sent[0])])
    tampered = body.replace(b"open", b"bounce")
    report = post(engine, [], body=tampered, signature=signature, timestamp=timestamp)
    assert report.status == 403 and stored_events(engine) == 0


def test_a_stale_timestamp_is_refused_even_when_signed(engine: Engine, sent: list[int]) -> None:
    body, signature, timestamp = signed([event("bounce", sent[0])], NOW - dt.timedelta(hours=1))
    report = post(engine, [], body=body, signature=signature, timestamp=timestamp)
    assert report.status == 403 and "stale" in report.detail
    assert stored_events(engine) == 0


def test_garbage_signature_is_refused_not_an_error(engine: Engine, sent: list[int]) -> None:
    report = post(engine, [event("open", sent[0])], signature="not base64!!")
    assert report.status == 403


def test_no_configured_key_refuses_everything(engine: Engine, sent: list[int]) -> None:
    body, signature, timestamp = signed([event("open", sent[0])])
    report = handle_webhook(
        engine, Settings(), body, signature=signature, timestamp=timestamp, now=NOW
    )
    assert report.status == 503 and "webhook_public_key" in report.detail


def test_the_key_comes_from_settings(engine: Engine, sent: list[int]) -> None:
    body, signature, timestamp = signed([event("open", sent[0])])
    configured = Settings.model_validate({"sendgrid": {"webhook_public_key": PUBLIC_KEY}})
    report = handle_webhook(
        engine, configured, body, signature=signature, timestamp=timestamp, now=NOW
    )
    assert report.status == 200 and report.stored == 1


def test_redelivered_events_are_ignored(engine: Engine, sent: list[int]) -> None:
    batch = [event("open", sent[0]), event("click", sent[0])]
    post(engine, batch)
    again = post(engine, batch)
    assert (again.status, again.stored, again.duplicates) == (200, 0, 2)
    assert stored_events(engine) == 2


def test_duplicates_within_one_batch_are_stored_once(engine: Engine, sent: list[int]) -> None:
    report = post(engine, [event("open", sent[0])] * 3)
    assert (report.stored, report.duplicates) == (1, 2)


def test_ten_thousand_events_in_one_post(engine: Engine, sent: list[int]) -> None:
    batch = [event("open", sent[n % 3], n) for n in range(9_997)]
    batch += [event("bounce", sent[0], 1, type="bounce"), event("spamreport", sent[1], 1)]
    batch += [event("unsubscribe", sent[2], 1)]
    report = post(engine, batch)
    assert (report.status, report.stored) == (200, 10_000)
    assert report.stopped == {"complained": 1, "bounced": 1, "unsubscribed": 1}


def test_stats_count_unique_recipients_per_edition(engine: Engine, sent: list[int]) -> None:
    post(
        engine,
        [
            event("delivered", sent[0]),
            event("delivered", sent[1]),
            event("open", sent[0], 1),
            event("open", sent[0], 2),
            event("click", sent[1]),
            event("bounce", sent[2], type="bounce"),
        ],
    )
    (row,) = [r for r in edition_stats(engine, parse_period("2026-W47")) if r.sent]
    assert (row.sent, row.delivered, row.opens, row.clicks, row.bounced) == (3, 2, 1, 1, 1)
