"""An editor's hand on one period's issue: what to leave out, what leads, what is one story.

Stored per period in the database and applied when the issue is built, so the CLI
(`digest issue …`), the editor's web page and the scheduler all steer the same build. This
module holds the value type only; loading and saving live with the issue store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class IssueControls:
    """The editor's choices for one period; the empty value changes nothing."""

    excluded: frozenset[str] = frozenset()
    """Signal ids left out of every edition (accounted as "excluded by an editor")."""
    lead: str | None = None
    """The lead story's id: first in its section and first in the subject wherever shown."""
    merges: Mapping[str, str] = field(default_factory=_empty)
    """Manual merges: dropped id -> kept id (applied on top of the automatic exact merges)."""
    unmerged: frozenset[str] = frozenset()
    """Ids an editor split out of an automatic merge: never merged automatically again."""
    notes: Mapping[str, str] = field(default_factory=_empty)
    """The editor's note per language ("en", "zh"): Markdown source, at most 600 characters."""

    @property
    def empty(self) -> bool:
        return not (self.excluded or self.lead or self.merges or self.unmerged or self.notes)


NO_CONTROLS = IssueControls()
