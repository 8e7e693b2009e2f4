"""Item forms as a subscriber meets them: full, compact "On the radar", Open's lock lines, the
one invitation after the third item, and Leadership Alliance's one "Member analysis" block."""

from __future__ import annotations

from typing import Any

from digest.issues.editions import Issue, build_issue
from digest.model import MEMBER_FIELDS


def _radar(tree: Any) -> list[str]:
    return [p.css_first("a").text() for p in tree.css("p.rd")]


def _issue(h: Any, **settings: Any) -> Issue:
    signals = [
        h.with_canaries(h.make_signal("strong", titles={"en": "Strong story"}, confidence=0.92)),
        h.make_signal("medium", titles={"en": "Medium story"}, confidence=0.6),
        h.make_signal("weakish", titles={"en": "Weak-medium story"}, confidence=0.4),
        h.make_signal("weak", titles={"en": "Weak story"}, confidence=0.2),
        h.make_signal("unrated", titles={"en": "Unrated story"}),
    ]
    return build_issue(signals, h.settings_for(**settings), h.week)


def test_low_confidence_items_are_compact_under_on_the_radar(h: Any) -> None:
    edition = _issue(h).edition("strategy_circle", "en")
    tree = h.parse(edition)
    assert _radar(tree) == ["Weak-medium story", "Weak story", "Unrated story"]
    assert [n.text() for n in tree.css("h3")] == ["Strong story", "Medium story"]
    assert tree.css_first("h2#radar").text().startswith("On the radar")
    # compact: no summary, no member block
    assert "Public summary of weak." not in h.visible_text(edition)


def test_compact_items_are_one_line_with_the_meter_and_a_link(h: Any) -> None:
    tree = h.parse(_issue(h).edition("open", "en"))
    (weak,) = [p for p in tree.css("p.rd") if "Weak story" in p.text()]
    assert weak.css_first('span[role="img"]').text() == "●○○○○"
    assert weak.css_first("a").attributes["href"] == f"{h.base}/signals/weak"


def test_the_compact_tiers_are_a_setting(h: Any) -> None:
    tiers = {"open": {"compact_confidence_tiers": []}}
    tree = h.parse(_issue(h, tiers=tiers).edition("open", "en"))
    assert _radar(tree) == [] and len(tree.css("h3")) == 5 and tree.css_first("#radar") is None


def test_the_lead_gets_the_full_form_even_when_weak(h: Any) -> None:
    issue = build_issue([h.make_signal("only", confidence=0.2)], h.settings_for(), h.week)
    tree = h.parse(issue.edition("open", "en"))
    assert [n.text() for n in tree.css("h3")] == ["Headline only"] and _radar(tree) == []


def test_open_items_say_what_each_circle_adds_without_its_text(h: Any) -> None:
    edition = _issue(h).edition("open", "en")
    tree = h.parse(edition)
    (strong,) = [d for d in tree.css("div.it") if "Strong story" in d.text()]
    lock = strong.css("p")[-1]
    assert " ".join(lock.text().split()) == (
        "Strategy Circle: trend context · Leadership Alliance: relationship evidence, "
        "failure paths and source notes →"
    )
    hrefs = [a.attributes["href"] for a in lock.css("a")]
    assert hrefs == [f"{h.base}/join/strategy_circle", f"{h.base}/join/leadership_alliance"]
    assert "CANARY" not in edition.html


def test_items_without_member_material_have_no_lock_line(h: Any) -> None:
    tree = h.parse(_issue(h).edition("open", "en"))
    (medium,) = [d for d in tree.css("div.it") if "Medium story" in d.text()]
    assert "/join/" not in medium.html


def test_lock_lines_appear_in_open_only(h: Any) -> None:
    issue = _issue(h)
    for tier in ("strategy_circle", "leadership_alliance"):
        for locale in ("en", "zh"):
            tree = h.parse(issue.edition(tier, locale))
            for item in tree.css("div.it"):
                assert "/join/" not in item.html, (tier, locale)


def test_the_lock_line_names_only_the_fields_that_are_filled(h: Any) -> None:
    signal = h.make_signal("s", confidence=0.9, source_notes="Only source notes here.")
    tree = h.parse(build_issue([signal], h.settings_for(), h.week).edition("open", "en"))
    (item,) = tree.css("div.it")
    assert " ".join(item.css("p")[-1].text().split()) == "Leadership Alliance: source notes →"


def test_one_invitation_after_the_third_item_in_open(h: Any) -> None:
    signals = [h.make_signal(f"s{i}", confidence=0.9) for i in range(5)]
    edition = build_issue(signals, h.settings_for(), h.week).edition("open", "en")
    html = edition.html
    joins = html.count(f'href="{h.base}/join/strategy_circle"')
    assert joins == 1
    heads = [html.index(f"Headline s{i}</a></h3>") for i in range(5)]
    invite = html.index(f'href="{h.base}/join/strategy_circle"')
    assert heads[2] < invite < heads[3]


def test_the_circle_is_invited_once_at_the_end(h: Any) -> None:
    signals = [h.make_signal(f"s{i}", confidence=0.9) for i in range(5)]
    html = build_issue(signals, h.settings_for(), h.week).edition("strategy_circle", "en").html
    assert html.count(f'href="{h.base}/join/leadership_alliance"') == 1
    assert html.index("Headline s4</a></h3>") < html.index("/join/leadership_alliance")


def test_alliance_member_material_is_one_block_per_item(h: Any) -> None:
    edition = _issue(h).edition("leadership_alliance", "en")
    tree = h.parse(edition)
    (strong,) = [d for d in tree.css("div.it") if "Strong story" in d.text()]
    (block,) = strong.css("div.bx")
    text = block.text()
    assert text.startswith("Member analysis")
    for field in MEMBER_FIELDS:
        assert h.canary(field, "strong") in text
    for heading in ("Trend context.", "Relationship evidence.", "Failure paths.", "Source notes."):
        assert heading in text


def _item_links(tree: Any) -> list[str]:
    """Where each item's headline links: full items' h3 links and compact items' links."""
    return [str(a.attributes["href"]) for a in tree.css("div.it h3 a, p.rd a")]


def test_item_markup_shared_across_tiers_keeps_each_tier_s_links(h: Any) -> None:
    # One build renders each item once and reuses the markup: Open's public links must never
    # reach a paying reader, nor a paying reader's `%%view_url_html%%#…` link an Open one.
    issue = _issue(h)  # every signal without a URL of its own, full and compact forms
    for locale in ("en", "zh"):
        for tier in ("open", "strategy_circle", "leadership_alliance"):
            links = _item_links(h.parse(issue.edition(tier, locale)))
            assert len(links) == 5
            if tier == "open":
                assert all(link.startswith(f"{h.base}/signals/") for link in links)
            else:
                assert all(link.startswith("%%view_url_html%%#") for link in links)


def _meta_line(h: Any, edition: Any, title: str) -> str:
    (item,) = [d for d in h.parse(edition).css("div.it") if title in d.css_first("h3").text()]
    return str(item.css_first("p.mut").text())


def _rated(h: Any, id: str, **fields: Any) -> Any:
    return h.make_signal(
        id, titles={"en": f"Story {id}", "zh": f"新闻{id}"}, confidence=0.92, **fields
    )


def test_a_full_item_shows_relevance_and_horizon_with_their_labels(h: Any) -> None:
    signal = _rated(h, "rel", operational_relevance="High", time_horizon="3–6 months")
    edition = build_issue([signal], h.settings_for(), h.week).edition("open", "en")
    assert "Relevance: High · Horizon: 3–6 months" in _meta_line(h, edition, "Story rel")


def test_a_chinese_full_item_shows_them_with_translated_labels(h: Any) -> None:
    signal = _rated(h, "rel", operational_relevance="高", time_horizon="3–6个月")
    edition = build_issue([signal], h.settings_for(), h.week).edition("open", "zh")
    assert "业务相关性：高 · 时间范围：3–6个月" in _meta_line(h, edition, "新闻rel")


def test_an_item_without_them_shows_neither_label(h: Any) -> None:
    issue = build_issue([_rated(h, "bare")], h.settings_for(), h.week)
    assert "Relevance" not in h.visible_text(issue.edition("open", "en"))
    assert "Horizon" not in h.visible_text(issue.edition("open", "en"))
    assert "业务相关性" not in h.visible_text(issue.edition("open", "zh"))
    assert "时间范围" not in h.visible_text(issue.edition("open", "zh"))


def test_radar_items_leave_relevance_and_horizon_to_the_web(h: Any) -> None:
    lead = _rated(h, "lead")
    weak = h.make_signal(
        "weak", confidence=0.2, operational_relevance="High", time_horizon="3–6 months"
    )
    edition = build_issue([lead, weak], h.settings_for(), h.week).edition("open", "en")
    assert "Headline weak" in h.visible_text(edition)
    assert "Relevance" not in h.visible_text(edition)
