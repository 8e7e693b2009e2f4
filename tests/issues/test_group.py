from __future__ import annotations

import datetime as dt
from typing import Any

from digest.issues.group import OTHER, class_order, collapse_duplicates, group
from digest.model import Signal


def sig(id: str, **fields: Any) -> Signal:
    fields.setdefault("title", id)
    fields.setdefault("published", dt.date(2026, 11, 17))
    return Signal(id=id, **fields)


def test_configured_classes_first_then_others_alphabetically_then_unclassified() -> None:
    order = class_order(
        ["Zeta", "Policy Track", OTHER, "alpha", "Case File"], ["Case File", "Policy Track"]
    )
    assert order == ["Case File", "Policy Track", "alpha", "Zeta", OTHER]


def test_sections_follow_the_class_order() -> None:
    signals = [sig("a", market_class="B"), sig("b", market_class="A"), sig("c")]
    grouped = group(signals, ["B"], 90)
    assert [s.market_class for s in grouped.sections] == ["B", "A", OTHER]


def test_inside_a_section_tier_then_score_then_newest() -> None:
    signals = [
        sig("unrated", market_class="X"),
        sig("d", market_class="X", confidence=0.2),
        sig("a-low", market_class="X", confidence=0.91),
        sig("a-high", market_class="X", confidence=0.99),
        sig("ab-old", market_class="X", confidence=0.8, published=dt.date(2026, 11, 16)),
        sig("ab-new", market_class="X", confidence=0.8, published=dt.date(2026, 11, 18)),
    ]
    (section,) = group(signals, [], 100).sections
    assert [s.id for s in section.signals] == [
        "a-high",
        "a-low",
        "ab-new",
        "ab-old",
        "d",
        "unrated",
    ]


def test_same_story_in_other_words_collapses_into_the_richer_record() -> None:
    poor = sig(
        "page",
        market_class="Supply Chain",
        titles={"en": "Netherlands extends export licensing to DUV immersion servicing"},
        summary={
            "en": [
                "The Dutch government extended export-licence requirements to servicing, spare "
                "parts and software updates for installed DUV immersion lithography tools."
            ]
        },
    )
    rich = sig(
        "editor",
        market_class="Supply Chain",
        titles={
            "en": "Dutch government requires licences to service installed DUV lithography tools"
        },
        summary={
            "en": [
                "The Netherlands now requires an export licence before servicing, supplying "
                "spare parts for or updating software on installed immersion DUV scanners."
            ]
        },
        trend_context="Member-only depth makes this the richer record.",
        watch=["Licence approvals"],
    )
    kept, dropped = collapse_duplicates([poor, rich], 65)
    assert [s.id for s in kept] == ["editor"]
    assert dropped == {"page": "editor"}


def test_different_stories_in_one_class_stay_apart() -> None:
    a = sig("a", market_class="X", titles={"en": "Court fines carrier over emergency call outage"})
    b = sig(
        "b", market_class="X", titles={"en": "Regulator clears analog chip merger with conditions"}
    )
    kept, dropped = collapse_duplicates([a, b], 65)
    assert len(kept) == 2 and dropped == {}


def test_identical_titles_in_different_classes_are_not_merged() -> None:
    a = sig("a", market_class="X", titles={"en": "Quarterly outlook"})
    b = sig("b", market_class="Y", titles={"en": "Quarterly outlook"})
    assert len(collapse_duplicates([a, b], 65)[0]) == 2


def test_titles_in_different_languages_are_not_compared() -> None:
    a = sig("a", market_class="X", titles={"en": "Gallium export licence granted"})
    b = sig("b", market_class="X", titles={"zh": "镓出口许可获批"})
    assert len(collapse_duplicates([a, b], 65)[0]) == 2


def test_the_same_chinese_story_in_other_words_collapses() -> None:
    scraped = sig(
        "scraped",
        market_class="Case File",
        titles={"zh": "美英签署AI安全测试备忘录"},
        summary={"zh": ["美国与英国签署了一份备忘录，通过各自的国家AI安全研究所协调AI安全测试。"]},
    )
    edited = sig(
        "edited",
        market_class="Case File",
        titles={"zh": "美英签署人工智能安全测试备忘录"},
        summary={"zh": ["美国和英国签署备忘录，通过两国的国家AI安全研究所协调AI安全测试工作。"]},
        trend_context="richer",
    )
    kept, dropped = collapse_duplicates([scraped, edited], 65)
    assert [s.id for s in kept] == ["edited"] and dropped == {"scraped": "edited"}


def test_different_chinese_stories_stay_apart() -> None:
    a = sig(
        "a",
        market_class="Case File",
        titles={"zh": "美英签署AI安全测试备忘录"},
        summary={"zh": ["美国与英国签署了一份备忘录，通过各自的国家AI安全研究所协调AI安全测试。"]},
    )
    b = sig(
        "b",
        market_class="Case File",
        titles={"zh": "市场监管总局附条件批准模拟芯片并购案"},
        summary={"zh": ["国家市场监督管理总局附加限制性条件批准了一宗模拟芯片企业的并购交易。"]},
    )
    assert len(collapse_duplicates([a, b], 65)[0]) == 2
