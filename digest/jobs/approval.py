"""The approval gate: an editor approves a built issue before the scheduler may send it.

The state lives on the `issues` row (`approved_at`, `approved_by`), so `digest approve`, the web
app's button and the scheduler agree without talking to each other; the scheduler only reads it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from digest.config import Settings
from digest.issues.store import (
    BUILT,
    SENT_STATES,
    approval_row,
    find_issue_approved_at,
    mark_awaiting_approval,
    set_approved,
)
from digest.jobs.timing import fire_for_period
from digest.jobs.trigger import weekly_trigger
from digest.period import Period, parse_period


class ApprovalError(Exception):
    """The period cannot be approved (no built issue, or already sent); the message says why."""


@dataclass(frozen=True)
class Approval:
    period_key: str
    approved_at: dt.datetime
    approved_by: str
    already: bool
    """True when the issue had been approved before: the first approval stands."""


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timezone-aware columns back naive (in UTC as stored); PostgreSQL aware."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def approve(engine: Engine, period_text: str, by: str, now: dt.datetime) -> Approval:
    """Approve the period's built issue; refuse when there is none to approve."""
    key = parse_period(period_text).key
    with engine.begin() as conn:
        row = approval_row(conn, key)
        if row is None:
            raise ApprovalError(
                f"{key} has no built issue to approve: build it first (`digest build --period "
                f"{key}`, or let the scheduler build it at the trigger time)"
            )
        if row.approved_at is not None:
            return Approval(key, _aware(row.approved_at), row.approved_by or "", True)
        if row.status in SENT_STATES:
            raise ApprovalError(f"{key} is already {row.status}: there is nothing left to approve")
        set_approved(conn, key, by, now)
    return Approval(key, now, by, False)


def approved_at(engine: Engine, period_key: str) -> dt.datetime | None:
    """When the period's issue was approved, or None (also when there is no issue)."""
    with engine.connect() as conn:
        value = find_issue_approved_at(conn, period_key)
    return _aware(value) if value is not None else None


def mark_awaiting(engine: Engine, period_key: str) -> None:
    """Say on the issue that it waits for an editor (unless approved or sending already)."""
    with engine.begin() as conn:
        mark_awaiting_approval(conn, period_key)


# --- the scheduler's decision: may the period's editions be sent now? ------------------------

AWAITING = "awaiting"
APPROVED = "approved"
DEADLINE_SEND = "deadline_send"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Decision:
    """What the approval gate says about a period at one check, and why (for the run record)."""

    outcome: str
    """`awaiting` (ask again later), `approved`, `deadline_send` or `skipped`."""
    detail: str

    @property
    def resolved(self) -> bool:
        return self.outcome != AWAITING

    @property
    def sends(self) -> bool:
        return self.outcome in (APPROVED, DEADLINE_SEND)


def approval_deadline(fire: dt.datetime, deadline_hours: float) -> dt.datetime:
    """Until when the scheduler waits for an editor after a fire."""
    return fire + dt.timedelta(hours=deadline_hours)


def decide(
    engine: Engine, period_key: str, now: dt.datetime, deadline: dt.datetime, on_deadline: str
) -> Decision:
    """Approved → send; no approval before the deadline → wait; past it → `on_deadline`
    (`send` anyway, or `skip`)."""
    approved = approved_at(engine, period_key)
    if approved is None and now < deadline:
        return Decision(AWAITING, f"awaiting approval until {deadline.isoformat()}")
    if approved is not None:
        return Decision(APPROVED, f"approved at {approved.isoformat()}")
    if on_deadline == "send":
        return Decision(DEADLINE_SEND, f"not approved by {deadline.isoformat()}: sending anyway")
    return Decision(
        SKIPPED,
        f"not approved by {deadline.isoformat()}: skipped (schedule.on_deadline = skip)",
    )


# --- what an issue's status says to an editor -------------------------------------------------

NOT_BUILT = "not built"


class IssueState(Protocol):
    """What the label reads of an issue: `store.IssueRow`, or a whole `issues` row."""

    @property
    def status(self) -> str: ...

    @property
    def stale_at(self) -> dt.datetime | None: ...


def status_label(
    issue: IssueState | None, period: Period, settings: Settings, now: dt.datetime
) -> str:
    """An issue's status in the words the editor's pages and `digest issue show` all use.

    A build always leaves the row `awaiting_approval` (store.BUILT); only with
    `schedule.approval_required` does anything wait for an editor. Without it the issue is
    built, and the scheduler sends it at the fire covering its period (rebuilding stale
    editions first): say when; once that time has passed, it is ready to send, unless an
    editor's change made it stale (`digest send` refuses it until a rebuild).
    """
    if issue is None:
        return NOT_BUILT
    if issue.status != BUILT:
        return issue.status.replace("_", " ")
    if settings.schedule.approval_required:
        return "awaiting approval"
    zone = settings.publication.zone
    fire = fire_for_period(weekly_trigger(settings.schedule.weekly, zone), period, zone)
    if fire is not None and fire > now:
        return f"built · sends {fire.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
    if issue.stale_at is not None:
        return "built · changed since: rebuild before sending"
    return "built · ready to send"
