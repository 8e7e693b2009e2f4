"""Near-duplicates: pairs of signals that read alike, offered to the editor, never applied.

Scraped sources repeat a story in other words, and so do formulaic feeds write distinct stories
in the same words: wording alone cannot tell the two apart, so a similar pair is a *suggestion*
(listed in the build output, `manifest.json` and the editor's issue page) that an editor merges
with one command. `editions.duplicate_threshold` is the score from which a pair is suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.process import cdist
from rapidfuzz.utils import default_process

from digest.model import Signal
from digest.text import has_cjk

MIN_TOKENS = 12
"""Below this many words, wording overlap proves nothing (two short leads share "the", "of"):
such texts are suggested only when they are identical."""
MIN_CJK_CHARS = 24
"""Chinese has no spaces between words: its length is counted in characters (about two per
word), so a Chinese lead is judged by as much text as an English one."""


@dataclass(frozen=True)
class Suggestion:
    """Two signals that may be one story: both sides as the editor needs to judge them."""

    keep: str
    drop: str
    score: float
    titles: tuple[str, str]
    sources: tuple[str, str]
    confidences: tuple[float | None, float | None]
    why: str = "similar wording"

    def as_dict(self) -> dict[str, Any]:
        return {
            "keep": self.keep,
            "drop": self.drop,
            "score": round(self.score, 1),
            "why": self.why,
            "titles": list(self.titles),
            "sources": list(self.sources),
            "confidences": list(self.confidences),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suggestion:
        return cls(
            keep=str(data["keep"]),
            drop=str(data["drop"]),
            score=float(data["score"]),
            titles=(str(data["titles"][0]), str(data["titles"][1])),
            sources=(str(data["sources"][0]), str(data["sources"][1])),
            confidences=(data["confidences"][0], data["confidences"][1]),
            why=str(data.get("why", "similar wording")),
        )


def source_of(signal: Signal) -> str:
    """Where a record came from, for the editor: its URL, else its source, else nothing."""
    return signal.url or signal.source or ""


def suggestion(a: Signal, b: Signal, score: float, why: str = "similar wording") -> Suggestion:
    """The pair with the better-supported record (higher confidence) as the one to keep."""
    if (b.confidence or -1.0) > (a.confidence or -1.0):
        a, b = b, a
    return Suggestion(
        keep=a.id,
        drop=b.id,
        score=score,
        titles=(a.title, b.title),
        sources=(source_of(a), source_of(b)),
        confidences=(a.confidence, b.confidence),
        why=why,
    )


def _story_text(signal: Signal, lang: str) -> str:
    """Title and lead in one language: what two wordings of the same story share most."""
    if lang == "any":  # the canonical title, for records that name no title language
        return "" if signal.titles else default_process(signal.title)
    title = signal.titles.get(lang, "")  # type: ignore[call-overload]
    lead = signal.summary.get(lang, [])  # type: ignore[call-overload]
    return default_process(" ".join([title, *lead])) if title or lead else ""


def _long_enough(text: str) -> bool:
    if has_cjk(text):
        return len(text.replace(" ", "")) >= MIN_CJK_CHARS
    return text.count(" ") + 1 >= MIN_TOKENS


def _comparable(a: str, b: str) -> bool:
    return (_long_enough(a) and _long_enough(b)) or a == b


def similar_pairs(signals: Sequence[Signal], threshold: float) -> list[Suggestion]:
    """Pairs of one market class whose title and lead, in a language both have, score at
    least `threshold` (rapidfuzz's token-set ratio, each class's pairs at once in C++), best
    first. Nothing is clustered: a pair is a pair, so A≈B and B≈C never suggest A with C."""
    by_class: dict[str, list[int]] = {}
    for i, signal in enumerate(signals):
        by_class.setdefault((signal.market_class or "").casefold(), []).append(i)
    best: dict[tuple[int, int], float] = {}
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
                    key = (members[a], members[b])
                    best[key] = max(best.get(key, 0.0), float(scores[a, b]))
    out = [suggestion(signals[i], signals[j], score) for (i, j), score in best.items()]
    return sorted(out, key=lambda s: (-s.score, s.keep, s.drop))
