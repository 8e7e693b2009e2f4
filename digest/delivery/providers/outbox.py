"""The outbox provider: one `.eml` file per recipient, the default so a quickstart needs no account.

Files are named by edition and subscriber, so sending the same edition to the same person again
replaces the file instead of adding a second copy, and each is written to a temporary file and
renamed into place, so a crash never leaves half a message where a reader would open it. They
hold addresses and personal links: files 0600, folders 0700 (`digest.issues.files`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from digest.config import ProviderSettings, Settings
from digest.delivery.mime import prepared
from digest.delivery.provider import (
    EditionMessage,
    Outcome,
    Problem,
    ProviderSpec,
    Recipient,
    Result,
    check_batch,
)
from digest.issues.files import write_private

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_folder(period_key: str) -> str:
    """`period_key` as one path segment: no separators, no `..`, never empty."""
    cleaned = _UNSAFE_NAME.sub("_", period_key).strip("._")
    return cleaned or "period"


class OutboxProvider:
    """Writes `DIR/{period_key}/{edition_id}-{subscriber_id}.eml` for each recipient."""

    name = "outbox"
    leaves_machine = False
    per_message = True
    parallel = 1

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def folder(self, period_key: str) -> str:
        """The period's folder, absolute (the CLI prints it)."""
        return str((self.directory / safe_folder(period_key)).resolve())

    def path_for(self, message: EditionMessage, recipient: Recipient) -> Path:
        """Where this recipient's copy of this edition goes (stable across re-sends)."""
        folder = self.directory / safe_folder(message.period_key)
        return folder / f"{message.edition_id}-{recipient.subscriber_id}.eml"

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """Write one file per recipient; a disk error is RETRYABLE, a bad address FAILED."""
        check_batch(recipients)
        return [self._write(message, r) for r in recipients]

    def _write(self, message: EditionMessage, recipient: Recipient) -> Result:
        try:
            # The very bytes the SMTP provider would send (digest.delivery.mime).
            data, message_id = prepared(message).render(recipient)
        except ValueError as exc:
            return Result(recipient.subscriber_id, Outcome.FAILED, f"invalid: {exc}")
        target = self.path_for(message, recipient)
        try:
            write_private(target, data)
        except OSError as exc:
            return Result(recipient.subscriber_id, Outcome.RETRYABLE, f"outbox: {exc}")
        return Result(recipient.subscriber_id, Outcome.ACCEPTED, message_id=message_id)

    def close(self) -> None:
        """Nothing to release: files are closed as they are written."""

    def delivered(self, period_key: str, edition_id: int, subscriber_id: int) -> bool:
        """The written file proves delivery; a write killed half-way leaves only a temporary
        file, removed here, so the message is certainly not delivered and is sent again."""
        target = self.directory / safe_folder(period_key) / f"{edition_id}-{subscriber_id}.eml"
        for stray in target.parent.glob(f".{target.name}.*.tmp"):
            stray.unlink(missing_ok=True)
        return target.exists()


class OutboxSettings(ProviderSettings):
    """The outbox: each message written as a `.eml` file, nothing sent (used when neither SendGrid
    nor SMTP is configured)."""

    section = "outbox"
    env: ClassVar[Mapping[str, str]] = {"DIGEST_OUTBOX_DIR": "dir"}

    dir: str = Field("outbox", description="Folder the outbox provider writes `.eml` files to.")


def _make(settings: Settings) -> OutboxProvider:
    return OutboxProvider(OutboxSettings.of(settings).dir)


def _checks(settings: Settings) -> list[Problem]:
    return []  # nothing to verify: the folder is made on first write


PROVIDER = ProviderSpec("outbox", OutboxProvider, _make, _checks, OutboxSettings)
