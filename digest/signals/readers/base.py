"""What every reader shares: its declaration, its error type, its result, reading UTF-8 text.

A reader module declares its formats in a module-level `READERS` tuple of `Reader`s (the file
extensions and URL schemes each claims); the registry in `digest.signals.readers` finds them, so
a new format is one new module. Most formats parse text: `text_reader` wraps a function
`parse(source, text) -> Parsed`; feeds fetch their own bytes. A reader never raises for bad input
other than `SourceError`; it keeps every good record it can and reports each bad one, so a
neighbour's mistake never drops a valid signal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digest.config import Sources
from digest.model import Signal


def one_line(text: str) -> str:
    """`text` as one printable line: whitespace runs (newlines too) become a space, other
    control characters `?`. A reason can quote a feed server (its status phrase, its headers),
    and a terminal or log must not take that for escape sequences or extra lines."""
    kept = "".join(c if c.isprintable() or c.isspace() else "?" for c in text)
    return " ".join(kept.split())


class SourceError(Exception):
    """Bad input in one source: printed as `source:line: reason` (line when known), on one
    printable line whatever the reason quotes."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        reason = one_line(reason)
        super().__init__(reason)
        self.source = one_line(source)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.reason}"


class SourceWarning(SourceError):
    """A fault the importer recovered from: the record imported, but an editor should look.

    Printed as `source:line: warning: reason`; unlike an error it does not fail the ingest.
    """

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: warning: {self.reason}"


@dataclass
class Parsed:
    """What one source yielded: the valid signals, one error per bad record, and warnings.

    `class_lines` is the line each signal's `market_class` is given on, by signal id, where the
    format has lines: ingest's warning about a new class points the editor at it.
    """

    source: str
    signals: list[Signal] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    warnings: list[SourceWarning] = field(default_factory=list)
    class_lines: dict[str, int] = field(default_factory=dict)


Parse = Callable[[str, str], Parsed]
"""`parse(source, text)`: one text source's records (the source names it in messages)."""


@dataclass(frozen=True)
class Reader:
    """One source format, as its module declares it in `READERS`.

    `read(location, sources)` reads one file or URL with the `[sources]` settings. `order` places
    the format in listings (`--help`, the unknown-type message): the publication's own formats
    first.
    """

    name: str
    read: Callable[[str, Sources], Parsed]
    extensions: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    order: int = 100


def text_reader(name: str, parse: Parse, extensions: tuple[str, ...], order: int = 100) -> Reader:
    """A reader of UTF-8 files: the file's text handed to `parse(source, text)`."""
    return Reader(name, partial(_read_text_file, parse), extensions, order=order)


def _read_text_file(parse: Parse, location: str, _sources: Sources) -> Parsed:
    return parse(location, read_text(Path(location)))


def read_text(path: Path) -> str:
    """The file as text; undecodable bytes are a SourceError naming the line they sit on."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            str(path), f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line
        ) from exc


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted field name, message) for each problem pydantic found."""
    out = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "record"
        out.append((name, _over_cap(err) or err["msg"]))
    return out


def _over_cap(err: Any) -> str | None:
    """A size cap's message with the size found, e.g. `250,000 characters; the cap is 10,000`."""
    cap = (err.get("ctx") or {}).get("max_length")
    if err["type"] == "string_too_long" and isinstance(err.get("input"), str):
        found, unit = len(err["input"]), "characters"
    elif err["type"] == "too_long":
        found, unit = err["ctx"].get("actual_length"), "items"
    else:
        return None
    if found is None or cap is None:
        return None
    return f"too long: {found:,} {unit}; the cap is {cap:,} (docs/signals.md: The signal schema)"
