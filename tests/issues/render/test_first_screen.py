"""The first screen, read as a subscriber reads it: the editor's note, "This week" and the row of
sections; then items whose headlines are their links and whose meta fits one short line."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from digest.issues.editions import Issue, build_issue
from digest.issues.group import group
from digest.issues.policy import policies
from digest.issues.render import placeholders as ph
from digest.issues.render.engine import renderer_for, template_dirs
from digest.issues.render.view import ItemCache, build_view


def _week(h: Any, n: int) -> Issue:
    scores = [0.95, 0.8, 0.6, 0.4, 0.2, None]
    signals = [
        h.with_canaries(
            h.make_signal(
                f"s{i}",
                titles={"en": f"Story number {i}", "zh": f"第{i}条新闻"},
                confidence=scores[i % len(scores)],
                market_class=("Policy Track", "Supply Chain", "Case File")[i % 3],
                region="Netherlands",
            )
        )
        for i in range(n)
    ]
    return build_issue(signals, h.settings_for(), h.week)


def _takeaways(tree: Any) -> list[Any]:
    (heading,) = [n for n in tree.css("h2") if n.text() in ("This week", "本周要点")]
    ul = heading.next
    while ul is not None and ul.tag != "ul":
        ul = ul.next
    assert ul is not None
    return ul.css("li a")


def test_this_week_lists_five_takeaways_linking_to_their_items(h: Any) -> None:
    edition = _week(h, 12).edition("strategy_circle", "en")
    tree = h.parse(edition)
    links = _takeaways(tree)
    assert len(links) == 5
    for link in links:
        target = tree.css_first(f'[id="{link.attributes["href"][1:]}"]')
        assert target is not None and link.text() in target.text()


def test_the_first_takeaway_is_the_lead_the_strongest_signal(h: Any) -> None:
    tree = h.parse(_week(h, 12).edition("open", "zh"))
    first = _takeaways(tree)[0]
    assert first.text() == "第0条新闻"  # the first A-rated signal, in the reader's language


def test_a_week_with_two_signals_has_two_takeaways(h: Any) -> None:
    tree = h.parse(_week(h, 2).edition("open", "en"))
    assert [a.text() for a in _takeaways(tree)] == ["Story number 0", "Story number 1"]


def test_the_sections_row_links_each_section_with_its_count(h: Any) -> None:
    tree = h.parse(_week(h, 12).edition("leadership_alliance", "en"))
    row = {a.text().replace("\xa0", " "): a.attributes["href"] for a in tree.css('a[href^="#c-"]')}
    assert row == {
        "Policy Track 4": "#c-policy-track",
        "Supply Chain 4": "#c-supply-chain",
        "Case File 4": "#c-case-file",
    }
    for href in row.values():
        assert tree.css_first(f"h2{href}") is not None


def test_the_editors_note_comes_first(h: Any) -> None:
    issue = _week(h, 3)
    settings = h.settings_for()
    policy = policies(settings)["open"]
    note = Markup("<p>EDITOR-NOTE: a quiet week.</p>")
    view = build_view(issue.grouped.sections, policy, "en", settings, h.week, note_html=note)
    renderer = renderer_for(template_dirs(settings))
    html = renderer.html(view, renderer.mjml(view, {}))
    body = html[html.index("<body") :]
    assert 0 < body.index("EDITOR-NOTE") < body.index("This week")


def test_no_note_no_empty_box(h: Any) -> None:
    tree = h.parse(_week(h, 3).edition("open", "en"))
    assert not [d for d in tree.css("div.bx") if not d.text().strip()]


def _px(node: Any) -> float:
    match = re.search(r"font(?:-size)?:\D*(\d+)px", node.attributes.get("style") or "")
    assert match, node.html
    return float(match.group(1))


def test_section_headings_outrank_item_headlines(h: Any) -> None:
    tree = h.parse(_week(h, 6).edition("open", "en"))
    sections = [n for n in tree.css("h2.sh")]
    headlines = tree.css("h3")
    assert sections and headlines
    assert min(map(_px, sections)) > max(map(_px, headlines))


def test_each_headline_is_the_link_and_no_read_the_signal_lines(h: Any) -> None:
    edition = _week(h, 6).edition("strategy_circle", "en")
    tree = h.parse(edition)
    for headline in tree.css("h3"):
        assert headline.css_first("a") is not None
    assert "Read the signal" not in h.visible_text(edition)


def test_the_meta_line_is_confidence_region_and_date_without_scores(h: Any) -> None:
    edition = _week(h, 6).edition("open", "en")
    tree = h.parse(edition)
    (item,) = [d for d in tree.css("div.it") if "Story number 1" in d.text()]
    meta = item.css_first("p").text().replace("\xa0", " ")
    assert meta == "●●●●○ Strong · Netherlands · 18 Nov"
    assert not re.search(r"\b[01]\.\d\d\b", h.visible_text(edition))


def test_the_meter_is_one_scale_filled_to_hollow(h: Any) -> None:
    tree = h.parse(_week(h, 6).edition("leadership_alliance", "en"))
    meters = [n.text() for n in tree.css('span[role="img"]')]
    for dots in ("●●●●●", "●●●●○", "●●●○○", "●●○○○", "●○○○○", "○○○○○"):
        assert dots in meters


def test_the_footer_legend_links_to_the_published_scale(h: Any) -> None:
    edition = _week(h, 3).edition("open", "en")
    tree = h.parse(edition)
    assert tree.css_first(f'a[href="{h.base}/scale"]') is not None
    (legend,) = [p.text() for p in tree.css("p") if p.text().startswith("Confidence:")]
    assert "●●●●● High — direct sources · ●●●●○ Strong" in legend
    assert legend.count("●") + legend.count("○") == 5 * 5


def test_the_footer_offers_view_in_browser_and_subscribe(h: Any) -> None:
    tree = h.parse(_week(h, 3).edition("open", "zh"))
    texts = {a.text(): a.attributes["href"] for a in tree.css("a")}
    # each reader's own signed view, per recipient
    assert texts["在浏览器中查看"] == ph.VIEW_URL_HTML
    assert texts["订阅"] == f"{h.base}/subscribe?lang=zh"


def test_items_are_rendered_once_per_signal_language_and_member_fields(h: Any) -> None:
    issue = _week(h, 6)
    settings = h.settings_for()
    cache = ItemCache()
    renderer = renderer_for(template_dirs(settings))
    grouped = group(
        [s for sec in issue.grouped.sections for s in sec.signals],
        settings.editions.class_order,
        settings.editions.duplicate_threshold,
    )
    for policy in policies(settings).values():
        for locale in ("en", "zh"):
            view = build_view(grouped.sections, policy, locale, settings, h.week, cache=cache)
            renderer.mjml(view, cache.html)
    full = [k for k in cache.html if k.split("|")[1].startswith("f")]
    # 3 signals in full form (A, A/B, B/C; C/D, D and unrated are compact) × 2 languages,
    # rendered once per link kind (the public page's, or a paying reader's own view) for all
    # three tiers; and each member part once per member-field set.
    assert {(k.split("|")[0], k.split("|")[2]) for k in full} == {
        (locale, k.split("|")[2]) for k in full for locale in ("en", "zh")
    }
    assert len({(k.split("|")[0], k.split("|")[2]) for k in full}) == 3 * 2
    assert len(full) <= 3 * 2 * 2
    members = [k for k in cache.html if k.startswith("m|")]
    assert len(members) == len(set(members)) == 3 * 2 * 3  # Open's locks, SC's, LA's
