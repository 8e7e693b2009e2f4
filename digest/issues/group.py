"""Group: an issue's signals into sections by market class, ordered by confidence tier.

Scraped sources repeat the same story in different words, so near-duplicates (titles that
rapidfuzz scores as the same story, in a language both share) collapse into the richer record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from rapidfuzz.process import cdist
from rapidfuzz.utils import default_process

from digest.model import SIGNAL_FIELDS, Signal
from digest.scale import tier_rank
from digest.signals.merging import is_filled
from digest.text import has_cjk

OTHER = ""
"""Section key for signals with no market class: always last."""


@dataclass(frozen=True)
class Section:
    """One market class and its signals, best first."""

    market_class: str
    signals: tuple[Signal, ...]


@dataclass
class Grouped:
    sections: list[Section]
    duplicates: dict[str, str] = field(default_factory=dict)  # dropped id -> kept id


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


def _story_text(signal: Signal, lang: str) -> str:
    """Title and lead in one language: what two wordings of the same story share most."""
    if lang == "any":  # the canonical title, for records that name no title language
        return "" if signal.titles else default_process(signal.title)
    title = signal.titles.get(lang, "")  # type: ignore[call-overload]
    lead = signal.summary.get(lang, [])  # type: ignore[call-overload]
    return default_process(" ".join([title, *lead])) if title or lead else ""


MIN_TOKENS = 12
"""Below this many words, wording overlap proves nothing (two short leads share "the", "of"):
such texts count as one story only when they are identical."""
MIN_CJK_CHARS = 24
"""Chinese has no spaces between words: its length is counted in characters (about two per
word), so a Chinese lead is judged by as much text as an English one."""


def _long_enough(text: str) -> bool:
    if has_cjk(text):
        return len(text.replace(" ", "")) >= MIN_CJK_CHARS
    return text.count(" ") + 1 >= MIN_TOKENS


def _comparable(a: str, b: str) -> bool:
    return (_long_enough(a) and _long_enough(b)) or a == b


def _similar_pairs(signals: Sequence[Signal], threshold: float) -> set[tuple[int, int]]:
    """Index pairs (i < j) of one story: same market class, similar title and lead in a
    language both have (rapidfuzz's token-set ratio, each class's pairs at once in C++)."""
    by_class: dict[str, list[int]] = {}
    for i, signal in enumerate(signals):
        by_class.setdefault((signal.market_class or OTHER).casefold(), []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in by_class.values():
        if len(members) < 2:
            continue
        for lang in ("en", "zh", "any"):
            texts = [_story_text(signals[i], lang) for i in members]
            if sum(1 for t in texts if t) < 2:
                continue
            scores = cdist(texts, texts, scorer=fuzz.token_set_ratio, score_cutoff=threshold)
            for a, b in zip(*scores.nonzero(), strict=True):
                if a < b and texts[a] and texts[b] and _comparable(texts[a], texts[b]):
                    pairs.add((members[a], members[b]))
    return pairs


def collapse_duplicates(
    signals: Sequence[Signal], threshold: float
) -> tuple[list[Signal], dict[str, str]]:
    """Keep one signal per story: the richest of each cluster, in the input's order."""
    pairs = _similar_pairs(signals, threshold) if len(signals) > 1 else set()
    if not pairs:
        return list(signals), {}
    parent = list(range(len(signals)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    clusters: dict[int, list[int]] = {}
    for i in range(len(signals)):
        clusters.setdefault(root(i), []).append(i)
    keep: set[int] = set()
    dropped: dict[str, str] = {}
    for members in clusters.values():
        best = max(members, key=lambda i: richness(signals[i]))
        keep.add(best)
        dropped.update({signals[i].id: signals[best].id for i in members if i != best})
    return [s for i, s in enumerate(signals) if i in keep], dropped


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


def group(signals: Sequence[Signal], configured_order: Sequence[str], threshold: float) -> Grouped:
    """Sections by market class; internal-monitoring signals must already be gone."""
    unique, dropped = collapse_duplicates(signals, threshold)
    by_class: dict[str, list[Signal]] = {}
    for signal in unique:
        by_class.setdefault(signal.market_class or OTHER, []).append(signal)
    sections = [
        Section(name, tuple(sorted(by_class[name], key=signal_order)))
        for name in class_order(by_class, configured_order)
    ]
    return Grouped(sections, dropped)
