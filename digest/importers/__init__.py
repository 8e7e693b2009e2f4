"""Importers: one module per source format, chosen by file extension (like Pelican's readers)."""

from __future__ import annotations

from digest.importers.base import Parsed, Reader, SourceError, read_text

__all__ = ["Parsed", "Reader", "SourceError", "read_text"]
