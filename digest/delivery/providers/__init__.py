"""The providers a send can go through: a registry of modules, one per provider.

Each module declares `PROVIDER`, a `ProviderSpec` (name, class, how to make it from the
settings, what `digest check` verifies for it); the class declares its properties (whether mail
leaves the machine, whether it answers per message or per request, how many batches it takes
at once) and its proof after a crash. Nothing outside a provider's module asks which one it
is. Adding a provider is writing one module and one line here. Modules are imported on first
use, so the outbox path never loads the SendGrid client.
"""

from __future__ import annotations

import importlib

from digest.config import ConfigError, Settings
from digest.delivery.provider import Provider, ProviderSpec

REGISTRY: dict[str, str] = {
    "outbox": "digest.delivery.providers.outbox",
    "smtp": "digest.delivery.providers.smtp",
    "sendgrid": "digest.delivery.providers.sendgrid",
}
PROVIDERS = tuple(REGISTRY)


def spec(name: str) -> ProviderSpec:
    """The registered provider called `name`; ConfigError for an unknown name."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")
    found: ProviderSpec = importlib.import_module(REGISTRY[name]).PROVIDER
    return found


def make_provider(name: str, settings: Settings) -> Provider:
    """The provider called `name`, configured from `settings`; ConfigError names what is missing."""
    return spec(name).make(settings)
