"""The providers a send can go through: a registry of modules, one per provider.

Each module declares `PROVIDER`, a `ProviderSpec` (name, class, how to make it from the
settings, what `digest check` verifies for it, its own settings section); the class declares
its properties (whether mail leaves the machine, whether it answers per message or per
request, how many batches it takes at once) and its proof after a crash. Nothing outside a
provider's module asks which one it is. Adding a provider is writing one module here: the
registry finds every module of this package by its name. Importing the registry registers each
provider's settings section with `digest.config` (which sits below this package and cannot
import it), so `load_settings` validates `[smtp]`, `[sendgrid]`, `[outbox]` … from then on.
"""

from __future__ import annotations

import importlib
import pkgutil

from digest.config import ConfigError, Settings, register_providers, register_section
from digest.delivery.provider import Provider, ProviderSpec

_LISTED_FIRST = ("outbox", "smtp", "sendgrid")
"""Where the bundled providers stand in listings (the default first); others follow by name."""

DEFAULT = _LISTED_FIRST[0]
"""The provider used when none is named (`digest send`, `digest run`): nothing leaves the
machine."""


def names() -> tuple[str, ...]:
    """Every provider: the modules of this package, found by name without importing them."""
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    first = [n for n in _LISTED_FIRST if n in found]
    return (*first, *sorted(found - set(first)))


PROVIDERS = names()


def spec(name: str) -> ProviderSpec:
    """The provider called `name` (its module's `PROVIDER`); ConfigError for an unknown name."""
    known = names()
    if name not in known:
        raise ConfigError(f"unknown provider {name!r}: choose one of {', '.join(known)}")
    found: ProviderSpec = importlib.import_module(f"{__name__}.{name}").PROVIDER
    return found


def configured_provider(settings: Settings) -> str:
    """The provider an unattended send uses: the first bundled provider that leaves the machine
    and whose own checks pass (SendGrid, then SMTP), else the default (the outbox), so a fresh
    install's schedule never mails anyone by surprise. Each provider's checks are the one place
    that says whether it is configured."""
    for name in reversed(_LISTED_FIRST):
        found = spec(name)
        if found.leaves_machine and not found.checks(settings):
            return name
    return DEFAULT


def make_provider(name: str, settings: Settings) -> Provider:
    """The provider called `name`, configured from `settings`; ConfigError names what is missing."""
    return spec(name).make(settings)


def register_settings() -> None:
    """Register every provider's settings section, and where their names come from, with the
    configuration (idempotent)."""
    register_providers(names)
    for name in names():
        model = spec(name).settings
        if model is not None:
            register_section(model)


register_settings()
