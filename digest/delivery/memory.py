"""The in-memory provider: the test double, like httpx's MockTransport.

It records every call and answers from a script, so the orchestrator's tests can say "this
recipient bounces, that batch times out" without a server and without patching anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from digest.delivery.provider import EditionMessage, Outcome, Recipient, Result, check_batch

Script = Callable[[EditionMessage, Recipient], Result | Outcome | None]
"""Answers for one recipient: a full Result, just an Outcome, or None for ACCEPTED."""


@dataclass
class SentCall:
    """One `send` call as the provider saw it."""

    message: EditionMessage
    recipients: tuple[Recipient, ...]


@dataclass
class MemoryProvider:
    """Records what it was given; answers ACCEPTED unless `outcomes` or `script` say otherwise.

    `outcomes` maps a subscriber id (or an email address) to a fixed answer; `script` is called
    for anything more dynamic (fail the third call, raise to simulate a crash, ...).
    """

    outcomes: Mapping[int | str, Result | Outcome] = field(default_factory=dict)
    script: Script | None = None
    name: str = "memory"
    leaves_machine: bool = False
    per_message: bool = False
    parallel: int = 1
    calls: list[SentCall] = field(default_factory=list)
    closed: int = 0

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """Record the call, then answer each recipient from the script, in order."""
        check_batch(recipients)
        self.calls.append(SentCall(message, tuple(recipients)))
        return [self._answer(message, r) for r in recipients]

    def _answer(self, message: EditionMessage, recipient: Recipient) -> Result:
        answer: Result | Outcome | None = self.outcomes.get(
            recipient.subscriber_id, self.outcomes.get(recipient.email)
        )
        if answer is None and self.script is not None:
            answer = self.script(message, recipient)
        if answer is None:
            answer = Outcome.ACCEPTED
        if isinstance(answer, Outcome):
            message_id = f"mem-{message.edition_id}-{recipient.subscriber_id}"
            return Result(
                recipient.subscriber_id,
                answer,
                message_id=message_id if answer is Outcome.ACCEPTED else None,
            )
        return answer

    def delivered(self, period_key: str, edition_id: int, subscriber_id: int) -> bool | None:
        """Unknown, like a real network: tests of crash recovery see `uncertain`."""
        return None

    def folder(self, period_key: str) -> str | None:
        return None

    def close(self) -> None:
        """Count closes, so a test can check the orchestrator releases its provider."""
        self.closed += 1

    @property
    def sent(self) -> list[tuple[EditionMessage, Recipient]]:
        """Every (edition, recipient) pair handed over, in order, across calls."""
        return [(c.message, r) for c in self.calls for r in c.recipients]
