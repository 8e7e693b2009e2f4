"""The Event Webhook: signed like SendGrid signs (ECDSA P-256 over timestamp + raw body), on
SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import json
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
from digest.delivery.events import edition_stats, handle_webhook, rejected_summary
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.schema import events, rejected_events

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def signed(payload: list[dict[str, Any]], at: dt.datetime = NOW) -> tuple[bytes, str, str]:
    body = json.dumps(payload).encode()  # not orjson: it cannot write integers past 64 bits
    timestamp = str(int(at.timestamp()))
    signature = PRIVATE.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, base64.b64encode(signature).decode(), timestamp


def signed_body(body: bytes, at: dt.datetime = NOW) -> str:
    """The signature SendGrid would send with this exact body."""
    message = str(int(at.timestamp())).encode() + body
    return base64.b64encode(PRIVATE.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


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


# --- one bad event costs only itself ------------------------------------------------------------


def rejections(engine: Engine) -> list[tuple[str | None, str]]:
    with engine.connect() as conn:
        query = select(rejected_events.c.provider_event_id, rejected_events.c.reason)
        return [(event_id, reason) for event_id, reason in conn.execute(query)]


@pytest.mark.parametrize("too_big", ["2147483648", "99999999999999999999", 10**30])
def test_an_id_beyond_the_integer_column_rejects_only_that_event(
    engine: Engine, sent: list[int], too_big: Any
) -> None:
    bad = event("open", sent[0], 9, subscriber_id=too_big)
    report = post(engine, [event("delivered", sent[0]), bad, event("bounce", sent[1])])
    assert (report.status, report.stored, report.rejected) == (200, 2, 1)
    assert status_of(engine, "reader2@example.com") is Status.BOUNCED
    ((event_id, reason),) = rejections(engine)
    assert event_id == "ev-open-1-9" and reason.startswith("subscriber_id:")


def test_an_event_that_is_not_an_object_is_rejected_alone(engine: Engine, sent: list[int]) -> None:
    body = b'["hello", ' + orjson.dumps(event("spamreport", sent[0])) + b"]"
    report = post(engine, [], body=body, signature=signed_body(body))
    assert (report.status, report.stored, report.rejected) == (200, 1, 1)
    assert rejections(engine) == [(None, "not an event object but a JSON string")]


def test_an_event_nested_a_thousand_deep_is_rejected_alone(engine: Engine, sent: list[int]) -> None:
    """Review finding: orjson reads 1,000 levels, but storing them exhausted Python's recursion
    limit: 500 and a traceback, the whole signed batch retried for 24 h."""
    deep = b"[" * 1000 + b"]" * 1000
    bad = orjson.dumps(event("open", sent[0]))[:-1] + b', "extra": ' + deep + b"}"
    body = b"[" + bad + b"," + orjson.dumps(event("open", sent[1])) + b"]"
    report = post(engine, [], body=body, signature=signed_body(body))
    assert (report.status, report.stored, report.rejected) == (200, 1, 1)
    assert rejections(engine)[0][1].startswith("nested more than 32 levels deep")


def test_a_body_nested_beyond_any_parser_is_refused_not_an_error(
    engine: Engine, sent: list[int]
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    report = post(engine, [], body=body, signature=signed_body(body))
    assert report.status == 400 and stored_events(engine) == 0


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("event", None, "event: missing"),
        ("issue_id", "1; drop table", "issue_id:"),
        ("timestamp", "yesterday", "timestamp:"),
        ("sg_event_id", "x" * 201, "sg_event_id: 201 characters"),
        ("email", "a\x00@example.com", "email:"),
    ],
)
def test_each_field_is_checked_with_a_reason(
    engine: Engine, sent: list[int], field: str, value: Any, reason: str
) -> None:
    report = post(engine, [event("open", sent[0], **{field: value}), event("open", sent[1])])
    assert (report.stored, report.rejected) == (1, 1)
    assert rejections(engine)[0][1].startswith(reason)


def test_a_lone_surrogate_no_longer_refuses_the_batch(engine: Engine, sent: list[int]) -> None:
    """Valid JSON orjson will not read: the standard parser takes over, and the text goes into
    the event's data (escaped), not into a column that cannot hold it."""
    body = orjson.dumps([event("click", sent[0])])[:-2] + b', "useragent": "\\ud800"}]'
    report = post(engine, [], body=body, signature=signed_body(body))
    assert (report.status, report.stored, report.rejected) == (200, 1, 0)


def test_a_lone_surrogate_in_the_event_id_rejects_that_event(
    engine: Engine, sent: list[int]
) -> None:
    bad = orjson.dumps(event("open", sent[0])).replace(b"ev-open-1-0", b"\\udc00")
    body = b"[" + bad + b"," + orjson.dumps(event("open", sent[1])) + b"]"
    report = post(engine, [], body=body, signature=signed_body(body))
    assert (report.status, report.stored, report.rejected) == (200, 1, 1)


def test_a_value_the_checks_miss_still_costs_only_its_event(
    engine: Engine, sent: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: with the field checks switched off, the database's own refusal of one
    value sends the batch down the one-by-one path instead of failing it."""
    from digest.delivery import events as module

    real = module._id
    monkeypatch.setattr(module, "_id", lambda raw, key: int(raw.get(key) or 0) or None)
    bad = event("open", sent[0], 9, subscriber_id="99999999999999999999")
    report = post(engine, [event("delivered", sent[0]), bad, event("spamreport", sent[1])])
    monkeypatch.setattr(module, "_id", real)
    assert (report.status, report.stored, report.rejected) == (200, 2, 1)
    assert status_of(engine, "reader2@example.com") is Status.COMPLAINED
    assert rejections(engine)[0][1].startswith("the database refused it")


def test_a_body_that_is_not_a_list_is_refused(engine: Engine, sent: list[int]) -> None:
    body = orjson.dumps(event("open", sent[0]))
    report = post(engine, [], body=body, signature=signed_body(body))
    assert report.status == 400 and stored_events(engine) == 0


# --- digest stats counts people -----------------------------------------------------------------


def stats_row(engine: Engine) -> Any:
    (row,) = [r for r in edition_stats(engine, parse_period("2026-W47")) if r.sent]
    return row


def test_stats_count_one_person_who_unsubscribed_twice_once(
    engine: Engine, sent: list[int]
) -> None:
    post(engine, [event("unsubscribe", sent[0]), event("group_unsubscribe", sent[0])])
    assert stats_row(engine).unsubscribes == 1


def test_stats_do_not_count_blocked_bounces(engine: Engine, sent: list[int]) -> None:
    post(
        engine, [event("bounce", sent[0], type="blocked"), event("bounce", sent[1], type="bounce")]
    )
    post(engine, [{k: v for k, v in event("bounce", sent[2]).items() if k != "type"}])
    assert stats_row(engine).bounced == 2  # the typed hard bounce and the type-less one


def test_rejected_events_are_summarised_newest_first(engine: Engine, sent: list[int]) -> None:
    post(engine, [event("open", sent[0], 1, issue_id="x")])
    post(engine, [event("open", sent[0], 2, issue_id="y")])
    total, latest = rejected_summary(engine, limit=1)
    assert total == 2 and [e.provider_event_id for e in latest] == ["ev-open-1-2"]


def test_an_unreachable_database_is_an_error_not_a_rejection(tmp_path: Path) -> None:
    """Only the event's own fault makes it a rejection; the route answers 500 here, so SendGrid
    retries the batch later instead of losing it."""
    from sqlalchemy.exc import OperationalError

    from digest.storage.db import create

    nowhere = create(f"sqlite:///{tmp_path / 'missing' / 'digest.db'}")
    with pytest.raises(OperationalError):
        post(nowhere, [event("bounce", 1)])
