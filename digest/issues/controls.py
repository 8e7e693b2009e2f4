"""An editor's hand on one period's issue: what to leave out, what leads, what is one story.

Stored per period in the database and applied when the issue is built, so the CLI
(`digest issue …`), the editor's web page and the scheduler all steer the same build. This
module holds the value type only; loading and saving live with the issue store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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


# --- the rules of a change, on the value alone (the store adds what needs the database) --------


class ControlsError(ValueError):
    """A change the controls refuse; the message names the signal and what is wrong."""


def _frozen_map(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(sorted(values.items())))


def excluding(controls: IssueControls, ids: Iterable[str]) -> IssueControls:
    """Leave `ids` out of every edition; the lead and merged-away signals cannot be."""
    ids = list(dict.fromkeys(ids))
    for signal_id in ids:
        if signal_id == controls.lead:
            raise ControlsError(
                f"{signal_id} is the lead story: pick another lead or clear it first"
            )
        if signal_id in controls.merges:
            kept = controls.merges[signal_id]
            raise ControlsError(
                f"{signal_id} is merged into {kept}: exclude {kept} to leave the story out"
            )
    return replace(controls, excluded=controls.excluded | set(ids))


def including(controls: IssueControls, ids: Iterable[str]) -> IssueControls:
    """Undo `excluding` (an id that was not excluded is left as it is)."""
    return replace(controls, excluded=controls.excluded - set(ids))


def with_lead(controls: IssueControls, signal_id: str | None) -> IssueControls:
    """Make `signal_id` the lead story (None: the build's order decides again)."""
    if signal_id is not None:
        if signal_id in controls.merges:
            kept = controls.merges[signal_id]
            raise ControlsError(f"{signal_id} is merged into {kept}: make {kept} the lead")
        if signal_id in controls.excluded:
            raise ControlsError(f"{signal_id} is excluded: include it before making it the lead")
    return replace(controls, lead=signal_id)


def merging(controls: IssueControls, keep: str, drops: Iterable[str]) -> IssueControls:
    """Merge each of `drops` into `keep`: one story, shown once, as `keep`.

    Refused when it would make a chain (A into B into C) or move a signal merged elsewhere: the
    editor unmerges first, so no merge is ever undone silently.
    """
    drops = list(dict.fromkeys(drops))
    if keep in controls.merges:
        raise ControlsError(
            f"{keep} is itself merged into {controls.merges[keep]}: merge into "
            f"{controls.merges[keep]} instead, or unmerge {keep} first"
        )
    if keep in controls.excluded:
        raise ControlsError(f"{keep} is excluded: include it before merging into it")
    merges = dict(controls.merges)
    for drop in drops:
        if drop == keep:
            raise ControlsError(f"cannot merge {drop} into itself")
        if drop in merges and merges[drop] != keep:
            raise ControlsError(f"{drop} is already merged into {merges[drop]}: unmerge it first")
        kept_here = sorted(d for d, k in controls.merges.items() if k == drop)
        if kept_here:
            raise ControlsError(
                f"{', '.join(kept_here)} {'is' if len(kept_here) == 1 else 'are'} merged into "
                f"{drop}: merge {drop} into {keep} would chain them; unmerge first, or merge "
                f"into {drop}"
            )
        if drop == controls.lead:
            raise ControlsError(
                f"{drop} is the lead story: make {keep} the lead (or clear the lead) first"
            )
        merges[drop] = keep
    return replace(controls, merges=_frozen_map(merges), unmerged=controls.unmerged - set(drops))


def unmerging(controls: IssueControls, drop: str) -> IssueControls:
    """Show `drop` on its own again: undo a merge by hand, or split it out of an automatic one."""
    kept_here = sorted(d for d, k in controls.merges.items() if k == drop)
    if kept_here and drop not in controls.merges:
        raise ControlsError(
            f"{drop} is the kept signal of a merge ({', '.join(kept_here)} merged into it): "
            f"unmerge {kept_here[0]} instead"
        )
    if drop in controls.merges:
        merges = {d: k for d, k in controls.merges.items() if d != drop}
        return replace(controls, merges=_frozen_map(merges))
    return replace(controls, unmerged=controls.unmerged | {drop})


def with_note(controls: IssueControls, lang: str, markdown: str | None) -> IssueControls:
    """Set (or with None or blank text, clear) the note of one language; checking the text is
    the note renderer's (`digest.issues.render.note.check_note`)."""
    notes = {k: v for k, v in controls.notes.items() if k != lang}
    if markdown and markdown.strip():
        notes[lang] = markdown
    return replace(controls, notes=_frozen_map(notes))
