"""Small helpers shared by the audience tests (storage tests use the root `engine` fixture)."""

from __future__ import annotations

import io

from sqlalchemy import Engine

from digest.audience.csvio import ImportReport, import_stream

ZONE = "Europe/London"
HEADER = "email,name,tier,locale,timezone,interests\n"


def import_text(
    engine: Engine, text: str | bytes, *, dry_run: bool = False, source: str = "t.csv"
) -> ImportReport:
    """Import CSV given inline, as the CLI would a file."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return import_stream(
        engine, io.BytesIO(data), source=source, default_zone=ZONE, dry_run=dry_run
    )
