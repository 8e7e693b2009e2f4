"""JSON and JSONL in the normalized schema: what `digest ingest --json` prints reads back as is.

A `.json` file holds one record or an array of them; a `.jsonl` file one record per line.
Each bad record is reported with the line it starts on; the good ones still import.
"""

from __future__ import annotations

import json

import orjson

from digest.signals.readers.base import Parsed, SourceError, text_reader
from digest.signals.readers.records import LineOf, build_signal

_decoder = json.JSONDecoder()


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _array_items(source: str, text: str) -> list[tuple[object, int]]:
    """(item, line) for each element of a top-level array, found with raw_decode offsets."""
    items: list[tuple[object, int]] = []
    pos = _skip_space(text, text.index("[") + 1)
    while pos < len(text) and text[pos] != "]":
        try:
            value, end = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise SourceError(source, f"invalid JSON: {exc.msg}", exc.lineno) from None
        items.append((value, _line_at(text, pos)))
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
    return items


def read_json(source: str, text: str) -> Parsed:
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SourceError(source, f"invalid JSON: {exc.msg}", exc.lineno) from None
    if isinstance(whole, list):
        items = _array_items(source, text)
    else:
        items = [(whole, _line_at(text, len(text) - len(text.lstrip())))]
    return _build_all(source, items)


def read_jsonl(source: str, text: str) -> Parsed:
    parsed = Parsed(source)
    items: list[tuple[object, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((orjson.loads(line), number))
        except orjson.JSONDecodeError as exc:
            parsed.errors.append(SourceError(source, f"invalid JSON: {exc.msg}", number))
    built = _build_all(source, items)
    parsed.signals = built.signals
    parsed.class_lines = built.class_lines
    parsed.errors = sorted(parsed.errors + built.errors, key=lambda e: e.line or 0)
    return parsed


def _build_all(source: str, items: list[tuple[object, int]]) -> Parsed:
    parsed = Parsed(source)
    for raw, line in items:
        try:
            signal = build_signal(raw, source, _constant(line))
        except SourceError as exc:
            parsed.errors.append(exc)
            continue
        parsed.signals.append(signal)
        parsed.class_lines[signal.id] = line  # a later record of the same id wins, as stored
    return parsed


def _constant(line: int) -> LineOf:
    """Every field of a JSON record is reported at the line the record starts on."""
    return lambda _field: line


READERS = (
    text_reader("json", read_json, (".json",), order=20),
    text_reader("jsonl", read_jsonl, (".jsonl",), order=21),
)
