"""Bad weeks still make good editions: every edition builds within the inbox checks, with no
empty blocks, whatever the titles, the class names or the number of signals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from digest.issues.editions import Issue, build_issue


def _assert_sound(issue: Issue, h: Any) -> None:
    for edition in issue.editions:
        where = (edition.tier, edition.locale)
        assert not edition.failures, (where, edition.failures)
        tree = h.parse(edition)
        for tag in ("ul", "li", "h2", "h3", "div.bx", "p.rd"):
            empty = [n for n in tree.css(tag) if not n.text().strip()]
            assert not empty, (where, tag)
        assert len(tree.css("h3")) + len(tree.css("p.rd")) == len(edition.signal_ids), where


def test_a_title_only_in_the_other_language(h: Any) -> None:
    signal = h.make_signal("zh-only", titles={"zh": "只有中文标题"}, summary={"zh": ["摘要。"]})
    issue = build_issue([signal], h.settings_for(), h.week)
    _assert_sound(issue, h)
    tree = h.parse(issue.edition("open", "en"))
    assert [li.attributes.get("lang") for li in tree.css("li")] == ["zh-Hans"]


def test_a_300_character_title(h: Any) -> None:
    long = "Regulators " + "announce sweeping new rules " * 11
    signals = [h.make_signal("long", titles={"en": long[:300]}, confidence=0.9)]
    signals.append(h.make_signal("other", confidence=0.3))
    issue = build_issue(signals, h.settings_for(), h.week)
    _assert_sound(issue, h)
    tree = h.parse(issue.edition("open", "en"))
    (takeaway, *_) = [li.text() for li in tree.css("li") if li.text().startswith("Regulators")]
    assert takeaway.endswith("…") and len(takeaway) <= 90
    (headline,) = tree.css("h3")
    assert headline.text() == long[:300].strip()  # the full form keeps the whole title
    (compact,) = tree.css("p.rd a")
    assert compact.text() == "Headline other"


def test_an_all_markup_title(h: Any) -> None:
    signal = h.make_signal("markup", titles={"en": "<b><i><script>x</script></i></b>"})
    issue = build_issue([signal], h.settings_for(), h.week)
    _assert_sound(issue, h)
    tree = h.parse(issue.edition("open", "en"))
    assert tree.css("script") == [] and tree.css("i") == []


def test_a_week_with_one_signal(h: Any) -> None:
    issue = build_issue([h.make_signal("one")], h.settings_for(), h.week)
    _assert_sound(issue, h)
    tree = h.parse(issue.edition("open", "en"))
    assert len(tree.css("li")) == 1 and tree.css_first("#radar") is None


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_a_week_with_200_signals(h: Any, locale: str) -> None:
    classes = ["Policy Track", "Supply Chain", "Case File", "Capital Flows", "Quantum Desk"]
    scores = [0.95, 0.8, 0.6, 0.4, 0.2, None]
    signals = [
        h.with_canaries(
            h.make_signal(
                f"s{i:03d}",
                titles={"en": f"Signal {i} about export licences", "zh": f"第{i}条出口许可信号"},
                market_class=classes[i % len(classes)],
                confidence=scores[i % len(scores)],
                published=dt.date(2026, 11, 16 + i % 7),
                summary={"en": [f"Summary {i}. " * 8], "zh": [f"摘要{i}。" * 8]},
                watch=["Licence decisions", "Vendor notices"],
            )
        )
        for i in range(200)
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    _assert_sound(issue, h)
    tree = h.parse(issue.edition("open", locale))
    assert len(tree.css("ul")[0].css("li")) == 5


def test_an_untranslated_class(h: Any) -> None:
    signal = h.make_signal("x", market_class="Orbital Economy", confidence=0.9)
    issue = build_issue([signal], h.settings_for(), h.week)
    _assert_sound(issue, h)
    assert "Orbital Economy" in h.visible_text(issue.edition("open", "zh"))
