"""Delivery: a send's plan, one batch core, its executors, the ledger and the providers.

Providers are chosen by name from a registry (`digest.delivery.providers`) and injected into
the code that sends; tests inject `MemoryProvider` instead of patching anything.
"""

from __future__ import annotations

from digest.delivery.memory import MemoryProvider
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
from digest.delivery.providers import PROVIDERS, make_provider
from digest.delivery.providers.outbox import OutboxProvider

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
