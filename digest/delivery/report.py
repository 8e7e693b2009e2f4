"""What a send reports, and how it reports progress while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class SendError(Exception):
    """The send cannot start (no editions, failing checks, missing key); nothing was sent."""


class Progress(Protocol):
    """Called with (rows handled, rows to handle) at the start and as batches finish, and with a
    `note` when something an operator should see happens (a dead worker's rows reassigned)."""

    def __call__(self, done: int, total: int, note: str | None = None) -> None: ...


@dataclass
class SendReport:
    """What a send did. Counts are the ledger's, for the editions in scope, across runs."""

    period: str
    provider: str
    issue_id: int | None = None
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    suppressed: int = 0
    skipped: int = 0
    """Rows an earlier run had already settled: nothing to do for them now."""
    outside_interests: int = 0
    """Mailable readers none of whose classes has a signal in this issue: no email this time."""
    pending: int = 0
    """Rows still queued or being sent (by another sender) when this run ended."""
    sent_now: int = 0
    """Accepted by the provider during this run."""
    recovered: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    would_send: int = 0
    test_to: str | None = None
    notes: list[str] = field(default_factory=list)
    outbox_dir: str | None = None

    @property
    def exit_code(self) -> int:
        """0: all accepted or suppressed; 3: the only shortfall is uncertain; 1: any failure."""
        if self.failed:
            return 1
        if self.uncertain or self.pending:
            return 3
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "provider": self.provider,
            "issue_id": self.issue_id,
            "accepted": self.accepted,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "suppressed": self.suppressed,
            "skipped": self.skipped,
            "outside_interests": self.outside_interests,
            "pending": self.pending,
            "sent_now": self.sent_now,
            "recovered": self.recovered,
            "dry_run": self.dry_run,
            "would_send": self.would_send,
            "test_to": self.test_to,
            "outbox_dir": self.outbox_dir,
            "notes": self.notes,
            "exit_code": self.exit_code,
        }
