"""SendGrid's Event Webhook: verify, dedupe, and apply what happened to each message.

SendGrid POSTs batches (every ~30 s or 768 KB), retries for 24 h on any non-2xx, and sends
duplicates, so this is built to be run many times over the same events:
- the request must carry a valid ECDSA P-256 signature over `timestamp + raw body`
  (`sendgrid.helpers.eventwebhook`), with a timestamp no older than the tolerance (a replayed
  capture is refused), else nothing is read at all;
- each event is stored once, keyed by `sg_event_id` (a unique column): a re-delivered event is a
  no-op, and only newly stored events change anything;
- bounce (type "bounce": a hard bounce), spamreport and unsubscribe/group_unsubscribe stop mail
  to the subscriber (status + suppression list, as the audience code does); delivered, open and
  click are recorded against the ledger row, found from the custom args every personalization
  carries (they come back as top-level keys: issue_id, edition_id, subscriber_id).

Everything is set-based, so a 10,000-event batch is a handful of statements.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.addresses import normalize_email
from digest.audience.model import Status
from digest.audience.suppression import email_hash, installation_salt
from digest.config import Settings
from digest.period import Period
from digest.storage.schema import deliveries as d
from digest.storage.schema import editions as et
from digest.storage.schema import events as ev
from digest.storage.schema import issues as it
from digest.storage.schema import subscribers as s
from digest.storage.schema import suppressions as sup

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
DEFAULT_TOLERANCE = 600.0
"""Seconds a signed timestamp stays acceptable (either way, for clock skew)."""

STOPPING: dict[str, Status] = {
    "spamreport": Status.COMPLAINED,
    "bounce": Status.BOUNCED,
    "unsubscribe": Status.UNSUBSCRIBED,
    "group_unsubscribe": Status.UNSUBSCRIBED,
}
"""Events that stop mail, strongest first: a complaint outranks a bounce, a bounce an opt-out."""

_CHUNK = 500


@dataclass
class EventReport:
    """What one webhook POST did; `status` is the HTTP answer the route gives SendGrid."""

    status: int
    detail: str
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    stopped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def verify(
    public_key: str, body: bytes, signature: str, timestamp: str, now: dt.datetime, tolerance: float
) -> str | None:
    """None when the request is SendGrid's and fresh; otherwise why it is refused."""
    from sendgrid.helpers.eventwebhook import EventWebhook

    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return "missing or malformed timestamp"
    if abs(now.timestamp() - sent_at) > tolerance:
        return f"stale timestamp (more than {tolerance:.0f} s from now)"
    if not signature:
        return "missing signature"
    try:
        payload = body.decode("utf-8")
        base64.b64decode(signature, validate=True)
    except (UnicodeDecodeError, binascii.Error):
        return "malformed body or signature"
    try:
        verifier = EventWebhook(public_key)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"sendgrid.webhook_public_key is not a valid EC public key: {exc}"
        ) from None
    if not verifier.verify_signature(payload, signature, timestamp.strip()):
        return "bad signature"
    return None


def handle_webhook(
    engine: Engine,
    settings: Settings | None,
    body: bytes,
    *,
    signature: str,
    timestamp: str,
    now: dt.datetime,
    public_key: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> EventReport:
    """Verify one Event Webhook POST and apply its events (see the module docstring).

    `public_key` overrides `settings.sendgrid.webhook_public_key`. Status 403: not SendGrid's or
    stale (nothing read); 400: signed but not an event list; 503: no key configured; 200: done
    (duplicates included, so SendGrid stops retrying).
    """
    key = public_key or (settings.sendgrid.webhook_public_key if settings else None)
    if not key:
        return EventReport(503, "sendgrid.webhook_public_key is not set: events are refused")
    try:
        problem = verify(key, body, signature, timestamp, now, tolerance)
    except ValueError as exc:
        return EventReport(503, str(exc))
    if problem is not None:
        return EventReport(403, f"refused: {problem}")
    try:
        batch = orjson.loads(body)
    except orjson.JSONDecodeError:
        return EventReport(400, "the body is not JSON")
    if not isinstance(batch, list) or not all(isinstance(e, dict) for e in batch):
        return EventReport(400, "the body is not a list of events")
    report = apply_events(engine, batch, now)
    return report


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _when(value: Any, now: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now


@dataclass
class _Event:
    event_id: str | None
    kind: str
    occurred_at: dt.datetime
    issue_id: int | None
    subscriber_id: int | None
    email: str | None
    data: dict[str, Any]
    delivery_id: int | None = None


def _normalize(raw: dict[str, Any], now: dt.datetime) -> _Event:
    kind = str(raw.get("event") or "unknown")[:32]
    email = raw.get("email")
    event_id = raw.get("sg_event_id")
    return _Event(
        event_id=str(event_id)[:200] if event_id else None,
        kind=kind,
        occurred_at=_when(raw.get("timestamp"), now),
        issue_id=_int(raw.get("issue_id")),
        subscriber_id=_int(raw.get("subscriber_id")),
        email=str(email) if isinstance(email, str) and email else None,
        data=raw,
    )


def apply_events(engine: Engine, batch: Sequence[dict[str, Any]], now: dt.datetime) -> EventReport:
    """Store new events (by sg_event_id) and apply them; already-seen ones change nothing."""
    events: list[_Event] = []
    seen: set[str] = set()
    duplicates = 0
    for raw in batch:
        event = _normalize(raw, now)
        if event.event_id is not None:
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
        events.append(event)
    with engine.begin() as conn:
        stored_before = _already_stored(conn, [e.event_id for e in events if e.event_id])
        fresh = [e for e in events if e.event_id is None or e.event_id not in stored_before]
        duplicates += len(events) - len(fresh)
        _link_deliveries(conn, fresh)
        stored = _store(conn, fresh)
        duplicates += len(fresh) - len(stored)
        stopped = _stop_mail(conn, stored, now)
    return EventReport(
        200,
        f"{len(stored)} events stored, {duplicates} duplicates ignored",
        received=len(batch),
        stored=len(stored),
        duplicates=duplicates,
        stopped=stopped,
    )


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _already_stored(conn: Connection, event_ids: list[str | None]) -> set[str]:
    wanted = [i for i in event_ids if i]
    found: set[str] = set()
    for chunk in _chunks(wanted):
        query = select(ev.c.provider_event_id).where(ev.c.provider_event_id.in_(chunk))
        found.update(str(v) for (v,) in conn.execute(query))
    return found


def _link_deliveries(conn: Connection, events: list[_Event]) -> None:
    """Each event's ledger row, from its issue_id and subscriber_id custom args."""
    by_issue: dict[int, set[int]] = defaultdict(set)
    for e in events:
        if e.issue_id is not None and e.subscriber_id is not None:
            by_issue[e.issue_id].add(e.subscriber_id)
    rows: dict[tuple[int, int], int] = {}
    for issue_id, subscriber_ids in by_issue.items():
        for chunk in _chunks(sorted(subscriber_ids)):
            query = select(d.c.id, d.c.subscriber_id).where(
                d.c.issue_id == issue_id, d.c.subscriber_id.in_(chunk)
            )
            rows.update({(issue_id, sid): did for did, sid in conn.execute(query)})
    for e in events:
        if e.issue_id is not None and e.subscriber_id is not None:
            e.delivery_id = rows.get((e.issue_id, e.subscriber_id))


def _insert_ignoring(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _store(conn: Connection, events: list[_Event]) -> list[_Event]:
    """Insert the events; those another request stored meanwhile are dropped (ON CONFLICT)."""
    if not events:
        return []
    stmt = (
        _insert_ignoring(conn, ev)
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
        .returning(ev.c.provider_event_id)
    )
    params = [
        {
            "provider_event_id": e.event_id,
            "delivery_id": e.delivery_id,
            "subscriber_id": e.subscriber_id,
            "event": e.kind,
            "occurred_at": e.occurred_at,
            "data": e.data,
        }
        for e in events
    ]
    inserted: set[str | None] = set()
    for chunk in _chunks(params):
        result = conn.execute(stmt, list(chunk))
        inserted.update(row[0] for row in result)
    return [e for e in events if e.event_id is None or e.event_id in inserted]


def _stops(event: _Event) -> Status | None:
    status = STOPPING.get(event.kind)
    if event.kind == "bounce" and str(event.data.get("type", "bounce")) != "bounce":
        return None  # "blocked" is a temporary refusal, not a dead address
    return status


def _stop_mail(conn: Connection, events: list[_Event], now: dt.datetime) -> dict[str, int]:
    """Set the status (only of active subscribers) and suppress the address, set-based."""
    wanted: dict[Status, set[int]] = defaultdict(set)
    by_email: dict[Status, set[str]] = defaultdict(set)
    for e in events:
        status = _stops(e)
        if status is None:
            continue
        if e.subscriber_id is not None:
            wanted[status].add(e.subscriber_id)
        elif e.email:
            try:
                by_email[status].add(normalize_email(e.email))
            except ValueError:
                continue
    salt = installation_salt(conn) if wanted or by_email else b""
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    for status in dict.fromkeys(STOPPING.values()):
        ids = sorted(wanted.get(status, ()))
        emails = sorted(by_email.get(status, ()))
        changed = 0
        for column, values in ((s.c.id, ids), (s.c.email, emails)):
            for chunk in _chunks(values):
                changed += int(
                    conn.execute(
                        update(s)
                        .where(column.in_(chunk), s.c.status == Status.ACTIVE.value)
                        .values(
                            status=status.value,
                            status_changed_at=now,
                            status_reason=f"sendgrid {status.value} event",
                            updated_at=now,
                        )
                    ).rowcount
                    or 0
                )
        for chunk in _chunks(ids):
            rows = conn.execute(select(s.c.email_hash).where(s.c.id.in_(chunk)))
            hashes.update({h: status.value for (h,) in rows if h not in hashes})
        for email in emails:
            hashes.setdefault(email_hash(salt, email), status.value)
        if changed:
            counts[status.value] = changed
    if hashes:
        stmt = _insert_ignoring(conn, sup).on_conflict_do_nothing()
        params = [{"email_hash": h, "reason": r, "created_at": now} for h, r in hashes.items()]
        for chunk in _chunks(params):
            conn.execute(stmt, list(chunk))
    return counts


# --- digest stats -------------------------------------------------------------------------------


def record_own_unsubscribe(
    conn: Connection, subscriber_id: int, source: str, now: dt.datetime
) -> None:
    """An unsubscribe made on our own page counts like the provider's: against the latest
    delivery the person received, so `digest stats` shows it for that edition."""
    latest = conn.execute(
        select(func.max(d.c.id)).where(d.c.subscriber_id == subscriber_id)
    ).scalar_one()
    conn.execute(
        ev.insert().values(
            provider_event_id=None,
            delivery_id=latest,
            subscriber_id=subscriber_id,
            event="unsubscribe",
            occurred_at=now,
            data={"source": source},
        )
    )


@dataclass(frozen=True)
class EditionStats:
    edition_id: int
    tier: str
    locale: str
    interests: str
    sent: int
    delivered: int
    bounced: int
    complaints: int
    unsubscribes: int
    opens: int
    clicks: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_COUNTED = {
    "delivered": ("delivered",),
    "bounced": ("bounce",),
    "complaints": ("spamreport",),
    "unsubscribes": ("unsubscribe", "group_unsubscribe"),
    "opens": ("open",),
    "clicks": ("click",),
}


def edition_stats(engine: Engine, period: Period) -> list[EditionStats]:
    """Per edition of the period: messages accepted, and the recipients each event was seen for
    (unique: ten opens by one reader count once)."""
    with engine.connect() as conn:
        issue_id = conn.execute(
            select(it.c.id).where(it.c.period_key == period.key)
        ).scalar_one_or_none()
        if issue_id is None:
            return []
        editions = conn.execute(
            select(et.c.id, et.c.tier, et.c.locale, et.c.interests_key)
            .where(et.c.issue_id == issue_id)
            .order_by(et.c.id)
        ).all()
        sent: dict[int, int] = dict(
            conn.execute(
                select(d.c.edition_id, func.count())
                .where(d.c.issue_id == issue_id, d.c.state == "accepted")
                .group_by(d.c.edition_id)
            ).all()
        )
        seen: dict[tuple[int, str], int] = {}
        query = (
            select(d.c.edition_id, ev.c.event, func.count(func.distinct(ev.c.delivery_id)))
            .join(d, d.c.id == ev.c.delivery_id)
            .where(d.c.issue_id == issue_id)
            .group_by(d.c.edition_id, ev.c.event)
        )
        for edition_id, kind, n in conn.execute(query):
            seen[(edition_id, kind)] = int(n)
    return [
        EditionStats(
            eid,
            tier,
            locale,
            interests,
            int(sent.get(eid, 0)),
            **{
                name: sum(seen.get((eid, kind), 0) for kind in kinds)
                for name, kinds in _COUNTED.items()
            },
        )
        for eid, tier, locale, interests in editions
    ]
