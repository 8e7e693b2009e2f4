"""SendGrid's Event Webhook: verify, dedupe, and apply what happened to each message.

SendGrid POSTs batches (every ~30 s or 768 KB), retries for 24 h on any non-2xx, and sends
duplicates, so this is built to be run many times over the same events:
- the request must carry a valid ECDSA P-256 signature over `timestamp + raw body`
  (`sendgrid.helpers.eventwebhook`), with a timestamp no older than the tolerance (a replayed
  capture is refused), else nothing is read at all;
- each event is checked on its own (kind, ids an Integer column holds, timestamp, text fields):
  a bad one is kept in `rejected_events` with its reason and the rest of the batch is applied,
  since a non-2xx answer would only make SendGrid retry the same batch for 24 h;
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
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    Case,
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from digest.audience.addresses import normalize_email
from digest.audience.model import Status
from digest.audience.suppression import stop_mail
from digest.config import Settings
from digest.delivery.providers.sendgrid import SendGridSettings
from digest.issues.store import issue_row, stored_editions
from digest.period import Period
from digest.storage.schema import deliveries as d
from digest.storage.schema import events as ev
from digest.storage.schema import rejected_events

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
MAX_ID = 2**31 - 1
"""The largest id an Integer column holds on every engine (PostgreSQL's; SQLite's is wider)."""


@dataclass
class EventReport:
    """What one webhook POST did; `status` is the HTTP answer the route gives SendGrid."""

    status: int
    detail: str
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    stopped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def verify(
    public_key: str, body: bytes, signature: str, timestamp: str, now: dt.datetime, tolerance: float
) -> str | None:
    """None when the request is SendGrid's and fresh; otherwise why it is refused."""
    from sendgrid.helpers.eventwebhook import EventWebhook  # sendgrid only for its webhook

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

    `public_key` overrides `[sendgrid] webhook_public_key`. Status 403: not SendGrid's or
    stale (nothing read); 400: signed but not a JSON list; 503: no key configured; 200: the
    batch was processed (duplicates and rejected events included: a retry would change nothing,
    so SendGrid must stop retrying).
    """
    key = public_key or (SendGridSettings.of(settings).webhook_public_key if settings else None)
    if not key:
        return EventReport(503, "sendgrid.webhook_public_key is not set: events are refused")
    try:
        problem = verify(key, body, signature, timestamp, now, tolerance)
    except ValueError as exc:
        return EventReport(503, str(exc))
    if problem is not None:
        return EventReport(403, f"refused: {problem}")
    batch = _parse(body)
    if not isinstance(batch, list):
        return EventReport(400, "the body is not a readable JSON list of events")
    return apply_events(engine, batch, now)


def _parse(body: bytes) -> Any:
    """The body as JSON, or None. orjson first (fast); the standard parser when orjson gives up
    on valid JSON (a lone surrogate escape), so one odd event cannot refuse its whole batch."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; too deep
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


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


@dataclass(frozen=True)
class _Rejection:
    reason: str
    raw: Any


class _Refused(ValueError):
    """One event is not usable; the message is the reason an operator reads."""


MAX_DEPTH = 32
"""Nesting an event may have (SendGrid's are flat: an object of strings, numbers and lists of
strings). Deeper ones are refused before anything (json.dumps, the database's JSON encoder)
recurses into them: ~1,000 levels, which orjson reads, exhausts Python's recursion limit."""


def _too_deep(value: Any) -> bool:
    """More than MAX_DEPTH levels of objects and lists, found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if level > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children)
    return False


_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _check(raw: Any, now: dt.datetime) -> _Event:
    """The event, validated field by field before any of it reaches the database."""
    if not isinstance(raw, dict):
        raise _Refused(f"not an event object but a JSON {_JSON_TYPES.get(type(raw), 'list')}")
    if _too_deep(raw):
        raise _Refused(f"nested more than {MAX_DEPTH} levels deep (SendGrid's events are flat)")
    kind = _text(raw, "event", 32)
    if kind is None:
        raise _Refused("event: missing (every SendGrid event names its kind)")
    return _Event(
        event_id=_text(raw, "sg_event_id", 200),
        kind=kind,
        occurred_at=_when(raw.get("timestamp"), now),
        issue_id=_id(raw, "issue_id"),
        subscriber_id=_id(raw, "subscriber_id"),
        email=_text(raw, "email", 320),
        data=raw,
    )


def _shown(value: Any) -> str:
    """A value for a reason: short, and plain ASCII whatever it holds."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(raw: dict[str, Any], key: str, limit: int) -> str | None:
    """A short, printable, UTF-8-encodable string (what a String column can hold everywhere)."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _Refused(f"{key}: {_shown(value)} is not text")
    if len(value) > limit:
        raise _Refused(f"{key}: {len(value)} characters, at most {limit}")
    if not value.isprintable() or not _encodable(value):
        raise _Refused(f"{key}: {_shown(value)} holds control or unencodable characters")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, legal in JSON, not in UTF-8
        return False
    return True


def _id(raw: dict[str, Any], key: str) -> int | None:
    """A custom-arg id (sent as a string): a whole number an Integer column holds on every
    engine, or absent. Anything else is refused rather than guessed or left to the database."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    if number is None or not 1 <= number <= MAX_ID:
        raise _Refused(f"{key}: {_shown(value)} is not an id (a whole number, 1 to {MAX_ID})")
    return number


def _when(value: Any, now: dt.datetime) -> dt.datetime:
    """The Unix time the event happened; when it is missing, the time it arrived."""
    if value is None:
        return now
    try:
        if isinstance(value, bool):
            raise TypeError
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise _Refused(f"timestamp: {_shown(value)} is not a Unix time") from None


def _screen(batch: Sequence[Any], now: dt.datetime) -> tuple[list[_Event], list[_Rejection], int]:
    """Split a batch into usable events (each sg_event_id once) and rejections; count the
    repeats within the batch."""
    events: list[_Event] = []
    rejected: list[_Rejection] = []
    seen: set[str] = set()
    duplicates = 0
    for raw in batch:
        try:
            event = _check(raw, now)
        except _Refused as exc:
            rejected.append(_Rejection(str(exc), raw))
            continue
        if event.event_id is not None:
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
        events.append(event)
    return events, rejected, duplicates


@dataclass
class _Applied:
    stored: int = 0
    duplicates: int = 0
    stopped: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Applied) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        for status, n in other.stopped.items():
            self.stopped[status] = self.stopped.get(status, 0) + n


_EVENT_FAULTS = (DataError, IntegrityError, OverflowError, ValueError, TypeError)
"""What the database (or its driver) raises over one event's values, as opposed to being
unreachable (OperationalError): that propagates, the POST fails, and SendGrid retries later."""


def apply_events(engine: Engine, batch: Sequence[Any], now: dt.datetime) -> EventReport:
    """Store new events (by sg_event_id) and apply them; already-seen ones change nothing.

    Each event is checked on its own: a bad one is kept in `rejected_events` with its reason and
    the rest of the batch is applied. Should the database still refuse the batch over some value
    the checks let through, the events are applied one by one, so only that event is rejected.
    """
    events, rejected, duplicates = _screen(batch, now)
    try:
        with engine.begin() as conn:
            applied = _apply(conn, events, now)
            _record_rejected(conn, rejected, now)
    except _EVENT_FAULTS:
        applied = _apply_one_by_one(engine, events, rejected, now)
    duplicates += applied.duplicates
    return EventReport(
        200,
        f"{applied.stored} events stored, {duplicates} duplicates ignored, "
        f"{len(rejected)} rejected",
        received=len(batch),
        stored=applied.stored,
        duplicates=duplicates,
        rejected=len(rejected),
        stopped=applied.stopped,
    )


def _apply_one_by_one(
    engine: Engine, events: list[_Event], rejected: list[_Rejection], now: dt.datetime
) -> _Applied:
    """The slow path, for a batch the database refused: each event in its own transaction, and
    each it refuses added to `rejected` with the driver's complaint; then all rejections kept."""
    applied = _Applied()
    for one in events:
        try:
            with engine.begin() as conn:
                applied.add(_apply(conn, [one], now))
        except _EVENT_FAULTS as exc:
            rejected.append(_Rejection(f"the database refused it: {_fault(exc)}", one.data))
    with engine.begin() as conn:
        _record_rejected(conn, rejected, now)
    return applied


def _fault(exc: Exception) -> str:
    """The first line of the driver's complaint (no SQL, no parameters)."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {first[0] if first else ''}"[:300]


def _apply(conn: Connection, events: list[_Event], now: dt.datetime) -> _Applied:
    stored_before = _already_stored(conn, [e.event_id for e in events if e.event_id])
    fresh = [e for e in events if e.event_id is None or e.event_id not in stored_before]
    _link_deliveries(conn, fresh)
    stored = _store(conn, fresh)
    duplicates = len(events) - len(stored)
    return _Applied(len(stored), duplicates, _stop_mail(conn, stored, now))


_REJECTED_DATA_LIMIT = 20_000
"""Characters of a rejected event's raw JSON kept (SendGrid's events are well under 2,000)."""


def _record_rejected(conn: Connection, rejected: list[_Rejection], now: dt.datetime) -> None:
    """Keep each rejection, the raw event as ASCII JSON text (safe in any text column)."""
    rows = [
        {
            "received_at": now,
            "provider_event_id": _readable_id(r.raw),
            "reason": r.reason[:1000],
            "data": _raw_text(r.raw),
        }
        for r in rejected
    ]
    for chunk in _chunks(rows):
        conn.execute(rejected_events.insert(), list(chunk))


def _raw_text(raw: Any) -> str:
    """The rejected event as ASCII JSON, cut to the limit; a too deeply nested one is not kept
    (serialising it would exhaust the recursion limit)."""
    if _too_deep(raw):
        return json.dumps(f"(not kept: nested more than {MAX_DEPTH} levels deep)")
    return json.dumps(raw, default=str)[:_REJECTED_DATA_LIMIT]


def _readable_id(raw: Any) -> str | None:
    """The event's sg_event_id when it can be stored as it is (so an operator can find it)."""
    if not isinstance(raw, dict):
        return None
    try:
        return _text(raw, "sg_event_id", 200)
    except _Refused:
        return None


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


HARD_BOUNCE_TYPES = ("bounce",)
"""The `type`s of a `bounce` event that mean a dead address; "blocked" is a temporary refusal.
A bounce without a type counts as hard. `_stops` and `digest stats` both follow this."""


def is_hard_bounce(kind: str, data: dict[str, Any]) -> bool:
    return kind == "bounce" and data.get("type") in (None, *HARD_BOUNCE_TYPES)


def _hard_bounce_sql() -> ColumnElement[bool]:
    """`is_hard_bounce` over the stored events, in SQL."""
    bounce_type = ev.c.data["type"].as_string()
    return and_(
        ev.c.event == "bounce", or_(bounce_type.is_(None), bounce_type.in_(HARD_BOUNCE_TYPES))
    )


def _stops(event: _Event) -> Status | None:
    if event.kind == "bounce" and not is_hard_bounce(event.kind, event.data):
        return None
    return STOPPING.get(event.kind)


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
    return stop_mail(conn, wanted, by_email, dict.fromkeys(STOPPING.values()), "sendgrid", now)


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


def _outcome() -> Case[Any]:
    """Each stored event as the `EditionStats` column it counts in (NULL: counted nowhere)."""
    return case(
        (ev.c.event == "delivered", literal("delivered")),
        (_hard_bounce_sql(), literal("bounced")),
        (ev.c.event == "spamreport", literal("complaints")),
        (ev.c.event.in_(("unsubscribe", "group_unsubscribe")), literal("unsubscribes")),
        (ev.c.event == "open", literal("opens")),
        (ev.c.event == "click", literal("clicks")),
        else_=null(),
    )


_COUNTED = ("delivered", "bounced", "complaints", "unsubscribes", "opens", "clicks")


def edition_stats(engine: Engine, period: Period) -> list[EditionStats]:
    """Per edition of the period: messages accepted, and the people each outcome was seen for
    (ten opens by one reader count once; `unsubscribe` plus `group_unsubscribe` too)."""
    with engine.connect() as conn:
        issue = issue_row(conn, period.key)
        if issue is None:
            return []
        issue_id = issue.id
        editions = [
            (e.stored_id, e.tier, e.locale, e.interests_key)
            for e in stored_editions(conn, issue_id)
        ]
        sent: dict[int, int] = dict(
            conn.execute(
                select(d.c.edition_id, func.count())
                .where(d.c.issue_id == issue_id, d.c.state == "accepted")
                .group_by(d.c.edition_id)
            ).all()
        )
        seen = _people_per_outcome(conn, issue_id)
    return [
        EditionStats(
            eid,
            tier,
            locale,
            interests,
            int(sent.get(eid, 0)),
            **{name: seen.get((eid, name), 0) for name in _COUNTED},
        )
        for eid, tier, locale, interests in editions
    ]


def _people_per_outcome(conn: Connection, issue_id: int) -> dict[tuple[int, str], int]:
    """(edition id, outcome) → distinct subscribers, in one grouped query."""
    labelled = (
        select(d.c.edition_id, d.c.subscriber_id, _outcome().label("outcome"))
        .join(d, d.c.id == ev.c.delivery_id)
        .where(d.c.issue_id == issue_id)
        .subquery()
    )
    query = (
        select(
            labelled.c.edition_id,
            labelled.c.outcome,
            func.count(labelled.c.subscriber_id.distinct()),
        )
        .where(labelled.c.outcome.is_not(None))
        .group_by(labelled.c.edition_id, labelled.c.outcome)
    )
    return {(eid, outcome): int(n) for eid, outcome, n in conn.execute(query)}


@dataclass(frozen=True)
class RejectedEvent:
    received_at: dt.datetime
    provider_event_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "provider_event_id": self.provider_event_id,
            "reason": self.reason,
        }


def rejected_summary(engine: Engine, limit: int = 5) -> tuple[int, list[RejectedEvent]]:
    """How many webhook events were ever rejected, and the newest `limit` of them."""
    r = rejected_events.c
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(rejected_events)).scalar_one()
        rows = conn.execute(
            select(r.received_at, r.provider_event_id, r.reason).order_by(r.id.desc()).limit(limit)
        ).all()
    return int(total), [RejectedEvent(*row) for row in rows]
