"""Readers: one module per source format, found by the registry (like Pelican's readers).

Each module in this package that declares `READERS` (a tuple of `base.Reader`) adds its formats:
the file extensions and URL schemes it reads. Nothing else lists them, so a new format is one new
module here; ingest, `--help` and the unknown-type message all ask the registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from digest.signals.readers.base import Parsed, Reader, SourceError, SourceWarning, read_text

__all__ = [
    "Parsed",
    "Reader",
    "Registry",
    "SourceError",
    "SourceWarning",
    "read_text",
    "registry",
]


@dataclass(frozen=True)
class Registry:
    """The readers found, in listing order; picks the one for a location."""

    readers: tuple[Reader, ...]

    def extensions(self) -> tuple[str, ...]:
        return tuple(ext for reader in self.readers for ext in reader.extensions)

    def claims_url(self, location: str) -> bool:
        """Whether `location` is a URL some reader fetches (`https://…`), not a path."""
        return self._by_scheme(location) is not None

    def reader_for(self, location: str) -> Reader | None:
        """The reader of a URL by its scheme, else of a file by its extension (any case)."""
        by_scheme = self._by_scheme(location)
        if by_scheme is not None:
            return by_scheme
        suffix = Path(location).suffix.lower()
        return next((r for r in self.readers if suffix in r.extensions), None)

    def _by_scheme(self, location: str) -> Reader | None:
        return next(
            (r for r in self.readers if location.startswith(tuple(f"{s}://" for s in r.schemes))),
            None,
        )


@cache
def registry() -> Registry:
    """Every reader declared by a module of this package (imported here, once)."""
    found: list[Reader] = []
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        found.extend(getattr(importlib.import_module(module.name), "READERS", ()))
    return Registry(tuple(sorted(found, key=lambda r: (r.order, r.name))))
