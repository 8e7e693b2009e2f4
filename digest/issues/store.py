"""The issues stage's tables: freezing editions, so sending and preview reuse what was built.

Once built for a period, an issue's editions are stored; `load_editions` gives them back with
their ids. The issue row also keeps the build's accounting and the signals as the build showed
them (`load_signal_snapshot`): the web pages of a sent issue render those, not the signal store,
which a later re-ingest changes.

A rebuild (`--force`) replaces them only while nothing has been sent: once `send_started_at` is
set on the issue, its editions are what subscribers received (or are receiving) and stay put.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from digest.issues.accounting import Accounting
from digest.issues.checks import Check
from digest.issues.controls import NO_CONTROLS, IssueControls
from digest.issues.editions import Edition, Issue
from digest.model import Signal
from digest.period import Period
from digest.signals.store import classes_of, signals_between, stored_signal
from digest.storage.schema import editions as et
from digest.storage.schema import issue_controls as ct
from digest.storage.schema import issues as it

BUILT = "awaiting_approval"


class FrozenError(Exception):
    """The period's editions cannot be rebuilt: sending has begun."""


@dataclass(frozen=True)
class IssueRow:
    id: int
    period: Period
    status: str
    built_at: dt.datetime | None
    send_started_at: dt.datetime | None
    stale_at: dt.datetime | None = None
    """When an editor's change made the frozen editions out of date (None: they are current)."""


ROW = tuple(c for c in it.c if c.key != "signals")
"""An `issues` row without its signal snapshot (tens of KB of JSON an issue): only a sent
issue's pages read that (`load_signal_snapshot`), not every list and lookup of issues (the
public archive index and feed read every sent issue's row)."""


def issue_row(conn: Connection, period_key: str) -> IssueRow | None:
    """The period's issue (None before its first build)."""
    row = conn.execute(select(*ROW).where(it.c.period_key == period_key)).first()
    if row is None:
        return None
    return IssueRow(
        row.id,
        Period(row.period_start, row.period_end),
        row.status,
        row.built_at,
        row.send_started_at,
        row.stale_at,
    )


def find_issue(engine: Engine, period: Period) -> IssueRow | None:
    with engine.connect() as conn:
        return issue_row(conn, period.key)


def edition_from_row(row: Any) -> Edition:
    """A stored edition (a row of `editions`), its id included."""
    interests = frozenset(filter(None, str(row.interests_key).split(";")))
    return Edition(
        tier=row.tier,
        locale=row.locale,
        interests=interests,
        subject=row.subject,
        preheader=row.preheader,
        html=row.html,
        text=row.text,
        signal_ids=list(row.signal_ids),
        checks=[Check(c["name"], c["level"], c["message"]) for c in row.checks],
        id=row.id,
    )


def load_editions(engine: Engine, period: Period) -> list[Edition]:
    """The frozen editions of a period, tiers and locales in a stable order ([] if none)."""
    with engine.connect() as conn:
        issue = issue_row(conn, period.key)
        if issue is None:
            return []
        rows = conn.execute(select(et).where(et.c.issue_id == issue.id).order_by(et.c.id)).all()
    return [edition_from_row(r) for r in rows]


def issue_and_editions(engine: Engine, period: Period) -> tuple[Any, list[Edition]]:
    """The period's whole `issues` row (None before a build) and its frozen editions."""
    with engine.connect() as conn:
        row = conn.execute(select(*ROW).where(it.c.period_key == period.key)).first()
        if row is None:
            return None, []
        rows = conn.execute(select(et).where(et.c.issue_id == row.id).order_by(et.c.id)).all()
    return row, [edition_from_row(r) for r in rows]


def _ensure_issue(conn: Connection, period: Period, now: dt.datetime) -> IssueRow:
    existing = issue_row(conn, period.key)
    if existing is not None:
        return existing
    try:
        with conn.begin_nested():
            conn.execute(
                insert(it).values(
                    period_key=period.key,
                    period_start=period.start,
                    period_end=period.end,
                    status="building",
                    created_at=now,
                )
            )
    except IntegrityError:  # another build inserted it first: use theirs
        pass
    found = issue_row(conn, period.key)
    assert found is not None
    return found


def freeze(engine: Engine, issue: Issue, *, force: bool = False) -> bool:
    """Store an issue's editions. Returns False (storing nothing) when editions already exist
    and `force` is not set; raises FrozenError on `force` once sending has begun."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        row = issue_row(conn, issue.period.key)
        if row is not None:
            # Lock the issue row for the rest of the transaction (PostgreSQL; SQLite's writer
            # lock does the same), so a send cannot start between this check and the write.
            conn.execute(select(it.c.id).where(it.c.id == row.id).with_for_update())
            row = issue_row(conn, issue.period.key)
            assert row is not None
            if row.send_started_at is not None and force:
                raise FrozenError(
                    f"{issue.period.key}: sending began at {row.send_started_at:%Y-%m-%d %H:%M}"
                    " UTC; its editions are final and cannot be rebuilt"
                )
            has_editions = conn.execute(
                select(et.c.id).where(et.c.issue_id == row.id).limit(1)
            ).first()
            stale_ok = row.stale_at is not None and row.send_started_at is None
            if has_editions and not force and not stale_ok:
                return False
        row = _ensure_issue(conn, issue.period, now)
        conn.execute(delete(et).where(et.c.issue_id == row.id))
        conn.execute(insert(et), [_edition_values(row.id, e, now) for e in issue.editions])
        # Still stale when an editor changed the controls while this build ran.
        stale = now if controls_of(conn, issue.period.key) != issue.controls else None
        accounting = issue.accounting.as_dict() if issue.accounting is not None else None
        conn.execute(
            update(it)
            .where(it.c.id == row.id)
            .values(
                status=BUILT,
                built_at=now,
                stale_at=stale,
                accounting=accounting,
                signals=signal_snapshot(issue),
            )
        )
    return True


def signal_snapshot(issue: Issue) -> dict[str, dict[str, Any]]:
    """Every kept record of the issue as the build rendered it (merged stories filled), by id.

    The signal store keeps only the newest reading of a signal, so a page of a sent issue that
    read it would show a later re-ingest's text; this is what the pages read instead."""
    return {
        signal.id: signal.to_json_dict()
        for section in issue.grouped.sections
        for signal in section.signals
    }


def load_signal_snapshot(conn: Connection, period: Period) -> dict[str, Signal] | None:
    """The frozen issue's signals as built, by id (None: no issue, or one frozen before the
    snapshot was recorded, whose pages fall back to the signal store)."""
    value = conn.execute(select(it.c.signals).where(it.c.period_key == period.key)).scalar()
    if value is None:
        return None
    return {str(sid): stored_signal(data) for sid, data in value.items()}


def load_accounting(engine: Engine, period: Period) -> Accounting | None:
    """The frozen issue's accounting of its signals (None before a build that recorded it):
    what the archive, `digest issue show` and the editor's page read instead of regrouping."""
    with engine.connect() as conn:
        value = conn.execute(select(it.c.accounting).where(it.c.period_key == period.key)).first()
    if value is None or value[0] is None:
        return None
    return Accounting.from_dict(value[0])


def add_editions(engine: Engine, period: Period, editions: Iterable[Edition]) -> int:
    """Add editions for interest sets the frozen issue lacks; never touches an existing one.

    A subscriber who starts following some classes after the build has no edition of their
    own; the sender renders it then and adds it here. Frozen editions stay as they are (a
    concurrent sender that added the same set first wins: its row is kept).
    """
    now = dt.datetime.now(dt.UTC)
    added = 0
    with engine.begin() as conn:
        row = issue_row(conn, period.key)
        if row is None:
            raise ValueError(f"{period.key} has no built issue")
        for edition in editions:
            try:
                with conn.begin_nested():
                    conn.execute(insert(et).values(_edition_values(row.id, edition, now)))
                added += 1
            except IntegrityError:
                pass
    return added


def _edition_values(issue_id: int, edition: Edition, now: dt.datetime) -> dict[str, Any]:
    return {
        "issue_id": issue_id,
        "tier": edition.tier,
        "locale": edition.locale,
        "interests_key": edition.interests_key,
        "subject": edition.subject,
        "preheader": edition.preheader,
        "html": edition.html,
        "text": edition.text,
        "signal_ids": edition.signal_ids,
        "checks": [c.as_dict() for c in edition.checks],
        "created_at": now,
    }


def stored_editions(conn: Connection, issue_id: int) -> list[Edition]:
    """The issue's frozen editions, in id order."""
    query = select(et).where(et.c.issue_id == issue_id).order_by(et.c.id)
    return [edition_from_row(row) for row in conn.execute(query).all()]


def stored_edition(conn: Connection, edition_id: int) -> Edition:
    """One frozen edition by id (what a worker sends)."""
    return edition_from_row(conn.execute(select(et).where(et.c.id == edition_id)).one())


def issue_classes(conn: Connection, editions: Iterable[Edition]) -> frozenset[str]:
    """The market classes the issue covers: those of the signals its editions show."""
    editions = list(editions)
    ids: set[str] = set()
    for e in editions:
        value = conn.execute(select(et.c.signal_ids).where(et.c.id == e.id)).scalar_one()
        ids.update(str(v) for v in value or [])
    classes = set(classes_of(conn, ids))
    for e in editions:
        classes.update(c for c in e.interests_key.split(";") if c)
    return frozenset(classes)


def controls_of(conn: Connection, period_key: str) -> IssueControls:
    """The editor's controls of a period as stored (the empty value when none were set)."""
    row = conn.execute(select(ct).where(ct.c.period_key == period_key)).first()
    if row is None:
        return NO_CONTROLS
    return IssueControls(
        excluded=frozenset(row.excluded),
        lead=row.lead,
        merges=MappingProxyType(dict(row.merges)),
        unmerged=frozenset(row.unmerged),
        notes=MappingProxyType(dict(row.notes)),
    )


def load_controls(engine: Engine, period: Period) -> IssueControls:
    """What the build applies: the editor's controls of `period` (`digest issue …`, the web
    page); the empty value, which changes nothing, when none were set."""
    with engine.connect() as conn:
        return controls_of(conn, period.key)


# --- signals the frozen issue never saw -------------------------------------------------------


@dataclass(frozen=True)
class StoredSinceBuild:
    """Signals of a built issue's period first stored after its build: in none of its editions.

    The build reads the store once and the editions are frozen, so a signal ingested later
    (a late feed, a page added by hand) would be lost without a trace unless the editor is told:
    `digest issue show` and the editor's issue page both say it, in these words.
    """

    period_key: str
    signals: tuple[Signal, ...]
    sending_begun: bool

    def summary(self) -> str:
        """The headline: how many, and what the editor can still do about them."""
        n = len(self.signals)
        head = f"{n} signal{'' if n == 1 else 's'} stored since the build (not in any edition)"
        if self.sending_begun:
            return f"{head}: sending has begun, so they will not be in this issue"
        return (
            f"{head}: rebuild to include them (`digest build --period {self.period_key} "
            "--force`, or the Rebuild button on the issue's editor page)"
        )


def stored_since_build(engine: Engine, period: Period) -> StoredSinceBuild | None:
    """The period's signals stored after its issue was built, None when there are none (or no
    built issue). Internal monitoring and signals an editor excluded are left out: no rebuild
    would put them in an edition either."""
    with engine.connect() as conn:
        row = issue_row(conn, period.key)
        if row is None or row.built_at is None:
            return None
        late = signals_between(
            conn, period.start, period.end, include_internal=False, stored_after=row.built_at
        )
        excluded = controls_of(conn, period.key).excluded
    found = tuple(s for s in late if s.id not in excluded)
    if not found:
        return None
    begun = row.send_started_at is not None or row.status in SENT_STATES
    return StoredSinceBuild(period.key, found, begun)


# --- the issue row's life: listing, sending, approval (other stages ask here) -----------------

SENT_STATES = ("sending", "sent")
"""Statuses of an issue whose sending has begun: nothing is left to approve."""


def all_issues(conn: Connection) -> list[Any]:
    """Every stored issue's whole row, newest period first (the editor's list)."""
    return list(conn.execute(select(*ROW).order_by(it.c.period_start.desc())).all())


def sent_issues(conn: Connection, sent: Iterable[str]) -> list[Any]:
    """Issues that went out (a status in `sent`, or a `sent_at`), newest period first."""
    query = (
        select(*ROW)
        .where((it.c.status.in_(list(sent))) | (it.c.sent_at.is_not(None)))
        .order_by(it.c.period_start.desc())
    )
    return list(conn.execute(query).all())


def covering_issue_sending(
    conn: Connection,
    published: dt.date | None,
    stored_at: dt.datetime | None,
    sending: Iterable[str],
) -> bool:
    """Whether an issue whose sending has begun covers `published` and was built after
    `stored_at` (a signal stored later is in none of its emails)."""
    if published is None or stored_at is None:
        return False
    query = select(it.c.id).where(
        it.c.period_start <= published,
        it.c.period_end >= published,
        it.c.built_at >= stored_at,
        or_(
            it.c.status.in_(list(sending)),
            it.c.send_started_at.is_not(None),
            it.c.sent_at.is_not(None),
        ),
    )
    return conn.execute(query.limit(1)).first() is not None


def mark_sending(conn: Connection, issue_id: int, now: dt.datetime) -> dt.datetime | None:
    """A send opens: the first one stamps `send_started_at` (the editions are final from here).

    An editor's change may have made the editions stale (`digest issue …`): then nothing is
    marked and the time they went stale is returned, for the sender to refuse with. The stamp
    skips a stale issue and the check reads the row this transaction just wrote, so either a
    change landed first and the send is refused, or the send started first and every later change
    is refused (digest.issues.controls_store).
    """
    conn.execute(
        update(it)
        .where(it.c.id == issue_id, it.c.send_started_at.is_(None), it.c.stale_at.is_(None))
        .values(send_started_at=now)
    )
    row = conn.execute(select(it.c.stale_at, it.c.send_started_at).where(it.c.id == issue_id)).one()
    if row.stale_at is not None and row.send_started_at is None:
        stale_at: dt.datetime = row.stale_at
        return stale_at
    conn.execute(
        update(it).where(it.c.id == issue_id, it.c.status != "sent").values(status="sending")
    )
    return None


def mark_sent(conn: Connection, issue_id: int, now: dt.datetime) -> None:
    """Nothing is left to send to anyone: the issue is sent."""
    conn.execute(
        update(it)
        .where(it.c.id == issue_id, it.c.status != "sent")
        .values(status="sent", sent_at=now)
    )


@dataclass(frozen=True)
class ApprovalRow:
    status: str
    approved_at: dt.datetime | None
    approved_by: str | None


def approval_row(conn: Connection, period_key: str) -> ApprovalRow | None:
    """The issue's approval columns (None: no built issue)."""
    row = conn.execute(
        select(it.c.status, it.c.approved_at, it.c.approved_by).where(it.c.period_key == period_key)
    ).first()
    return None if row is None else ApprovalRow(row.status, row.approved_at, row.approved_by)


def find_issue_approved_at(conn: Connection, period_key: str) -> dt.datetime | None:
    """When the period's issue was approved, as stored (None: not approved, or no issue)."""
    value: dt.datetime | None = conn.execute(
        select(it.c.approved_at).where(it.c.period_key == period_key)
    ).scalar()
    return value


def set_approved(conn: Connection, period_key: str, by: str, now: dt.datetime) -> None:
    conn.execute(
        update(it)
        .where(it.c.period_key == period_key)
        .values(approved_at=now, approved_by=by, status="approved")
    )


def mark_awaiting_approval(conn: Connection, period_key: str) -> None:
    """Say on the issue that it waits for an editor (unless approved or sending already)."""
    conn.execute(
        update(it)
        .where(it.c.period_key == period_key)
        .where(it.c.approved_at.is_(None))
        .where(it.c.status.not_in(SENT_STATES))
        .values(status="awaiting_approval")
    )
