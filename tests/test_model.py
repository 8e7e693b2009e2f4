from __future__ import annotations

import pytest
from pydantic import ValidationError

from digest.model import SIGNAL_FIELDS, Signal

EXPECTED_FIELDS = [
    "id",
    "title",
    "titles",
    "url",
    "source",
    "summary",
    "body",
    "see_also",
    "signal_type",
    "region",
    "market_class",
    "confidence",
    "tier",
    "tier_label",
    "internal",
    "evidence",
    "published",
    "operating_surface",
    "market_context",
    "watch",
    "operational_relevance",
    "time_horizon",
    "trend_context",
    "relationship_evidence",
    "failure_paths",
    "source_notes",
]


def test_every_field_is_always_present_in_json() -> None:
    record = Signal(id="x", title="T").to_json_dict()
    assert list(record) == EXPECTED_FIELDS
    assert tuple(EXPECTED_FIELDS) == SIGNAL_FIELDS


def test_score_sets_tier_label_and_internal() -> None:
    signal = Signal(id="x", title="T", confidence=0.05)
    assert (signal.tier, signal.tier_label, signal.internal) == ("D", "Internal monitoring", True)


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan")])
def test_score_outside_the_scale_is_rejected(score: float) -> None:
    with pytest.raises(ValidationError, match="confidence"):
        Signal(id="x", title="T", confidence=score)


def test_tier_contradicting_the_score_is_rejected() -> None:
    with pytest.raises(ValidationError, match="contradicts"):
        Signal(id="x", title="T", confidence=0.95, tier="D")


def test_tier_alone_gets_its_band_label() -> None:
    assert Signal(id="x", title="T", tier="B/C").tier_label == "Medium"


def test_unknown_language_is_rejected() -> None:
    with pytest.raises(ValidationError, match="summary"):
        Signal.model_validate({"id": "x", "title": "T", "summary": {"fr": ["Bonjour"]}})


def test_title_in_prefers_the_asked_language() -> None:
    signal = Signal(id="x", title="美英", titles={"zh": "美英", "en": "US and UK"})
    assert signal.title_in("en") == ("US and UK", "en")
    assert Signal(id="x", title="美英").title_in("en") == ("美英", "zh")


def test_evidence_line_gives_the_tier_when_there_is_no_score() -> None:
    signal = Signal(id="x", title="T", evidence="Direct public sources")
    assert (signal.tier, signal.tier_label, signal.confidence) == (
        "A",
        "High — direct sources",
        None,
    )


def test_internal_monitoring_evidence_marks_the_signal_internal() -> None:
    signal = Signal(id="x", title="T", evidence="Internal monitoring")
    assert (signal.tier, signal.internal) == ("D", True)


def test_other_evidence_leaves_the_signal_unrated() -> None:
    assert Signal(id="x", title="T", evidence="Trade press").tier is None
