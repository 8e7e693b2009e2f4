from __future__ import annotations

import datetime as dt
from typing import Any

from digest.issues.controls import IssueControls
from digest.issues.group import OTHER, Grouped, class_order, group
from digest.model import Signal


def sig(id: str, **fields: Any) -> Signal:
    fields.setdefault("title", id)
    fields.setdefault("published", dt.date(2026, 11, 17))
    return Signal(id=id, **fields)


def merged(signals: list[Signal], threshold: float = 65, **controls: Any) -> Grouped:
    return group(signals, [], threshold, IssueControls(**controls))


def kept_ids(grouped: Grouped) -> list[str]:
    return [s.id for section in grouped.sections for s in section.signals]


def suggested(grouped: Grouped) -> set[tuple[str, str]]:
    return {(s.keep, s.drop) for s in grouped.suggestions}


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


def test_same_story_in_other_words_is_suggested_not_merged() -> None:
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
    grouped = merged([poor, rich])
    assert sorted(kept_ids(grouped)) == ["editor", "page"] and grouped.duplicates == {}
    assert {frozenset(p) for p in suggested(grouped)} == {frozenset({"page", "editor"})}


def test_different_stories_in_one_class_stay_apart() -> None:
    a = sig("a", market_class="X", titles={"en": "Court fines carrier over emergency call outage"})
    b = sig(
        "b", market_class="X", titles={"en": "Regulator clears analog chip merger with conditions"}
    )
    grouped = merged([a, b])
    assert len(kept_ids(grouped)) == 2 and grouped.duplicates == {}
    assert grouped.suggestions == []


def test_identical_titles_in_different_classes_are_not_merged() -> None:
    a = sig("a", market_class="X", titles={"en": "Quarterly outlook"})
    b = sig("b", market_class="Y", titles={"en": "Quarterly outlook"})
    assert len(kept_ids(merged([a, b]))) == 2


def test_titles_in_different_languages_are_not_compared() -> None:
    a = sig("a", market_class="X", titles={"en": "Gallium export licence granted"})
    b = sig("b", market_class="X", titles={"zh": "镓出口许可获批"})
    assert len(kept_ids(merged([a, b]))) == 2


def test_the_same_chinese_story_in_other_words_is_suggested_not_merged() -> None:
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
    grouped = merged([scraped, edited])
    assert sorted(kept_ids(grouped)) == ["edited", "scraped"] and grouped.duplicates == {}
    assert {frozenset(p) for p in suggested(grouped)} == {frozenset({"scraped", "edited"})}


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
    grouped = merged([a, b])
    assert len(kept_ids(grouped)) == 2 and grouped.suggestions == []


def test_the_same_url_with_tracking_parameters_merges_keeping_the_higher_confidence() -> None:
    low = sig(
        "feed", market_class="X", url="https://News.example.com/a/?utm_source=rss", confidence=0.4
    )
    high = sig("page", market_class="X", url="https://news.example.com:443/a#top", confidence=0.9)
    grouped = merged([low, high])
    assert kept_ids(grouped) == ["page"] and grouped.duplicates == {"feed": "page"}


def test_a_merged_story_records_every_source_and_the_confidences_that_disagree() -> None:
    low = sig("feed", url="https://news.example.com/a?fbclid=1", source="feed.xml", confidence=0.4)
    high = sig("page", url="https://news.example.com/a", confidence=0.9)
    story = merged([low, high]).stories["page"]
    assert story.members == ("page", "feed") and story.confidences == (0.9, 0.4)
    assert story.sources == ("https://news.example.com/a", "https://news.example.com/a?fbclid=1")
    assert story.disagreement


def test_member_only_text_is_kept_from_whichever_record_has_it() -> None:
    rated = sig("page", url="https://n.example/a", confidence=0.9)
    deep = sig("md", url="https://n.example/a/", confidence=0.5, trend_context="Only here.")
    (kept,) = merged([rated, deep]).sections[0].signals
    assert (kept.id, kept.confidence, kept.trend_context) == ("page", 0.9, "Only here.")


def test_the_same_text_scraped_twice_merges() -> None:
    a = sig(
        "a", market_class="X", title="Court fines carrier over outage", summary={"en": ["Lead."]}
    )
    b = sig(
        "b", market_class="X", title="court fines  carrier, over outage!", summary={"en": ["lead"]}
    )
    grouped = merged([a, b])
    assert len(kept_ids(grouped)) == 1 and len(grouped.duplicates) == 1


def test_the_same_text_under_two_urls_is_suggested_never_merged() -> None:
    a = sig("a", title="Quarterly outlook", url="https://one.example/q")
    b = sig("b", title="Quarterly outlook", url="https://two.example/q")
    grouped = merged([a, b])
    assert sorted(kept_ids(grouped)) == ["a", "b"] and grouped.duplicates == {}
    assert [s.why for s in grouped.suggestions] == ["same text, other URL"]


def test_a_merged_group_never_holds_two_canonical_urls_through_a_chain() -> None:
    one = sig("one", title="Same words", url="https://one.example/x", confidence=0.9)
    two = sig("two", title="Same words", url="https://two.example/x")
    again = sig("again", title="Other words", url="https://one.example/x?utm_medium=m")
    grouped = merged([one, two, again])
    assert grouped.duplicates == {"again": "one"}
    assert "two" in kept_ids(grouped)


def test_formulaic_titles_of_distinct_signals_are_never_merged() -> None:
    signals = [
        sig(
            f"h{i:02d}",
            market_class="X",
            title=f"Held-out signal {i:02d}: consortium moves on spectrum",
        )
        for i in range(10)
    ]
    assert len(kept_ids(merged(signals))) == 10


def test_excluded_signals_are_left_out() -> None:
    grouped = merged([sig("a"), sig("b")], excluded=frozenset({"b"}))
    assert kept_ids(grouped) == ["a"] and grouped.excluded == ["b"]


def test_the_lead_goes_first_in_its_section() -> None:
    signals = [sig("top", confidence=0.95), sig("pick", confidence=0.3)]
    grouped = merged(signals, lead="pick")
    assert kept_ids(grouped) == ["pick", "top"] and grouped.lead == "pick"


def test_a_manual_merge_joins_two_stories_into_the_kept_one() -> None:
    grouped = merged(
        [sig("keep", url="https://a.example"), sig("drop", url="https://b.example")],
        merges={"drop": "keep"},
    )
    assert kept_ids(grouped) == ["keep"] and grouped.manual == {"drop": "keep"}
    assert grouped.duplicates == {}


def test_unmerged_ids_are_never_merged_automatically() -> None:
    a = sig("a", url="https://n.example/a")
    b = sig("b", url="https://n.example/a")
    assert sorted(kept_ids(merged([a, b], unmerged=frozenset({"b"})))) == ["a", "b"]


def test_a_suggestion_names_the_kept_story_not_a_merged_record() -> None:
    lead = ["The regulator opened a review of the proposed merger between two analog chip makers."]
    kept = sig(
        "kept",
        market_class="X",
        url="https://n.example/a",
        confidence=0.9,
        titles={"en": "Regulator reviews analog chip merger"},
        summary={"en": lead},
    )
    copy = sig(
        "copy",
        market_class="X",
        url="https://n.example/a/",
        confidence=0.2,
        titles={"en": "Regulator reviews analog chip merger"},
        summary={"en": lead},
    )
    other = sig(
        "other",
        market_class="X",
        url="https://m.example/b",
        titles={"en": "Regulator opens review of analog chip merger"},
        summary={"en": lead},
    )
    grouped = merged([kept, copy, other])
    assert {frozenset(p) for p in suggested(grouped)} == {frozenset({"kept", "other"})}


def test_records_of_one_id_are_one_signal() -> None:
    grouped = merged([sig("a", region="EU"), sig("a", watch=["Appeal"])])
    (kept,) = grouped.sections[0].signals
    assert (kept.region, kept.watch, grouped.duplicates) == ("EU", ["Appeal"], {})
