"""Near-duplicate suggestions: pairs only, the better-supported record proposed as kept."""

from __future__ import annotations

import datetime as dt

from digest.issues.similar import similar_pairs
from digest.model import Signal

LEAD = "The regulator opened a review of the proposed merger between two analog chip makers."


def sig(id: str, title: str, confidence: float | None = None) -> Signal:
    return Signal(
        id=id,
        title=title,
        titles={"en": title},
        summary={"en": [LEAD]},
        market_class="X",
        confidence=confidence,
        published=dt.date(2026, 11, 17),
    )


def test_a_similar_pair_proposes_keeping_the_higher_confidence() -> None:
    low = sig("low", "Regulator reviews analog chip merger", 0.4)
    high = sig("high", "Regulator opens review of analog chip merger", 0.9)
    (pair,) = similar_pairs([low, high], 65)
    assert (pair.keep, pair.drop, pair.confidences) == ("high", "low", (0.9, 0.4))
