"""Turning one raw mapping (from JSON or front matter) into a Signal, or one clear error.

Shared by the JSON and Markdown importers so both speak the same schema with the same messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from digest.model import SIGNAL_FIELDS, Signal
from digest.signals.readers.base import SourceError, describe_validation_error
from digest.text import derived_id, language_of

LineOf = Callable[[str], int | None]


def build_signal(raw: Any, source: str, line_of: LineOf) -> Signal:
    """Validate `raw`; a wrong field name or type raises SourceError naming field and line."""
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise SourceError(source, f"expected an object of signal fields, got {kind}", line_of(""))
    unknown = [k for k in raw if k not in SIGNAL_FIELDS]
    if unknown:
        key = str(unknown[0])
        raise SourceError(source, f"unknown field {key!r}", line_of(key))
    record = dict(raw)
    title = record.get("title")
    if isinstance(title, str) and title.strip():
        if not record.get("id"):
            record["id"] = derived_id(title)
        if "titles" not in record:
            record["titles"] = {language_of(title): title.strip()}
    elif not record.get("id"):  # else the only complaint would be the id the title makes
        raise SourceError(
            source, "field 'title': required (the id is made from it)", line_of("title")
        )
    if "source" not in record:
        record["source"] = source
    try:
        return Signal.model_validate(record)
    except ValidationError as exc:
        field, message = describe_validation_error(exc)[0]
        top = field.split(".")[0]
        label = "record" if field == "record" else f"field {field!r}"
        raise SourceError(source, f"{label}: {message}", line_of(top)) from None
