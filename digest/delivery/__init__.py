"""Sending: a small Provider interface and its implementations (outbox, SMTP, SendGrid, memory).

Providers are chosen by name from the configuration with `make_provider`, and injected into the
code that sends; tests inject `MemoryProvider` instead of patching anything.
"""

from __future__ import annotations

from digest.config import ConfigError, Settings
from digest.delivery.provider import (
    BOUNCE_PREFIX,
    MAX_BATCH,
    EditionMessage,
    InvalidMessage,
    Outcome,
    Provider,
    Recipient,
    Result,
    personalize,
)
from digest.delivery.providers.memory import MemoryProvider
from digest.delivery.providers.outbox import OutboxProvider

PROVIDERS = ("outbox", "smtp", "sendgrid")

__all__ = [
    "BOUNCE_PREFIX",
    "MAX_BATCH",
    "PROVIDERS",
    "EditionMessage",
    "InvalidMessage",
    "MemoryProvider",
    "OutboxProvider",
    "Outcome",
    "Provider",
    "Recipient",
    "Result",
    "make_provider",
    "personalize",
]


def make_provider(name: str, settings: Settings) -> Provider:
    """The provider called `name`, configured from `settings`; ConfigError names what is missing.

    SMTP and SendGrid are imported here, on demand, so the outbox path needs neither.
    """
    if name == "outbox":
        return OutboxProvider(settings.outbox.dir)
    if name == "smtp":
        from digest.delivery.providers.smtp import SmtpProvider

        if settings.smtp.url is None:
            raise ConfigError("smtp.url is not set: set DIGEST_SMTP_URL=smtp://user:pass@host:587")
        try:
            return SmtpProvider(settings.smtp.url.get_secret_value(), timeout=settings.smtp.timeout)
        except ValueError as exc:
            raise ConfigError(f"smtp.url: {exc}") from None
    if name == "sendgrid":
        from digest.delivery.providers.sendgrid import SendGridProvider

        if settings.sendgrid.api_key is None:
            raise ConfigError("sendgrid.api_key is not set: set SENDGRID_API_KEY")
        return SendGridProvider(
            settings.sendgrid.api_key.get_secret_value(),
            host=settings.sendgrid.api_host,
            timeout=settings.sendgrid.timeout,
            max_attempts=settings.sendgrid.max_attempts,
        )
    raise ConfigError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")
