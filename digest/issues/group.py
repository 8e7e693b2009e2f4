"""Group: an issue's signals into sections by market class, ordered by confidence tier.

Records merge automatically only when they are the *same* signal (digest.issues.sameness): the
same id, the same canonical URL, or the same title and lead. A merged story never holds two
different canonical URLs, and wording that is merely alike merges nothing: such pairs become
suggestions for the editor (digest.issues.similar). An editor's controls apply on top: excluded
signals are left out, manual merges join stories, unmerged ids stay apart, the lead goes first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from digest.issues.controls import NO_CONTROLS, IssueControls
from digest.issues.sameness import canonical_url, text_keys
from digest.issues.similar import Suggestion, similar_pairs, source_of, suggestion
from digest.model import SIGNAL_FIELDS, Signal
from digest.scale import tier_rank
from digest.signals.merging import is_filled, merge_by_id

OTHER = ""
"""Section key for signals with no market class: always last."""

RATING_FIELDS = frozenset(
    {"id", "confidence", "tier", "tier_label", "internal", "evidence", "published"}
)
"""What a merged story takes from its kept record only: the rating shown is one record's."""
OTHER_URL = "same text, other URL"
"""Why a pair is suggested that an exact rule would have joined but for its two URLs."""


@dataclass(frozen=True)
class Section:
    """One market class and its signals, best first."""

    market_class: str
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class Story:
    """Records merged into one item: the kept id, the others, and what they disagreed on."""

    kept: str
    members: tuple[str, ...]
    """Every merged id, the kept one first."""
    sources: tuple[str, ...]
    """Every record's URL or source, distinct, the kept one's first."""
    confidences: tuple[float | None, ...]
    """Each member's confidence, in `members` order: the editor sees any disagreement."""
    urls: tuple[str, ...] = ()
    """Every record's own `url`, distinct: what a reader may follow (`sources` also holds file
    paths and feed addresses, which are the editor's, not the reader's)."""

    @property
    def disagreement(self) -> bool:
        return len(set(self.confidences)) > 1


@dataclass
class Grouped:
    sections: list[Section]
    duplicates: dict[str, str] = field(default_factory=dict)
    """Automatic merges: dropped id -> kept id (the same signal by id, URL or text)."""
    manual: dict[str, str] = field(default_factory=dict)
    """An editor's merges: dropped id -> kept id."""
    excluded: list[str] = field(default_factory=list)
    """Ids left out by an editor (with any record merged into them)."""
    suggestions: list[Suggestion] = field(default_factory=list)
    stories: dict[str, Story] = field(default_factory=dict)
    """Kept id -> its story, for items that merged more than one record."""
    lead: str | None = None
    """The editor's lead story, when it is among the grouped signals."""

    def merged_into(self, signal_id: str) -> str | None:
        return self.duplicates.get(signal_id) or self.manual.get(signal_id)


def richness(signal: Signal) -> tuple[int, int]:
    """How much a record says: fields filled, then characters of text (the tie-breaker)."""
    filled = chars = 0
    for name in SIGNAL_FIELDS:
        value = getattr(signal, name)
        if not is_filled(value) or value is False:
            continue
        filled += 1
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            chars += sum(len(v) for v in value)
        elif isinstance(value, dict):
            chars += sum(len(v) if isinstance(v, str) else sum(map(len, v)) for v in value.values())
    return filled, chars


def support(signal: Signal) -> tuple[float, int, int]:
    """Which record of a story is kept: the higher confidence, then the richer record."""
    confidence = signal.confidence if signal.confidence is not None else -1.0
    return (confidence, *richness(signal))


class _Stories:
    """Union-find over record indexes that refuses to join two different canonical URLs."""

    def __init__(self, signals: Sequence[Signal]) -> None:
        self.parent = list(range(len(signals)))
        self.urls: list[set[str]] = []
        for s in signals:
            url = canonical_url(s.url)
            self.urls.append({url} if url else set())

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int, *, force: bool = False) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        if not force and len(self.urls[ra] | self.urls[rb]) > 1:
            return False
        self.parent[rb] = ra
        self.urls[ra] |= self.urls[rb]
        return True


def filled_from(kept: Signal, others: Sequence[Signal]) -> Signal:
    """The kept record with each empty field filled from the others (richest first): the
    member-only texts survive whichever record carried them; the rating stays the kept one's.
    The web pages of a frozen edition rebuild a story with it from its stored members."""
    update = {}
    for name in SIGNAL_FIELDS:
        if name in RATING_FIELDS or is_filled(getattr(kept, name)):
            continue
        for other in others:
            value = getattr(other, name)
            if is_filled(value):
                update[name] = value
                break
    return kept.model_copy(update=update) if update else kept


def _url_keys(signal: Signal) -> list[str]:
    url = canonical_url(signal.url)
    return [url] if url else []


def _text_keys(signal: Signal) -> list[str]:
    return sorted(text_keys(signal))


def merge_stories(
    signals: Sequence[Signal], controls: IssueControls = NO_CONTROLS
) -> tuple[list[Signal], Grouped]:
    """One record per story, in the input's order; the `Grouped` holds everything but the
    sections (merges, exclusions, refused joins as suggestions, each story's members)."""
    if len({s.id for s in signals}) < len(signals):  # records of one id are one signal
        signals = merge_by_id(signals)
    stories = _Stories(signals)
    index = {s.id: i for i, s in enumerate(signals)}
    apart = controls.unmerged | controls.excluded  # an excluded record is left out alone
    auto = [i for i, s in enumerate(signals) if s.id not in apart]
    refused: list[Suggestion] = []
    for key_of in (_url_keys, _text_keys):
        first: dict[str, int] = {}
        for i in auto:
            for key in key_of(signals[i]):
                j = first.setdefault(key, i)
                if j != i and not stories.join(j, i):
                    refused.append(suggestion(signals[j], signals[i], 100.0, OTHER_URL))
    manual_keeps = set()
    for drop, keep in controls.merges.items():
        if drop in index and keep in index and drop not in controls.excluded:
            stories.join(index[keep], index[drop], force=True)
            manual_keeps.add(keep)
    clusters: dict[int, list[int]] = {}
    for i in range(len(signals)):
        clusters.setdefault(stories.root(i), []).append(i)
    grouped = Grouped([])
    kept_records: dict[int, Signal] = {}
    for members in clusters.values():
        picks = [i for i in members if signals[i].id in manual_keeps]
        picks = [i for i in picks if signals[i].id not in controls.merges] or picks
        best = picks[0] if picks else max(members, key=lambda i: (support(signals[i]), -i))
        others = sorted(
            (i for i in members if i != best), key=lambda i: richness(signals[i]), reverse=True
        )
        kept = signals[best]
        for i in others:
            target = grouped.manual if signals[i].id in controls.merges else grouped.duplicates
            target[signals[i].id] = kept.id
        if others:
            ordered = [best, *others]
            grouped.stories[kept.id] = Story(
                kept.id,
                tuple(signals[i].id for i in ordered),
                tuple(dict.fromkeys(filter(None, (source_of(signals[i]) for i in ordered)))),
                tuple(signals[i].confidence for i in ordered),
                tuple(dict.fromkeys(filter(None, (signals[i].url for i in ordered)))),
            )
            kept = filled_from(kept, [signals[i] for i in others])
        kept_records[min(members)] = kept
    out = []
    for i in sorted(kept_records):
        record = kept_records[i]
        if record.id in controls.excluded:  # with any record an editor merged into it
            grouped.excluded.append(record.id)
        else:
            out.append(record)
    grouped.suggestions = refused
    return out, grouped


def signal_order(signal: Signal) -> tuple[int, float, int, str]:
    """Tier A first and unrated last, then higher score, then newer, then id for stability."""
    score = -signal.confidence if signal.confidence is not None else 1.0
    published = -(signal.published or dt.date.min).toordinal()
    return tier_rank(signal.tier), score, published, signal.id


def class_order(classes: Iterable[str], configured: Sequence[str]) -> list[str]:
    """Configured classes in their order, the others alphabetically, unclassified last."""
    present = set(classes)
    known = [c for c in configured if c in present]
    rest = sorted(present - set(known) - {OTHER}, key=str.casefold)
    return known + rest + ([OTHER] if OTHER in present else [])


def group(
    signals: Sequence[Signal],
    configured_order: Sequence[str],
    threshold: float,
    controls: IssueControls = NO_CONTROLS,
) -> Grouped:
    """Sections by market class; internal-monitoring signals must already be gone.

    `threshold` (editions.duplicate_threshold) only decides which similar pairs are
    suggested to the editor; it merges nothing.
    """
    unique, grouped = merge_stories(signals, controls)
    shown = {s.id: s for s in unique}
    story_of = {m: s.kept for s in grouped.stories.values() for m in s.members}
    # Suggestions name the stories as shown (a merged record's kept id), never an excluded one.
    seen: set[frozenset[str]] = set()
    refused, grouped.suggestions = grouped.suggestions, []
    for pair in refused:
        keep, drop = story_of.get(pair.keep, pair.keep), story_of.get(pair.drop, pair.drop)
        if keep != drop and keep in shown and drop in shown and frozenset({keep, drop}) not in seen:
            seen.add(frozenset({keep, drop}))
            grouped.suggestions.append(suggestion(shown[keep], shown[drop], pair.score, pair.why))
    for pair in similar_pairs(unique, threshold) if len(unique) > 1 else []:
        if frozenset({pair.keep, pair.drop}) not in seen:
            seen.add(frozenset({pair.keep, pair.drop}))
            grouped.suggestions.append(pair)
    if controls.lead is not None:
        lead = grouped.merged_into(controls.lead) or controls.lead
        grouped.lead = lead if any(s.id == lead for s in unique) else None

    def order(signal: Signal) -> tuple[bool, tuple[int, float, int, str]]:
        return signal.id != grouped.lead, signal_order(signal)

    by_class: dict[str, list[Signal]] = {}
    for signal in unique:
        by_class.setdefault(signal.market_class or OTHER, []).append(signal)
    grouped.sections = [
        Section(name, tuple(sorted(by_class[name], key=order)))
        for name in class_order(by_class, configured_order)
    ]
    return grouped
