"""Changing an issue's controls: the one place `digest issue …` and the editor's page write them.

Each change is one transaction: the period's issue row is locked (so a send cannot start and a
build cannot freeze in between), the change is refused once sending began (FrozenError), the
ids are checked against the period's signals, the rules of `digest.issues.controls` applied,
and then, when editions were already frozen, they are marked stale (`issues.stale_at`: `digest
build` and the scheduler rebuild them, `digest send` refuses them) and an approval given before
is withdrawn (the issue waits for an editor again). A refused change writes nothing.

Reading is `digest.issues.store.load_controls`, next to the editions the build reads; this
module imports the store, so the store does not re-export it (that would be an import circle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.issues import controls as rules
from digest.issues.controls import ControlsError, IssueControls
from digest.issues.render.note import NoteError, check_note
from digest.issues.store import BUILT, FrozenError, controls_of, issue_row
from digest.model import LANGS
from digest.period import Period
from digest.signals.store import dating
from digest.storage.schema import editions as et
from digest.storage.schema import issue_controls as ct
from digest.storage.schema import issues as it
from digest.storage.schema import schedule_runs as sr

__all__ = [
    "Change",
    "ControlsError",
    "exclude",
    "include",
    "merge",
    "set_lead",
    "set_note",
    "unmerge",
]


@dataclass(frozen=True)
class Change:
    """What a change did, for the CLI and the page to say."""

    controls: IssueControls
    stale: bool
    """Frozen editions exist and are now stale: a build must run before a send."""
    unapproved: bool
    """An approval was withdrawn: the issue needs an editor's approval again."""

    def consequences(self, period_key: str, *, approval_required: bool) -> list[str]:
        """What follows from the change, in the words the CLI and the editor's page both use.

        Without `schedule.approval_required` nothing waits for an approval, so an approval left
        over from when the gate was on (now withdrawn all the same) is not worth a word: the
        stale editions are what stand between the change and a send.
        """
        lines = []
        if self.stale:
            lines.append(
                f"The built editions are now stale: `digest build --period {period_key}` "
                "rebuilds them (the scheduler rebuilds them itself); `digest send` refuses them "
                "until then."
            )
        if self.unapproved and approval_required:
            lines.append(
                f"The earlier approval is withdrawn: approve again (`digest approve --period "
                f"{period_key}`) before the scheduler sends it."
            )
        return lines


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_ids(conn: Connection, period: Period, ids: Iterable[str]) -> None:
    """Every id a signal of this period that editions may show; else say which and why."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise ControlsError("no signal id given")
    rows = dating(conn, wanted)
    for signal_id in wanted:
        row = rows.get(signal_id)
        if row is None:
            raise ControlsError(f"{signal_id}: no signal has this id")
        published, internal = row
        if published is None or published not in period:
            when = f"published {published}" if published else "undated"
            raise ControlsError(
                f"{signal_id} is not a signal of {period.key} ({period.start}..{period.end}): "
                f"it is {when}"
            )
        if internal:
            raise ControlsError(
                f"{signal_id} is an internal-monitoring signal: no edition shows it"
            )


def _lock_controls(conn: Connection, period: Period, now: dt.datetime, by: str) -> IssueControls:
    """The period's controls, their row created if missing and locked for this transaction.

    The first statement of a change is this write, so on SQLite too the change holds the
    writer's lock before it reads anything (its reads then see every earlier change, and no
    other writer can come between its read and its write); on PostgreSQL the row lock does it.
    """
    values: dict[str, object] = {
        "period_key": period.key,
        "excluded": [],
        "lead": None,
        "merges": {},
        "unmerged": [],
        "notes": {},
        "changed_at": now,
        "changed_by": by,
    }
    insert_ = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    conn.execute(insert_(ct).values(values).on_conflict_do_nothing(index_elements=["period_key"]))
    conn.execute(select(ct.c.period_key).where(ct.c.period_key == period.key).with_for_update())
    return controls_of(conn, period.key)


def _store(conn: Connection, period: Period, new: IssueControls, now: dt.datetime, by: str) -> None:
    conn.execute(
        update(ct)
        .where(ct.c.period_key == period.key)
        .values(
            excluded=sorted(new.excluded),
            lead=new.lead,
            merges=dict(new.merges),
            unmerged=sorted(new.unmerged),
            notes=dict(new.notes),
            changed_at=now,
            changed_by=by,
        )
    )


def _change(
    engine: Engine,
    period: Period,
    by: str,
    edit: Callable[[Connection, IssueControls], IssueControls],
) -> Change:
    now = _now()
    with engine.begin() as conn:
        current = _lock_controls(conn, period, now, by)
        issue = issue_row(conn, period.key)
        if issue is not None:
            # Lock the issue row: a send starting (delivery.plan.open_send) or a build freezing
            # waits for this change, and this change sees theirs.
            conn.execute(select(it.c.id).where(it.c.id == issue.id).with_for_update())
            issue = issue_row(conn, period.key)
            assert issue is not None
            if issue.send_started_at is not None:
                raise FrozenError(
                    f"{period.key}: sending began at {issue.send_started_at:%Y-%m-%d %H:%M} UTC;"
                    " its editions are final and the issue can no longer be changed"
                )
            _refuse_if_delivering(conn, period)
        new = edit(conn, current)
        if new == current:
            return Change(current, issue is not None and issue.stale_at is not None, False)
        _store(conn, period, new, now, by)
        stale = unapproved = False
        if issue is not None:
            stale, unapproved = _after_change(conn, issue.id, now)
    return Change(new, stale, unapproved)


def _refuse_if_delivering(conn: Connection, period: Period) -> None:
    """Refuse a change once the scheduler, its approval given, planned local-time buckets.

    Those buckets send at their own hours without asking again, so a change now (which would
    withdraw the approval) would reach readers unapproved: the delivery has begun in all but
    its first message.
    """
    resolved = conn.execute(
        select(sr.c.outcome, sr.c.recorded_at)
        .where(sr.c.period_key == period.key, sr.c.kind == "approval")
        .where(sr.c.event == "resolved", sr.c.outcome == "approved")
        .limit(1)
    ).first()
    if resolved is None:
        return
    planned = conn.execute(
        select(sr.c.id)
        .where(sr.c.period_key == period.key, sr.c.kind == "bucket", sr.c.event == "planned")
        .limit(1)
    ).first()
    if planned is not None:
        raise FrozenError(
            f"{period.key}: approved, and the scheduler is delivering it in local-time buckets "
            f"(planned {resolved.recorded_at:%Y-%m-%d %H:%M} UTC); the issue can no longer be "
            "changed"
        )


def _after_change(conn: Connection, issue_id: int, now: dt.datetime) -> tuple[bool, bool]:
    """Mark frozen editions stale and withdraw an approval; say which happened."""
    has_editions = conn.execute(select(et.c.id).where(et.c.issue_id == issue_id).limit(1)).first()
    if has_editions:
        conn.execute(
            update(it).where(it.c.id == issue_id, it.c.stale_at.is_(None)).values(stale_at=now)
        )
    withdrawn = conn.execute(
        update(it)
        .where(it.c.id == issue_id, it.c.approved_at.is_not(None))
        .values(approved_at=None, approved_by=None, status=BUILT)
    ).rowcount
    return bool(has_editions), bool(withdrawn)


def exclude(engine: Engine, period: Period, ids: Iterable[str], *, by: str) -> Change:
    """Leave these signals out of every edition of the period."""
    ids = list(ids)

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        _check_ids(conn, period, ids)
        return rules.excluding(current, ids)

    return _change(engine, period, by, edit)


def include(engine: Engine, period: Period, ids: Iterable[str], *, by: str) -> Change:
    """Put excluded signals back (the period's own signals only)."""
    ids = list(ids)

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        _check_ids(conn, period, ids)
        return rules.including(current, ids)

    return _change(engine, period, by, edit)


def set_lead(engine: Engine, period: Period, signal_id: str | None, *, by: str) -> Change:
    """Make a signal the lead story; None clears the pick (the build's order decides)."""

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        if signal_id is not None:
            _check_ids(conn, period, [signal_id])
        return rules.with_lead(current, signal_id)

    return _change(engine, period, by, edit)


def merge(engine: Engine, period: Period, keep: str, drops: Iterable[str], *, by: str) -> Change:
    """Merge `drops` into `keep`: one story, shown once as `keep`."""
    drops = list(drops)

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        if not drops:
            raise ControlsError(f"name the signals to merge into {keep}")
        _check_ids(conn, period, [keep, *drops])
        return rules.merging(current, keep, drops)

    return _change(engine, period, by, edit)


def unmerge(engine: Engine, period: Period, drop: str, *, by: str) -> Change:
    """Show `drop` on its own again (a merge by hand undone, or split out of an automatic one)."""

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        _check_ids(conn, period, [drop])
        return rules.unmerging(current, drop)

    return _change(engine, period, by, edit)


def set_note(engine: Engine, period: Period, lang: str, markdown: str | None, *, by: str) -> Change:
    """Set the editor's note of one language (None or blank: clear it); checked before storing."""
    if lang not in LANGS:
        raise ControlsError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    try:
        text = check_note(markdown) if markdown is not None else None
    except NoteError as exc:
        raise ControlsError(f"note ({lang}): {exc}") from None

    def edit(conn: Connection, current: IssueControls) -> IssueControls:
        return rules.with_note(current, lang, text)

    return _change(engine, period, by, edit)
