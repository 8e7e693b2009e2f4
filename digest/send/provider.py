"""The provider interface: one small method, like an HTTP client's transport.

A provider takes one rendered edition and a batch of recipients and answers, per recipient, what
became of the message. It never decides policy (what to retry later, whom to suppress): it reports
facts precisely enough that the ledger can. Rendering happens once per edition; the only
per-recipient work is `personalize`, a plain one-pass string replacement of opaque tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol, runtime_checkable

MAX_BATCH = 1000
"""Most recipients one `send` call may carry: SendGrid's personalizations-per-request limit."""


class InvalidMessage(ValueError):
    """The edition or batch breaks a provider limit; raised before anything was sent."""


@dataclass(frozen=True)
class EditionMessage:
    """One rendered edition (tier × language), rendered once and shared by every recipient."""

    issue_id: int
    edition_id: int
    period_key: str
    tier: str
    locale: str
    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    reply_to: str | None
    categories: tuple[str, ...]
    test: bool = False


@dataclass(frozen=True)
class Recipient:
    """One recipient and the values of their placeholders, escaped per part by the caller."""

    subscriber_id: int
    email: str
    name: str
    html_values: Mapping[str, str]
    text_values: Mapping[str, str]
    unsubscribe_url: str


class Outcome(StrEnum):
    """What became of one recipient's message, as far as the provider can know."""

    ACCEPTED = "accepted"
    """The provider took responsibility for delivery."""
    FAILED = "failed"
    """Permanently refused; `reason` says why ("bounce:" first when the address is dead)."""
    RETRYABLE = "retryable"
    """Certainly not sent; trying again later may work (`retry_after` seconds, when known)."""
    UNCERTAIN = "uncertain"
    """Perhaps sent: the request went out but no answer came back. Never re-send blindly."""


BOUNCE_PREFIX = "bounce:"
"""A FAILED reason starting with this is a hard bounce: the address should be suppressed."""


@dataclass(frozen=True)
class Result:
    """The outcome for one recipient, in the order the recipients were given."""

    subscriber_id: int
    outcome: Outcome
    reason: str | None = None
    message_id: str | None = None
    retry_after: float | None = None


@runtime_checkable
class Provider(Protocol):
    """Sends one edition to a batch of recipients; swapped by injection, never patched."""

    name: str

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """Send `message` to each recipient; return one Result per recipient, in the same order."""
        ...

    def close(self) -> None:
        """Release connections; the provider may be used again afterwards (it reconnects)."""
        ...


def check_batch(recipients: Sequence[Recipient]) -> None:
    """Refuse a batch larger than MAX_BATCH, so every provider enforces the same contract."""
    if len(recipients) > MAX_BATCH:
        raise InvalidMessage(
            f"{len(recipients)} recipients in one batch; at most {MAX_BATCH} (split the batch)"
        )


@lru_cache(maxsize=64)
def _pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a token that is a prefix of another never wins the alternation.
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered))


def personalize(template: str, values: Mapping[str, str]) -> str:
    """`template` with each token (a key of `values`) replaced by its value, in one pass.

    One pass means a value that happens to contain a token is never substituted again, so a
    subscriber's name can't pull another placeholder's value into the message. The compiled
    pattern is cached per token set: every recipient of an edition shares it.
    """
    if not values:
        return template
    tokens = tuple(sorted(k for k in values if k))
    if not tokens:
        return template
    return _pattern(tokens).sub(lambda m: values[m.group(0)], template)
