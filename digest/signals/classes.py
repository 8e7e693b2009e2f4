"""The publication's known market classes, their one canonical spelling, and "did you mean".

Editions group signals into sections by `market_class` exactly, and subscribers' interests are
matched against those section names exactly; so a misspelt class makes a section of its own, and
a misspelt interest matches nothing. Both doors use these classes: ingest warns about a signal
whose class is new (`digest.signals.ingest`), and the audience maps interests onto them. They
live here, with the signals that define them, so the audience stage imports them downward.

Interests are matched against section names exactly when a digest is built and sent, so an
interest spelled `supply chain` (or mistyped `Suply Chain`) would quietly match nothing and its
subscriber would never be mailed. Interests are therefore mapped at the door (import, `add`,
preferences) onto the known classes — the configured `editions.class_order` plus every
`market_class` the stored signals use — case-insensitively and with whitespace collapsed, and
stored in the canonical spelling; anything that maps to no known class is reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from digest.config import Editions
from digest.signals.store import stored_classes


def class_key(value: str) -> str:
    """What two spellings of one class share: case-folded, whitespace collapsed."""
    return " ".join(value.split()).casefold()


class MarketClasses:
    """The known classes, by canonical spelling; the first spelling given for a key wins."""

    def __init__(self, names: Iterable[str]) -> None:
        self._by_key: dict[str, str] = {}
        for name in names:
            clean = " ".join(name.split())
            if clean:
                self._by_key.setdefault(class_key(clean), clean)

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical spellings, in the order given (configured order first)."""
        return tuple(self._by_key.values())

    def canonical(self, value: str) -> str | None:
        """The stored spelling of `value`, or None when it names no known class."""
        return self._by_key.get(class_key(value))

    def resolve(self, interests: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
        """(the known interests, canonical, sorted and de-duplicated; the unknown ones as given)."""
        known: set[str] = set()
        unknown: list[str] = []
        for interest in interests:
            found = self.canonical(interest)
            if found is None:
                unknown.append(interest)
            else:
                known.add(found)
        return tuple(sorted(known)), unknown

    def unknown(self, value: str) -> str:
        """The message for an interest that is no known class, with a suggestion when close."""
        return self.described(f"unknown market class {value!r}", value)

    def described(self, head: str, value: str) -> str:
        """`head (known: …)`, then `; did you mean '…'?` when `value` is close to a known class.

        The one wording of the known list and the suggestion, for every door that checks a class.
        """
        listed = ", ".join(self.names) or "none yet: no classes configured or stored"
        text = f"{head} (known: {listed})"
        close = self.closest(value)
        return text + (f"; did you mean {close!r}?" if close else "")

    def closest(self, value: str) -> str | None:
        """The known class `value` most likely misspells (ignoring case and spacing), if any."""
        close = difflib.get_close_matches(class_key(value), list(self._by_key), n=1, cutoff=0.75)
        return self._by_key[close[0]] if close else None


def known_classes(conn: Connection, class_order: Sequence[str] | None = None) -> MarketClasses:
    """`class_order` (None: the default configuration's) ∪ the classes stored signals use.

    Stored classes are read with one DISTINCT query; they follow the configured ones, sorted,
    so a configured spelling is always the canonical one.
    """
    order = Editions().class_order if class_order is None else class_order
    return MarketClasses([*order, *stored_classes(conn)])
