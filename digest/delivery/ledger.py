"""The delivery ledger: one row per (issue, subscriber), written before any email leaves.

The ledger is what makes every send idempotent. Its rows move forward only:

    queued ──claim──► sending ──► accepted | failed | uncertain
    queued ──claim, no longer mailable──► suppressed

Two moves look backwards and are not: a RETRYABLE answer puts a row back to `queued` (the provider
certainly did not send it) with `attempts + 1`, and past `max_attempts` it is `failed`; and an
operator's `--resend-uncertain` puts `uncertain` rows back to `queued`, accepting the risk of a
second copy. Nothing else ever leaves a final state.

Claiming is the only way to `sending`, and it is race-free on both engines:
- PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` inside the `UPDATE … RETURNING`, so two senders
  take disjoint batches without waiting for each other.
- SQLite: the same single `UPDATE … WHERE state='queued' … RETURNING`; as the transaction's
  first statement it takes SQLite's one write lock at once (what BEGIN IMMEDIATE would do), so no
  other writer can claim between the subquery and the update.

Suppression and status are checked again in the claiming transaction: someone who unsubscribed
a minute ago is marked `suppressed` rather than sent.

A claim is a lease: the claimer renews it (`renew`, from a heartbeat) while it works, and a
claim whose lease ran out belongs to a sender that is gone (on this host the process id tells at
once). `recover` settles such rows by what is known of each: a row never handed to the provider
(`handed_at` unset) goes back to the queue; a handed row is `uncertain` — it was in flight —
unless the provider can prove its fate (the outbox's file).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.selection import mailable_subscribers
from digest.delivery.provider import Outcome, Result
from digest.storage.schema import deliveries as d


class State(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    SUPPRESSED = "suppressed"
    """Opted out, bounced, complained or removed between queuing and claiming: not sent."""


FINAL: frozenset[State] = frozenset(
    {State.ACCEPTED, State.FAILED, State.UNCERTAIN, State.SUPPRESSED}
)
LEASE = dt.timedelta(seconds=30)
"""How long a claim lives without a heartbeat (`celery.lease_seconds` overrides it)."""


def worker_id() -> str:
    """Who claims: `host:pid:nonce`, so a later run can tell a dead sender from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_gone(claimed_by: str | None) -> bool:
    """Whether the claim was made on this host by a process that no longer exists."""
    host, _, rest = (claimed_by or "").partition(":")
    pid_text = rest.split(":", 1)[0]
    return host == socket.gethostname() and pid_text.isdigit() and not _pid_alive(int(pid_text))


def claim_is_live(
    claimed_by: str | None, updated_at: dt.datetime, now: dt.datetime, lease: dt.timedelta = LEASE
) -> bool:
    """Whether the sender that holds a `sending` row may still be working on it.

    On this host a dead process id answers at once; otherwise the lease decides: a live claimer
    renews `updated_at` every third of the lease, so an older one has stopped.
    """
    if _process_gone(claimed_by):
        return False
    if updated_at.tzinfo is None:
        updated_at = updated_at.replace(tzinfo=dt.UTC)
    return now - updated_at < lease


def _ignore_conflicts(conn: Connection, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the connection's engine."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def enqueue_group(
    conn: Connection,
    issue_id: int,
    edition_id: int,
    *,
    tier: str,
    locale: str,
    interests: str,
    now: dt.datetime,
    timezones: Collection[str] | None = None,
) -> None:
    """Queue every mailable subscriber of one stored (tier, locale, interests) group.

    One set-based INSERT … SELECT … ON CONFLICT DO NOTHING per group: a million rows never pass
    through Python, and a row that exists (any state) is left exactly as it is, which is what
    makes re-running safe. (No count is returned: psycopg reports none for this statement.)
    """
    m = mailable_subscribers()
    source = select(
        literal(issue_id),
        m.c.id,
        literal(edition_id),
        literal(State.QUEUED.value),
        literal(0),
        literal(now, d.c.updated_at.type),
    ).where(m.c.tier == tier, m.c.locale == locale, m.c.interests == interests)
    if timezones is not None:
        source = source.where(m.c.timezone.in_(sorted(timezones)))
    source = source.order_by(m.c.id)  # delivery ids follow subscriber ids: stable batches
    columns = ["issue_id", "subscriber_id", "edition_id", "state", "attempts", "updated_at"]
    stmt = _ignore_conflicts(conn, d).from_select(columns, source).on_conflict_do_nothing()
    conn.execute(stmt)


class Claimed(NamedTuple):
    """One claimed row: who to send to, by delivery id (a tuple: a million are made per send)."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str


QUEUED_ONLY: ColumnElement[Any] = literal_column("'queued'")
"""`state = 'queued'` written out, not bound: the claim index covers only queued rows, and a
planner can use a partial index only when the query's condition visibly implies the index's."""


def claim(
    conn: Connection,
    issue_id: int,
    edition_id: int,
    worker: str,
    limit: int,
    now: dt.datetime,
) -> tuple[list[Claimed], int]:
    """Take up to `limit` queued rows of one edition for `worker`; call inside a transaction.

    `worker` must be unique to this claim (the orchestrator appends a batch number to its
    `worker_id()`): the rows are found, and later recorded, by it.

    Returns (the rows to send, how many were taken in all). Rows whose subscriber is no longer
    mailable (status, suppression list, or deleted) become `suppressed` in the same transaction
    and are not among the rows to send. Commit right before the provider
    call: from the commit on, a crash leaves these rows `sending`, i.e. possibly sent.
    """
    pick = (
        select(d.c.id)
        .where(d.c.issue_id == issue_id, d.c.edition_id == edition_id, d.c.state == QUEUED_ONLY)
        .order_by(d.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # A MATERIALIZED CTE runs once: as `id IN (subquery)` PostgreSQL may rescan the
        # locking subquery and take more than `limit` rows.
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        chosen: Any = d.c.id == picked.c.id
    else:
        chosen = d.c.id.in_(pick.scalar_subquery())
    taken = conn.execute(
        update(d)
        .where(chosen, d.c.state == QUEUED_ONLY)
        .values(state=State.SENDING.value, claimed_by=worker, updated_at=now, handed_at=None)
    ).rowcount
    if not taken:
        return [], 0
    # The claim's mailable rows with their addresses, found by the claim id (no thousand-value
    # IN list); only when some are missing (no longer mailable, or deleted) does a second
    # statement mark those `suppressed`.
    held = _held(issue_id, edition_id, worker)
    m = mailable_subscribers()
    rows = conn.execute(
        select(d.c.id, d.c.subscriber_id, m.c.email, func.coalesce(m.c.name, ""))
        .select_from(d.join(m, m.c.id == d.c.subscriber_id))
        .where(held)
        .order_by(d.c.id)
    ).all()
    if len(rows) < taken:
        still_mailable = exists().where(m.c.id == d.c.subscriber_id)
        conn.execute(
            update(d)
            .where(held, ~still_mailable)
            .values(state=State.SUPPRESSED.value, error="not mailable at send time")
        )
    return list(map(Claimed._make, rows)), int(taken)


def _reason(text: str | None) -> str | None:
    return None if text is None else text[:2000]


def record(
    conn: Connection,
    worker: str,
    outcomes: Sequence[tuple[int, Result]],
    provider: str,
    now: dt.datetime,
    max_attempts: int,
    *,
    issue_id: int | None = None,
    edition_id: int | None = None,
    whole_claim: bool = True,
) -> dict[Outcome, int]:
    """Write each claimed row's outcome, set-based; only rows still `sending` for `worker` move.

    Accepted rows sharing one message id (a SendGrid request) are one UPDATE; per-message ids
    (SMTP, outbox) are one executemany. RETRYABLE goes back to `queued` with attempts + 1, or to
    `failed` once `max_attempts` is reached. `whole_claim=False` says the outcomes cover only
    part of the claim (message by message), so rows are always picked by id.
    """
    counts: dict[Outcome, int] = defaultdict(int)
    accepted: dict[str | None, list[int]] = defaultdict(list)
    other: dict[Outcome, list[dict[str, Any]]] = defaultdict(list)
    for delivery_id, result in outcomes:
        counts[result.outcome] += 1
        if result.outcome is Outcome.ACCEPTED:
            accepted[result.message_id].append(delivery_id)
        else:
            other[result.outcome].append({"b_id": delivery_id, "b_error": _reason(result.reason)})
    # Pass the issue and edition: with them the claim index finds the claim's rows; without,
    # each record scans the table (correct, but quadratic over a million-row send).
    mine = and_(d.c.state == State.SENDING.value, d.c.claimed_by == worker)
    if issue_id is not None and edition_id is not None:
        mine = and_(d.c.issue_id == issue_id, d.c.edition_id == edition_id, mine)
    common = {"provider": provider, "updated_at": now}
    if (
        len(accepted) == 1 and not other and whole_claim
    ):  # the whole claim accepted alike: no id list at all
        ((message_id, _ids),) = accepted.items()
        conn.execute(
            update(d)
            .where(mine)
            .values(state=State.ACCEPTED.value, message_id=message_id, error=None, **common)
        )
    elif len(accepted) == 1:
        ((message_id, ids),) = accepted.items()
        conn.execute(
            update(d)
            .where(d.c.id.in_(ids), mine)
            .values(state=State.ACCEPTED.value, message_id=message_id, error=None, **common)
        )
    elif accepted:
        params = [{"b_id": i, "b_mid": m} for m, ids in accepted.items() for i in ids]
        conn.execute(
            update(d)
            .where(d.c.id == bindparam("b_id"), mine)
            .values(
                state=State.ACCEPTED.value, message_id=bindparam("b_mid"), error=None, **common
            ),
            params,
        )
    for outcome, params in other.items():
        by_id = d.c.id == bindparam("b_id")
        if outcome is Outcome.RETRYABLE:
            state: Any = case(
                (d.c.attempts + 1 >= max_attempts, State.FAILED.value),
                else_=State.QUEUED.value,
            )
            values: dict[str, Any] = {"state": state, "attempts": d.c.attempts + 1}
            values["claimed_by"] = None
            values["handed_at"] = None
        else:
            final = State.FAILED if outcome is Outcome.FAILED else State.UNCERTAIN
            values = {"state": final.value, "attempts": d.c.attempts + 1}
        conn.execute(
            update(d).where(by_id, mine).values(error=bindparam("b_error"), **values, **common),
            params,
        )
    return dict(counts)


_ACCEPT_ONE = (
    update(d)
    .where(
        d.c.id == bindparam("b_id"),
        d.c.state == State.SENDING.value,
        d.c.claimed_by == bindparam("b_worker"),
    )
    .values(
        state=State.ACCEPTED.value,
        message_id=bindparam("b_mid"),
        error=None,
        provider=bindparam("b_provider"),
        updated_at=bindparam("b_now"),
    )
)
_HAND_ONE = (
    update(d)
    .where(
        d.c.id == bindparam("b_id"),
        d.c.state == State.SENDING.value,
        d.c.claimed_by == bindparam("b_worker"),
    )
    .values(handed_at=bindparam("b_now"), updated_at=bindparam("b_now"))
    .returning(d.c.id)
)


def accept_and_hand(
    conn: Connection,
    worker: str,
    accepted: tuple[int, Result],
    following: int | None,
    provider: str,
    now: dt.datetime,
) -> set[int]:
    """The per-message path's common step in two prebuilt statements (compiled once): record
    one accepted row and hand the next; returns the next row's id if the claim still holds it.
    """
    delivery_id, result = accepted
    values = {"b_id": delivery_id, "b_worker": worker, "b_mid": result.message_id}
    conn.execute(_ACCEPT_ONE, {**values, "b_provider": provider, "b_now": now})
    if following is None:
        return set()
    handed = conn.execute(_HAND_ONE, {"b_id": following, "b_worker": worker, "b_now": now})
    return {int(i) for (i,) in handed}


@dataclass(frozen=True)
class Stale:
    delivery_id: int
    subscriber_id: int
    edition_id: int
    claimed_by: str
    handed: bool


def stale(
    conn: Connection, issue_id: int, now: dt.datetime, lease: dt.timedelta = LEASE
) -> list[Stale]:
    """`sending` rows of the issue whose sender is gone (see `claim_is_live`)."""
    rows = conn.execute(
        select(
            d.c.id, d.c.subscriber_id, d.c.edition_id, d.c.claimed_by, d.c.updated_at, d.c.handed_at
        ).where(d.c.issue_id == issue_id, d.c.state == State.SENDING.value)
    ).all()
    return [
        Stale(did, sid, eid, by or "", handed is not None)
        for did, sid, eid, by, at, handed in rows
        if not claim_is_live(by, at, now, lease)
    ]


@dataclass
class Recovery:
    """What `recover` did with dead claims: rows moved per state, and whose claims they were."""

    moved: dict[State, int] = field(default_factory=dict)
    claims: set[str] = field(default_factory=set)

    @property
    def workers(self) -> list[str]:
        """The dead senders (`host:pid`), without the per-claim suffixes."""
        return sorted({":".join(c.split(":")[:2]) for c in self.claims})


def recover(
    conn: Connection,
    issue_id: int,
    now: dt.datetime,
    *,
    never_sent: Callable[[Stale], bool | None] | None = None,
    lease: dt.timedelta = LEASE,
) -> Recovery:
    """Settle dead claims' `sending` rows: unhanded → `queued`; handed → what `never_sent` says.

    `never_sent(row)` answers True (certainly not sent: back to `queued`), False (certainly sent:
    `accepted`) or None (unknown: `uncertain`, the row was in flight). Only rows still held by
    the same dead claim move; one UPDATE per (claim, verdict).
    """
    groups: dict[tuple[str, State], list[int]] = defaultdict(list)
    for row in stale(conn, issue_id, now, lease):
        verdict = None if never_sent is None or not row.handed else never_sent(row)
        if not row.handed or verdict is True:
            target = State.QUEUED
        elif verdict is False:
            target = State.ACCEPTED
        else:
            target = State.UNCERTAIN
        groups[(row.claimed_by, target)].append(row.delivery_id)
    result = Recovery()
    moved: dict[State, int] = defaultdict(int)
    for (claimed_by, target), ids in groups.items():
        values: dict[str, Any] = {"state": target.value, "updated_at": now, "error": None}
        if target is State.UNCERTAIN:
            values["error"] = f"the sender ({claimed_by}) stopped while this was in flight"
        if target is State.QUEUED:
            values.update(claimed_by=None, handed_at=None)
        # Checked again in the UPDATE itself: a claimer that renewed or handed in between keeps
        # its rows (unless its process is known to be gone).
        lapsed = literal(True) if _process_gone(claimed_by) else d.c.updated_at < now - lease
        for start in range(0, len(ids), 1000):
            done = conn.execute(
                update(d)
                .where(
                    d.c.id.in_(ids[start : start + 1000]),
                    d.c.state == State.SENDING.value,
                    d.c.claimed_by == claimed_by,
                    lapsed,
                )
                .values(**values)
            ).rowcount
            moved[target] += int(done or 0)
        result.claims.add(claimed_by)
    result.moved = dict(moved)
    return result


def hand(
    conn: Connection,
    issue_id: int,
    edition_id: int,
    worker: str,
    now: dt.datetime,
    delivery_ids: Sequence[int] | None = None,
) -> set[int]:
    """Mark a claim's rows as handed to the provider and renew their lease; returns the ids
    still held by this claim (only those may be sent). From the commit on, a crash leaves them
    `uncertain` rather than re-queued. `delivery_ids` None: every row the claim holds (found
    through the claim index, no id list)."""
    held = _held(issue_id, edition_id, worker)
    if delivery_ids is not None:
        if not delivery_ids:
            return set()
        held = and_(held, d.c.id.in_(list(delivery_ids)))
    query = update(d).where(held).values(handed_at=now, updated_at=now).returning(d.c.id)
    return {int(i) for (i,) in conn.execute(query)}


def release(conn: Connection, issue_id: int, edition_id: int, worker: str) -> int:
    """Put a claim's rows that were never handed back to the queue (its claimer stops early:
    a provider asked to wait); how many went back."""
    result = conn.execute(
        update(d)
        .where(_held(issue_id, edition_id, worker), d.c.handed_at.is_(None))
        .values(state=State.QUEUED.value, claimed_by=None)
    )
    return int(result.rowcount or 0)


def _held(issue_id: int, edition_id: int, worker: str) -> Any:
    """The rows a claim holds, found through the claim index."""
    return and_(
        d.c.issue_id == issue_id,
        d.c.edition_id == edition_id,
        d.c.state == State.SENDING.value,
        d.c.claimed_by == worker,
    )


def renew(conn: Connection, issue_id: int, edition_id: int, worker: str, now: dt.datetime) -> int:
    """The heartbeat: extend the lease of the claim's rows still `sending`; how many it holds."""
    result = conn.execute(
        update(d).where(_held(issue_id, edition_id, worker)).values(updated_at=now)
    )
    return int(result.rowcount or 0)


def requeue_uncertain(conn: Connection, issue_id: int, edition_ids: Iterable[int]) -> int:
    """`--resend-uncertain`: the operator accepts that some may get a second copy."""
    result = conn.execute(
        update(d)
        .where(
            d.c.issue_id == issue_id,
            d.c.edition_id.in_(list(edition_ids)),
            d.c.state == State.UNCERTAIN.value,
        )
        .values(state=State.QUEUED.value, claimed_by=None, handed_at=None, error=None)
    )
    return int(result.rowcount or 0)


def state_counts(
    conn: Connection, issue_id: int, edition_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """How many rows of the issue (optionally of some editions) are in each state."""
    query = select(d.c.state, func.count()).where(d.c.issue_id == issue_id).group_by(d.c.state)
    if edition_ids is not None:
        query = query.where(d.c.edition_id.in_(list(edition_ids)))
    return {state: int(n) for state, n in conn.execute(query)}


def count_queued(conn: Connection, issue_id: int, edition_id: int) -> int:
    query = select(func.count()).where(
        d.c.issue_id == issue_id, d.c.edition_id == edition_id, d.c.state == "queued"
    )
    return int(conn.execute(query).scalar_one())


def state_counts_by_issue(conn: Connection) -> dict[int, dict[str, int]]:
    """issue id → {state: rows}, over the whole ledger (the editor's list of issues)."""
    counts: dict[int, dict[str, int]] = {}
    query = select(d.c.issue_id, d.c.state, func.count()).group_by(d.c.issue_id, d.c.state)
    for issue_id, state, n in conn.execute(query):
        counts.setdefault(issue_id, {})[state] = int(n)
    return counts
