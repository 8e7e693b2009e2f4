"""The provider interface: one small method, like an HTTP client's transport.

A provider takes one rendered edition and a batch of recipients and answers, per recipient, what
became of the message. It never decides policy (what to retry later, whom to suppress): it reports
facts precisely enough that the ledger can. Rendering happens once per edition; the only
per-recipient work is `personalize`, a plain one-pass string replacement of opaque tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from digest.config import ProviderSettings, Settings
from digest.issues.render.placeholders import fill

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
    transactional: bool = False
    """A one-off message someone asked for (a sign-up confirmation), not mail from a list:
    it gets no List-Unsubscribe headers (`headers.list_headers` says why)."""
    list_id: str = ""
    """The `List-Id` value (RFC 2919) of mail from the digest's list; "" for none."""
    feedback_id: str = ""
    """The `Feedback-ID` value (Gmail's feedback loop, `digest:tier:period:sender`); "" for none."""


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
    """Sends one edition to a batch of recipients; swapped by injection, never patched.

    Its properties tell the delivery core how to drive it, so nothing outside a provider asks
    which one it is.
    """

    name: str
    leaves_machine: bool
    """Mail goes to real inboxes: a signing key must be configured and `digest check` pass."""
    per_message: bool
    """It answers per message (SMTP, outbox): the core hands it one recipient at a time, so a
    crash leaves at most that one uncertain. False: per request (SendGrid), handed whole."""
    parallel: int
    """Batches one instance may have in flight at once (its connections are thread-safe)."""

    def send(self, message: EditionMessage, recipients: Sequence[Recipient]) -> list[Result]:
        """Send `message` to each recipient; return one Result per recipient, in the same order."""
        ...

    def close(self) -> None:
        """Release connections; the provider may be used again afterwards (it reconnects)."""
        ...

    def delivered(self, period_key: str, edition_id: int, subscriber_id: int) -> bool | None:
        """Proof after a crash: whether this message certainly went (True), certainly did not
        (False), or cannot be known (None, which makes an in-flight row `uncertain`)."""
        ...

    def folder(self, period_key: str) -> str | None:
        """Where the period's messages can be read on this machine (the outbox), else None."""
        ...


class ProviderDefaults:
    """Defaults for a provider that cannot tell after a crash what it delivered (anything sent
    over a network) and writes no local folder."""

    def delivered(self, period_key: str, edition_id: int, subscriber_id: int) -> bool | None:
        return None

    def folder(self, period_key: str) -> str | None:
        return None


Level = Literal["fail", "warn"]


@dataclass(frozen=True)
class Problem:
    """One thing `digest check` found: the setting, what is wrong and how to fix it."""

    setting: str
    message: str
    fix: str
    level: Level = "fail"

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}. Fix: {self.fix}"


@dataclass(frozen=True)
class ProviderSpec:
    """What the registry knows of a provider: its module declares one, named `PROVIDER`.

    `make` builds it from the settings (ConfigError names what is missing); `checks` are what
    `digest check` verifies for it beyond the shared checks (its credentials, say); `settings`
    is its own section of the configuration, if it has one.
    """

    name: str
    kind: type[Provider]
    make: Callable[[Settings], Provider]
    checks: Callable[[Settings], list[Problem]]
    settings: type[ProviderSettings] | None = None
    """Its `[section]` of `digest.toml`, declared in its module; the registry registers it with
    `digest.config` so the configuration validates it on load."""

    @property
    def leaves_machine(self) -> bool:
        return self.kind.leaves_machine


def check_batch(recipients: Sequence[Recipient]) -> None:
    """Refuse a batch larger than MAX_BATCH, so every provider enforces the same contract."""
    if len(recipients) > MAX_BATCH:
        raise InvalidMessage(
            f"{len(recipients)} recipients in one batch; at most {MAX_BATCH} (split the batch)"
        )


personalize = fill
"""The placeholder filler shared with previews (`digest.issues.render.placeholders.fill`)."""
