"""Chinese editions that are Chinese: translated section names and labels, full-width
punctuation, a CJK sans-serif stack at a CJK line height; an untranslated class as written."""

from __future__ import annotations

import html
from typing import Any

from digest.issues.editions import Issue, build_issue


def _issue(h: Any, **settings: Any) -> Issue:
    signals = [
        h.with_canaries(
            h.make_signal(
                "a",
                titles={"zh": "中文标题", "en": "English title"},
                confidence=0.95,
                watch=["下次投票", "执行细则"],
            )
        ),
        h.make_signal("b", market_class="Supply Chain", confidence=0.8),
        h.make_signal("c", market_class="Quantum Desk", confidence=0.8),
        h.make_signal("d", confidence=0.2),
    ]
    return build_issue(signals, h.settings_for(**settings), h.week)


def test_section_names_are_translated(h: Any) -> None:
    tree = h.parse(_issue(h).edition("open", "zh"))
    headings = [n.text().rsplit(" ", 1)[0] for n in tree.css("h2.sh")]
    assert headings == ["政策动向", "供应链", "Quantum Desk", "雷达观察"]


def test_an_untranslated_class_is_shown_as_written_and_marked(h: Any) -> None:
    tree = h.parse(_issue(h).edition("open", "zh"))
    (quantum,) = [n for n in tree.css("h2.sh") if "Quantum Desk" in n.text()]
    assert quantum.attributes.get("lang") == "en"


def test_class_names_are_a_setting(h: Any) -> None:
    names = {"Quantum Desk": {"zh": "量子专栏", "en": "Quantum"}}
    issue = _issue(h, editions={"class_names": names})
    assert "量子专栏" in h.visible_text(issue.edition("open", "zh"))
    assert "Quantum 1" in " ".join(h.visible_text(issue.edition("open", "en")).split())
    assert "政策动向" in h.visible_text(issue.edition("open", "zh"))  # bundled names kept


def test_labels_are_translated_with_full_width_punctuation(h: Any) -> None:
    issue = _issue(h)
    open_text = h.parse(issue.edition("open", "zh")).body.text()
    for label in ("本周要点", "雷达观察", "关注要点：", "可信度：", "在浏览器中查看", "订阅"):
        assert label in open_text, label
    assert "战略圈：趋势背景" in open_text
    alliance = h.parse(issue.edition("leadership_alliance", "zh")).body.text()
    assert "会员分析" in alliance and "趋势背景：" in alliance
    for english in ("This week", "On the radar", "What to watch", "Member analysis", "Strong"):
        assert english not in open_text + alliance, english


def test_a_cjk_sans_stack_at_a_cjk_line_height(h: Any) -> None:
    issue = _issue(h)
    zh, en = (html.unescape(issue.edition("open", lang).html) for lang in ("zh", "en"))
    assert "'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC'" in zh
    assert "line-height:1.75" in zh and "line-height:1.75" not in en
    assert "Songti" not in zh and "SimSun" not in zh


def test_dates_and_badges_never_wrap_inside(h: Any) -> None:
    tree = h.parse(_issue(h).edition("open", "zh"))
    (item,) = [d for d in tree.css("div.it") if "中文标题" in d.text()]
    meta = item.css_first("p")
    spans = {s.text(): s.attributes.get("style") or "" for s in meta.css("span")}
    for text in ("高", "11月18日"):
        assert "white-space:nowrap" in spans[text], text
    meter = meta.css_first('span[role="img"]')
    assert meter.text() == "●●●●●" and "white-space:nowrap" in meter.attributes["style"]
