"""POST /webhooks/sendgrid in-process: signatures, freshness, and a 10,000-event batch."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select

from digest.config import Settings
from digest.delivery import MemoryProvider
from digest.delivery.events import SIGNATURE_HEADER, TIMESTAMP_HEADER
from digest.delivery.run import send_period
from digest.period import parse_period
from digest.storage.schema import events, rejected_events, subscribers
from digest.web.app import create_app
from tests.delivery.conftest import SEND_PERIOD, add_subscribers, seed_issue, send_settings_for
from tests.web.conftest import Client, Site

PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def signed_headers(body: bytes, at: dt.datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = PRIVATE.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        TIMESTAMP_HEADER: timestamp,
        "content-type": "application/json",
    }


def events_batch(n: int) -> bytes:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    batch: list[dict[str, Any]] = [
        {
            "email": f"reader{i}@example.com",
            "timestamp": now - 60,
            "event": "open",
            "sg_event_id": f"ev-open-{i}",
            "sg_message_id": f"msg.{i}",
        }
        for i in range(n)
    ]
    return orjson.dumps(batch)


@pytest.fixture
def hooked(site: Site) -> Client:
    sendgrid = site.settings.sendgrid.model_copy(update={"webhook_public_key": PUBLIC_KEY})
    settings = site.settings.model_copy(update={"sendgrid": sendgrid})
    return Client(create_app(settings, site.engine))


def stored(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def test_a_signed_fresh_batch_is_stored(site: Site, hooked: Client) -> None:
    body = events_batch(3)
    answer = hooked.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(body, dt.datetime.now(dt.UTC))
    )
    assert answer.status_code == 200 and stored(site) == 3


def test_a_bad_signature_gets_403_and_stores_nothing(site: Site, hooked: Client) -> None:
    body = events_batch(3)
    headers = signed_headers(b"something else", dt.datetime.now(dt.UTC))
    answer = hooked.post("/webhooks/sendgrid", content=body, headers=headers)
    assert answer.status_code == 403 and stored(site) == 0


def test_a_stale_timestamp_gets_403_and_stores_nothing(site: Site, hooked: Client) -> None:
    body = events_batch(3)
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    answer = hooked.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(body, an_hour_ago)
    )
    assert answer.status_code == 403 and stored(site) == 0


def test_no_signature_headers_get_403(site: Site, hooked: Client) -> None:
    assert hooked.post("/webhooks/sendgrid", content=events_batch(1)).status_code == 403


def test_without_a_configured_key_events_are_refused(site: Site) -> None:
    body = events_batch(1)
    answer = site.client.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(body, dt.datetime.now(dt.UTC))
    )
    assert answer.status_code == 503 and stored(site) == 0


def test_ten_thousand_events_in_one_request(site: Site, hooked: Client) -> None:
    body = events_batch(10_000)
    answer = hooked.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(body, dt.datetime.now(dt.UTC))
    )
    assert answer.status_code == 200
    assert answer.json()["stored"] == 10_000 and stored(site) == 10_000


# --- through the signed endpoint, on SQLite and PostgreSQL --------------------------------------


@pytest.fixture
def mailed(engine: Engine, db_url: str, tmp_path: Path) -> Client:
    """Readers 1..3 sent the seeded week (issue 1), and an app that checks SendGrid's signature."""
    settings = send_settings_for(db_url, tmp_path / "outbox")
    assert isinstance(settings, Settings)
    seed_issue(engine)
    add_subscribers(engine, 3)
    send_period(settings, engine, parse_period(SEND_PERIOD), MemoryProvider())
    sendgrid = settings.sendgrid.model_copy(update={"webhook_public_key": PUBLIC_KEY})
    return Client(create_app(settings.model_copy(update={"sendgrid": sendgrid}), engine))


def custom_args_event(kind: str, subscriber_id: str) -> dict[str, Any]:
    return {
        "email": "reader1@example.com",
        "timestamp": int(dt.datetime.now(dt.UTC).timestamp()) - 60,
        "event": kind,
        "sg_event_id": f"ev-{kind}-{subscriber_id}",
        "issue_id": "1",
        "subscriber_id": subscriber_id,
    }


@pytest.mark.parametrize("too_big", ["2147483648", "99999999999999999999"])
def test_an_overflowing_id_costs_only_its_event(
    engine: Engine, mailed: Client, too_big: str
) -> None:
    batch = [custom_args_event("open", too_big), custom_args_event("spamreport", "2")]
    body = orjson.dumps(batch)
    answer = mailed.post(
        "/webhooks/sendgrid", content=body, headers=signed_headers(body, dt.datetime.now(dt.UTC))
    )
    assert answer.status_code == 200
    assert (answer.json()["stored"], answer.json()["rejected"]) == (1, 1)
    with engine.connect() as conn:
        reason = conn.execute(select(rejected_events.c.reason)).scalar_one()
        status = conn.execute(select(subscribers.c.status).where(subscribers.c.id == 2)).scalar()
    assert reason.startswith("subscriber_id:") and status == "complained"
