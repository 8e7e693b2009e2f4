"""Markdown with YAML front matter: how editors write signals (and member-only text) by hand.

The front matter's keys are the signal's JSON field names (the member-only ones included); the
Markdown body after the closing `---` holds the body paragraphs, one per blank-line-separated
block, each in the language its characters show. Errors name the file, the field and its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from digest.signals.readers.base import Parsed, SourceError, text_reader
from digest.signals.readers.records import build_signal
from digest.text import language_of

_FENCE = "---"


def _split(source: str, text: str) -> tuple[str, list[str], int]:
    """(front matter text, body lines, line number of the first body line)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise SourceError(source, "no front matter: the file must start with a `---` line", 1)
    for index in range(1, len(lines)):
        if lines[index].strip() == _FENCE:
            return "\n".join(lines[1:index]), lines[index + 1 :], index + 2
    raise SourceError(source, "front matter is not closed by a `---` line", 1)


def _key_lines(source: str, front: str) -> tuple[Any, dict[str, int]]:
    """The parsed front matter and the file line of each top-level key."""
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        data = yaml.safe_load(front)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else None
        raise SourceError(source, f"front matter is not valid YAML: {exc.problem}", line) from None
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _value in node.value:
            lines[str(key_node.value)] = key_node.start_mark.line + 2
    return data, lines


def _paragraphs(lines: list[str]) -> dict[str, list[str]]:
    body: dict[str, list[str]] = {}
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.strip())
        elif block:
            paragraph = " ".join(block)
            body.setdefault(language_of(paragraph), []).append(paragraph)
            block = []
    return body


def read_markdown(source: str, text: str) -> Parsed:
    front, body_lines, _ = _split(source, text)
    data, key_lines = _key_lines(source, front)
    if data is None:
        raise SourceError(source, "front matter is empty: it needs at least `title:`", 2)
    if isinstance(data, dict):
        if "body" in data:
            raise SourceError(
                source,
                "field 'body': write body paragraphs after the front matter",
                key_lines.get("body"),
            )
        data["body"] = _paragraphs(body_lines)
    signal = build_signal(data, source, lambda field: key_lines.get(field, 2))
    lines = {signal.id: key_lines["market_class"]} if "market_class" in key_lines else {}
    return Parsed(source, signals=[signal], class_lines=lines)


READERS = (text_reader("markdown", read_markdown, (".md", ".markdown"), order=30),)
