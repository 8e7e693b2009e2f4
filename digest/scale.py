"""The publication's confidence scale: score bands, tiers and their labels.

One table drives the page parser (legend rows, evidence lines), the model's derived tier and the
grouping order, so the published scale is written down exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Tier = Literal["A", "A/B", "B/C", "C/D", "D"]
TIER_ORDER: tuple[Tier, ...] = ("A", "A/B", "B/C", "C/D", "D")
INTERNAL_BELOW = 0.10


@dataclass(frozen=True)
class Band:
    low: float
    tier: Tier
    label: str

    @property
    def internal(self) -> bool:
        return self.low < INTERNAL_BELOW


# Closed below, open above; the top band also holds 1.00.
BANDS: tuple[Band, ...] = (
    Band(0.90, "A", "High — direct sources"),
    Band(0.75, "A/B", "Strong"),
    Band(0.55, "B/C", "Medium"),
    Band(0.35, "C/D", "Weak–medium"),
    Band(0.10, "D", "Weak signal"),
    Band(0.00, "D", "Internal monitoring"),
)
DIRECT_SOURCES = BANDS[0]
INTERNAL_MONITORING = BANDS[-1]

_DASHES = re.compile(r"[\u2010-\u2015\u2212-]")


def band_for(score: float) -> Band:
    """The band a score falls in; the caller has already checked 0 <= score <= 1."""
    for band in BANDS:
        if score >= band.low:
            return band
    return INTERNAL_MONITORING


def normalize_label(text: str) -> str:
    """Labels compare without regard to case, spacing or which dash was typed."""
    return " ".join(_DASHES.sub("-", text).casefold().split())


_BY_LABEL = {normalize_label(b.label): b for b in BANDS}


def band_for_label(text: str) -> Band | None:
    """The band whose label is exactly `text` (dashes and case aside), or None."""
    return _BY_LABEL.get(normalize_label(text))


_DIRECT_EVIDENCE = normalize_label("Direct public sources")


def band_for_evidence(text: str) -> Band | None:
    """The band an evidence line implies when there is no score (the format's rule).

    `Direct public sources` is the legend's "direct sources" row; a line that is exactly one of
    the legend's labels is that row; anything else implies nothing (unrated).
    """
    if normalize_label(text) == _DIRECT_EVIDENCE:
        return DIRECT_SOURCES
    return band_for_label(text)


def tier_rank(tier: str | None) -> int:
    """Sort key: A first, unrated last."""
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)


METER_STEPS = len(TIER_ORDER)
"""Steps on the confidence meter: one per published tier, A filling all of them."""


def meter_filled(tier: str | None) -> int:
    """How many of the meter's steps a tier fills: A fills 5, D fills 1, unrated fills none.

    One visual scale for the email, its text part and the web pages, so a reader learns it once.
    """
    if tier not in TIER_ORDER:
        return 0
    return METER_STEPS - TIER_ORDER.index(tier)


def meter_text(tier: str | None) -> str:
    """The meter as text (`●●●○○ B/C`), for the text part and anywhere markup is unavailable."""
    filled = meter_filled(tier)
    dots = "●" * filled + "○" * (METER_STEPS - filled)
    return f"{dots} {tier}" if tier else dots
