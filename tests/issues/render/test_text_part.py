"""The text part read in a plain-text client: 76 columns, paragraphs apart, one short meta line
with the confidence meter, links a reader can follow."""

from __future__ import annotations

import re
from typing import Any

from digest.issues import collect
from digest.issues.editions import Issue, build_issue
from digest.issues.render import placeholders as ph
from digest.issues.render.widths import width
from digest.resources import example_signals

LONE_LINK = re.compile(r"(https?://|%%)\S+")


def too_wide(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if width(line) > 76 and not LONE_LINK.fullmatch(line)
    ]


def test_the_examples_week_fits_76_columns_in_every_edition(h: Any) -> None:
    settings = h.settings_for()
    found = collect.from_files([str(example_signals())], settings.sources, h.week)
    issue = build_issue(found.signals, settings, h.week)
    for edition in issue.editions:
        assert too_wide(edition.text) == [], (edition.tier, edition.locale)


def test_long_titles_and_chinese_paragraphs_are_wrapped(h: Any) -> None:
    signal = h.make_signal(
        "long",
        titles={"en": "Very long headline " * 16, "zh": "很长的中文标题" * 20},
        summary={"en": ["word " * 90], "zh": ["中文段落没有空格" * 30]},
        watch=["a watch item " * 12],
    )
    issue = build_issue([h.with_canaries(signal)], h.settings_for(), h.week)
    for edition in issue.editions:
        assert too_wide(edition.text) == []


def test_paragraphs_are_separated_by_a_blank_line(h: Any) -> None:
    signal = h.make_signal("p", summary={"en": ["First paragraph.", "Second paragraph."]})
    text = build_issue([signal], h.settings_for(), h.week).edition("open", "en").text
    assert "First paragraph.\n\nSecond paragraph." in text


def test_cr_lf_inside_signal_text_becomes_a_space(h: Any) -> None:
    signal = h.make_signal("crlf", summary={"en": ["The licence covers\r\nservicing and\nparts."]})
    text = build_issue([signal], h.settings_for(), h.week).edition("open", "en").text
    assert "The licence covers servicing and parts." in text


def test_each_item_has_a_short_meta_line_with_the_confidence_meter(issue: Issue) -> None:
    lines = issue.edition("open", "en").text.splitlines()
    assert "[●●●●● A High — direct sources] Headline alpha" in lines
    (meta,) = [line for line in lines if line.startswith("[●●●○○ B/C Medium]")]
    assert "中文标题贝塔" in meta
    assert "[○○○○○ Unrated] Bilingual" in lines
    assert lines[lines.index("[○○○○○ Unrated] Bilingual") + 1] == "18 Nov 2026"


def test_member_editions_link_items_to_the_readers_tier_view(issue: Issue, h: Any) -> None:
    for tier in ("strategy_circle", "leadership_alliance"):
        lines = issue.edition(tier, "en").text.splitlines()
        assert f"{ph.VIEW_URL_TEXT}#gamma" in lines
        assert not [line for line in lines if "/signals/" in line]
    assert f"{h.base}/signals/gamma" in issue.edition("open", "en").text.splitlines()


def test_the_footer_offers_the_view_subscribe_and_a_reply_only_when_set(h: Any) -> None:
    signals = [h.make_signal("one")]
    plain = build_issue(signals, h.settings_for(), h.week).edition("open", "en").text
    lines = plain.splitlines()
    assert lines[lines.index("View in browser:") + 1] == ph.VIEW_URL_TEXT
    assert lines[lines.index("Forwarded this? Subscribe:") + 1] == f"{h.base}/subscribe?lang=en"
    assert "Reply to this email" not in plain
    settings = h.settings_for(publication={"base_url": h.base, "reply_to": "ed@example.org"})
    replied = build_issue(signals, settings, h.week)
    assert "Reply to this email" in replied.edition("open", "en").text
    assert "回复本邮件" in replied.edition("open", "zh").text


def test_full_and_radar_items_share_one_head_of_meter_and_meta_line(h: Any) -> None:
    fields = {"signal_type": "Regulation", "region": "EU"}
    full = h.make_signal("full", titles={"en": "Full story"}, confidence=0.92, **fields)
    radar = h.make_signal("radar", titles={"en": "Radar story"}, confidence=0.2, **fields)
    lines = build_issue([full, radar], h.settings_for(), h.week).edition("open", "en").text
    lines = lines.splitlines()
    for head in ("[●●●●● A High — direct sources] Full story", "[●○○○○ D Weak signal] Radar story"):
        assert lines[lines.index(head) + 1] == "Regulation · EU · 18 Nov 2026"


def test_a_line_break_in_an_items_head_becomes_a_space(h: Any) -> None:
    signal = h.make_signal("head", titles={"en": "Split\r\nheadline"}, region="North\nSea")
    lines = build_issue([signal], h.settings_for(), h.week).edition("open", "en").text
    lines = lines.splitlines()
    assert "[○○○○○ Unrated] Split headline" in lines
    assert "North Sea · 18 Nov 2026" in lines
