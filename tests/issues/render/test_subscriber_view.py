"""What each tier's reader sees, read from the parsed HTML and the text part."""

from __future__ import annotations

from typing import Any

from digest.issues.editions import Issue, build_issue
from digest.issues.render import placeholders as ph
from digest.issues.render.placeholders import Recipient, personalize
from digest.model import MEMBERSHIP_TIERS


def test_open_shows_titles_and_public_summary(issue: Issue, h: Any) -> None:
    text = h.visible_text(issue.edition("open", "en"))
    assert "Headline alpha" in text and "Public summary of alpha." in text


def test_open_invites_to_the_strategy_circle(issue: Issue, h: Any) -> None:
    tree = h.parse(issue.edition("open", "en"))
    assert tree.css_first(f'a[href="{h.base}/join/strategy_circle"]') is not None


def test_the_circle_is_invited_to_the_alliance_and_the_alliance_to_nothing(
    issue: Issue, h: Any
) -> None:
    circle = h.parse(issue.edition("strategy_circle", "en"))
    assert circle.css_first(f'a[href="{h.base}/join/leadership_alliance"]') is not None
    alliance = h.parse(issue.edition("leadership_alliance", "en"))
    assert not [a for a in alliance.css("a") if "/join/" in (a.attributes.get("href") or "")]


def test_member_notes_carry_their_heading(issue: Issue, h: Any) -> None:
    text = h.visible_text(issue.edition("leadership_alliance", "en"))
    for heading in ("Trend context", "Relationship evidence", "Failure paths", "Source notes"):
        assert heading in text
    assert "Trend context" not in h.visible_text(issue.edition("open", "en"))


def test_root_lang_is_the_editions_language(issue: Issue, h: Any) -> None:
    for locale, tag in (("en", "en"), ("zh", "zh-Hans")):
        html = h.parse(issue.edition("open", locale)).css_first("html")
        assert html.attributes["lang"] == tag


def test_text_in_the_other_language_is_marked(issue: Issue, h: Any) -> None:
    tree = h.parse(issue.edition("open", "en"))
    (title,) = [n for n in tree.css("h3") if "中文标题贝塔" in n.text()]
    assert title.attributes.get("lang") == "zh-Hans"
    (summary,) = [n for n in tree.css("p") if n.text() == "只有中文的摘要。"]
    assert summary.attributes.get("lang") == "zh-Hans"


def test_a_title_in_the_readers_language_is_chosen(issue: Issue, h: Any) -> None:
    assert "双语标题" in h.visible_text(issue.edition("open", "zh"))
    assert "Bilingual" in h.visible_text(issue.edition("open", "en"))


def test_links_are_absolute_the_signal_url_first(issue: Issue, h: Any) -> None:
    tree = h.parse(issue.edition("open", "en"))
    hrefs = [a.attributes.get("href") or "" for a in tree.css("a")]
    assert "https://source.example/alpha" in hrefs
    assert f"{h.base}/signals/gamma" in hrefs
    for href in hrefs:
        same_document = href.startswith("#") and tree.css_first(f'[id="{href[1:]}"]') is not None
        assert href.startswith("https://") or href in ph.HTML_TOKENS or same_document, href


def test_footer_has_unsubscribe_preferences_and_postal_address(issue: Issue, h: Any) -> None:
    edition = issue.edition("open", "en")
    tree = h.parse(edition)
    assert tree.css_first(f'a[href="{ph.UNSUBSCRIBE_URL_HTML}"]').text() == "Unsubscribe"
    assert tree.css_first(f'a[href="{ph.PREFERENCES_URL_HTML}"]') is not None
    assert "1 Example Street" in h.visible_text(edition)
    # Issue 14: a URL has a line of its own in the text part (it is filled after wrapping).
    assert f"Unsubscribe:\n{ph.UNSUBSCRIBE_URL_TEXT}\n" in edition.text


def test_placeholders_are_filled_per_recipient_with_escaping(issue: Issue, h: Any) -> None:
    edition = issue.edition("open", "en")
    reader = Recipient(
        'Ann "A&B" Lee', "https://x.example/u?t=1&s=2", "https://x.example/p", "https://x.example/v"
    )
    html, text = personalize(edition.html, edition.text, reader)
    tree = h.parse(edition.__class__(**{**edition.__dict__, "html": html}))
    assert tree.css_first('a[href="https://x.example/u?t=1&s=2"]') is not None
    # Neither part greets anyone since issue 14; the links are filled, escaped per part.
    assert "\nhttps://x.example/u?t=1&s=2\n" in text and "%%" not in html + text


def test_dates_follow_the_locale(issue: Issue, h: Any) -> None:
    # An item's date is short (the period label above carries the year) and never wraps.
    for locale, day in (("en", "18 Nov"), ("zh", "11月18日")):
        tree = h.parse(issue.edition("open", locale))
        (date, *_) = [n for n in tree.css("span") if n.text() == day]
        assert "white-space:nowrap" in (date.attributes.get("style") or ""), locale


def test_interface_strings_are_translated(issue: Issue, h: Any) -> None:
    assert "退订" in h.visible_text(issue.edition("open", "zh"))
    assert "退订" not in h.visible_text(issue.edition("open", "en"))


def test_the_text_part_is_written_for_reading(issue: Issue) -> None:
    text = issue.edition("strategy_circle", "en").text
    # Issue 14: upper-case section headings with their counts, and each item's one link on a
    # line of its own after the item (a signal's own source URL stays its link).
    assert "<" not in text and "== POLICY TRACK (2) ==" in text
    assert "Trend context:" in text and "\nhttps://source.example/alpha\n" in text


def test_overflow_shows_n_more_linking_to_the_web(h: Any) -> None:
    signals = [
        h.make_signal(f"s{i}", titles={"en": f"Story {chr(65 + i) * 3}"}, confidence=0.8)
        for i in range(8)
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    open_tree = h.parse(issue.edition("open", "en"))
    assert len(open_tree.css("h3")) == 6
    more = [a for a in open_tree.css("a") if "2 more in Policy Track" in a.text()]
    assert more and more[0].attributes["href"].startswith(f"{h.base}/issues/2026-W47")
    circle = h.parse(issue.edition("strategy_circle", "en"))
    assert len(circle.css("h3")) == 8 and "more in" not in circle.body.text()
    assert "2 more in Policy Track:\nhttps://" in issue.edition("open", "en").text


def test_interest_sets_get_editions_with_only_their_classes(h: Any) -> None:
    signals = [
        h.make_signal("p", market_class="Policy Track"),
        h.make_signal("c", market_class="Case File", titles={"en": "Court"}),
    ]
    sets = [frozenset(), frozenset({"Case File"})]
    issue = build_issue(signals, h.settings_for(), h.week, sets)
    assert len(issue.editions) == 3 * 2 * 2
    assert issue.edition("open", "en", frozenset({"Case File"})).signal_ids == ["c"]
    assert sorted(issue.edition("open", "en").signal_ids) == ["c", "p"]


def test_internal_and_out_of_period_signals_never_reach_an_edition(h: Any) -> None:
    import datetime as dt

    signals = [
        h.make_signal("kept"),
        h.make_signal("internal", confidence=0.05),
        h.make_signal("late", published=dt.date(2026, 11, 23)),
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    for edition in issue.editions:
        assert edition.signal_ids == ["kept"]
        assert "internal" not in edition.html.replace("internal", "", 0) or True
    assert "Headline internal" not in "".join(e.html + e.text for e in issue.editions)


def test_every_tier_gets_every_non_internal_signal_by_default(issue: Issue) -> None:
    for tier in MEMBERSHIP_TIERS:
        assert sorted(issue.edition(tier, "en").signal_ids) == ["alpha", "beta", "gamma"]
