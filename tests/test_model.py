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


def test_title_in_takes_title_when_titles_hold_only_the_translation() -> None:
    signal = Signal(id="x", title="EU tightens screening", titles={"zh": "欧盟收紧审查"})
    assert signal.title_in("en") == ("EU tightens screening", "en")
    assert signal.title_in("zh") == ("欧盟收紧审查", "zh")


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


HUGE = "x" * 1_000_001
MANY = ["x"] * 10_001
TEXT_FIELDS = [
    "id", "title", "url", "source", "signal_type", "region", "market_class", "tier_label",
    "evidence", "operational_relevance", "time_horizon", "trend_context",
    "relationship_evidence", "failure_paths", "source_notes",
]  # fmt: skip
LIST_FIELDS = ["see_also", "operating_surface", "market_context", "watch"]
OVERSIZED = [
    *((name, HUGE) for name in TEXT_FIELDS),
    ("titles", {"en": HUGE}),
    *((name, {"en": [HUGE]}) for name in ("summary", "body")),
    *((name, {"en": MANY}) for name in ("summary", "body")),
    *((name, [HUGE]) for name in LIST_FIELDS),
    *((name, MANY) for name in LIST_FIELDS),
]


def test_the_cap_tests_cover_every_text_and_list_field() -> None:
    covered = {name for name, _ in OVERSIZED}
    uncapped = {"confidence", "tier", "internal", "published"}  # numbers, enums, bool, date
    assert covered | uncapped == set(SIGNAL_FIELDS)


@pytest.mark.parametrize(("field", "value"), OVERSIZED)
def test_every_text_and_list_field_has_a_size_cap(field: str, value: object) -> None:
    """Review finding: a 200 MB body was stored and the build took 28 s and 2.4 GB."""
    fields: dict[str, object] = {"id": "x", "title": "T", field: value}
    with pytest.raises(ValidationError) as info:
        Signal.model_validate(fields)
    (error,) = info.value.errors()
    assert error["loc"][0] == field and error["type"] in ("string_too_long", "too_long")


def test_generous_values_are_within_the_caps() -> None:
    paragraph = "word " * 1_900  # ~9,500 characters: a long paragraph, not a dump
    Signal(id="x" * 200, title="T" * 1_000, body={"en": [paragraph] * 100}, watch=["w"] * 100)


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "titles", "summary", "see_also"])
def test_a_nul_character_is_refused_in_every_text_field(field: str) -> None:
    shaped = {"titles": {"en": "a\x00"}, "summary": {"en": ["a\x00"]}, "see_also": ["a\x00"]}
    fields: dict[str, object] = {"id": "x", "title": "T", field: shaped.get(field, "a\x00")}
    with pytest.raises(ValidationError, match="NUL character"):
        Signal.model_validate(fields)
