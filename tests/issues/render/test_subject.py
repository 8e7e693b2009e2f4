"""Subjects and preheaders as the inbox shows them: the lead headline in the reader's language,
whole words, at most 60 columns (CJK counts 2), and a preheader naming what follows."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from digest.issues.checks import Check
from digest.issues.controls import IssueControls
from digest.issues.editions import Issue, build_issue
from digest.issues.render.engine import RenderError
from digest.issues.render.subject import PADDING, PREHEADER_COLUMNS, SUBJECT_COLUMNS
from digest.issues.render.widths import width

LONG_EN = (
    "Dutch government requires licences to service installed DUV lithography tools, "
    "supply spare parts and update their software, widening the national export regime"
)
LONG_ZH = (
    "荷兰政府要求对已安装的DUV光刻机提供维护、备件和软件更新须先取得出口许可，"
    "扩大了国家出口管制范围"
)
CJK = re.compile(r"[\u4e00-\u9fff]")


def every_edition(issue: Issue) -> list[Any]:
    return issue.editions


def distinct_title(n: int) -> str:
    """A headline no other `n` gives (similar ones would be merged as one story)."""
    digest = hashlib.sha1(str(n).encode()).hexdigest()
    return " ".join(digest[i : i + 5] for i in range(0, 40, 5))


def whole_words_of(subject: str, title: str) -> bool:
    """Every word of a cut subject is a whole word of the title, in order, from its start."""
    words = subject.rstrip("…").split()
    return title.split()[: len(words)] == words


@pytest.fixture
def long_titles(h: Any) -> Issue:
    lead = h.make_signal("lead", titles={"en": LONG_EN, "zh": LONG_ZH}, confidence=0.95)
    rest = [h.make_signal(f"s{i}", titles={"en": f"Second story {i}"}) for i in range(3)]
    return build_issue([lead, *rest], h.settings_for(), h.week)


def test_the_subject_is_the_lead_headline_cut_between_words(long_titles: Issue) -> None:
    subject = long_titles.edition("open", "en").subject
    assert width(subject) <= SUBJECT_COLUMNS and subject.endswith("…")
    assert whole_words_of(subject, LONG_EN)
    assert subject.startswith("Dutch government requires licences")


def test_a_chinese_subject_counts_each_character_twice(long_titles: Issue) -> None:
    subject = long_titles.edition("leadership_alliance", "zh").subject
    assert width(subject) <= SUBJECT_COLUMNS < len(subject) * 2
    assert LONG_ZH.startswith(subject.rstrip("…")) and len(subject) > 20


def test_no_publication_prefix_by_default(long_titles: Issue) -> None:
    for edition in every_edition(long_titles):
        assert "Signal Weekly" not in edition.subject


def test_a_configured_template_adds_its_prefix_within_sixty_columns(h: Any) -> None:
    settings = h.settings_for(editions={"subject_template": "{publication} #{week}: {headline}"})
    lead = h.make_signal("lead", titles={"en": LONG_EN, "zh": LONG_ZH}, confidence=0.95)
    issue = build_issue([lead], settings, h.week)
    for edition in issue.editions:
        assert edition.subject.startswith("Signal Weekly #47: ")
        assert width(edition.subject) <= SUBJECT_COLUMNS


def test_each_language_gets_a_headline_in_its_own_language(h: Any) -> None:
    signals = [
        h.make_signal("en-only", titles={"en": "English lead"}, confidence=0.95),
        h.make_signal("zh-only", titles={"zh": "中文第二条"}, confidence=0.9),
        h.make_signal("both", titles={"en": "Third in English", "zh": "第三条中文"}),
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    assert issue.edition("open", "en").subject == "English lead"
    assert issue.edition("open", "zh").subject == "中文第二条"  # the lead has no Chinese title
    zh_preheader = issue.edition("open", "zh").preheader
    assert zh_preheader.startswith("另有：第三条中文") and "English" not in zh_preheader
    en_preheader = issue.edition("open", "en").preheader
    assert en_preheader.startswith("Also: Third in English") and not CJK.search(en_preheader)


def test_with_no_title_in_the_readers_language_the_other_one_serves(h: Any) -> None:
    signal = h.make_signal("x", titles={"en": "Only English"})
    issue = build_issue([signal], h.settings_for(), h.week)
    assert issue.edition("open", "zh").subject == "Only English"
    assert issue.edition("open", "zh").preheader.strip()


def test_an_english_title_with_only_a_chinese_translation_leads_the_english_edition(
    h: Any,
) -> None:
    # the Markdown form the docs show: `title` in English, `titles` holding only `zh`
    lead = h.make_signal(
        "eu", title="EU tightens chip export screening", titles={"zh": "欧盟收紧芯片出口审查"}
    )
    issue = build_issue([lead], h.settings_for(), h.week)
    english = issue.edition("open", "en")
    assert english.subject == "EU tightens chip export screening"
    assert "欧盟" not in h.visible_text(english)
    assert issue.edition("open", "zh").subject == "欧盟收紧芯片出口审查"


def test_a_headline_with_markup_gives_way_to_the_next(h: Any) -> None:
    signals = [
        h.make_signal("evil", titles={"en": "<script>alert('x')</script>"}, confidence=0.99),
        h.make_signal("ssti", titles={"en": "Portals evaluated {{ 7*7 }} in tickets"}),
        h.make_signal("ok", titles={"en": "Korea's chip tax credit clears a committee"}),
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    edition = issue.edition("open", "en")
    assert edition.subject == "Korea's chip tax credit clears a committee"
    assert not re.search(r"[<>]|{{|%%", edition.preheader)


def test_all_markup_headlines_give_the_publication_and_week(h: Any) -> None:
    signals = [h.make_signal(f"e{i}", titles={"en": "<b></b>{{ x }}%%name%%"}) for i in range(2)]
    issue = build_issue(signals, h.settings_for(), h.week)
    assert issue.edition("open", "en").subject == "Signal Weekly, week 47"
    assert issue.edition("open", "zh").subject == "Signal Weekly · 第47周"
    for edition in issue.editions:
        assert edition.preheader.strip() and "<" not in edition.preheader


def test_a_week_of_one_signal_has_a_preheader(h: Any) -> None:
    issue = build_issue([h.make_signal("one")], h.settings_for(), h.week)
    for edition in issue.editions:
        assert edition.subject == "Headline one"
        assert edition.preheader.strip() and "Headline one" not in edition.preheader


def test_a_week_of_two_hundred_names_a_few_and_counts_the_rest(h: Any) -> None:
    classes = ["Policy Track", "Supply Chain", "Case File", "Capital Flows", "Infrastructure"]
    signals = [
        h.make_signal(f"s{i:03d}", titles={"en": distinct_title(i)}, market_class=classes[i % 5])
        for i in range(200)
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    assert not issue.failed and len(issue.edition("leadership_alliance", "en").signal_ids) == 50
    for edition in issue.editions:
        if edition.locale != "en":
            continue
        named = edition.preheader.removeprefix("Also: ").split(" · ")
        more = int(re.fullmatch(r"\+(\d+) more", named[-1]).group(1))  # type: ignore[union-attr]
        assert 1 + (len(named) - 1) + more == len(edition.signal_ids)
        assert width(edition.preheader) <= PREHEADER_COLUMNS


def test_the_html_preview_text_is_padded_so_the_body_stays_out_of_the_snippet(
    issue: Issue, h: Any
) -> None:
    edition = issue.edition("open", "en")
    tree = h.parse(edition)
    hidden = [d.text() for d in tree.css("div") if d.text().startswith(edition.preheader)]
    assert hidden and hidden[0].endswith(PADDING)
    assert PADDING not in edition.preheader  # the stored preheader is the words only


def test_a_template_leaving_no_room_for_the_headline_is_a_render_error_naming_it(h: Any) -> None:
    long_prefix = "{publication} · {period} · the weekly briefing for members · {headline}"
    settings = h.settings_for(editions={"subject_template": long_prefix})
    with pytest.raises(RenderError, match=r"editions\.subject_template .* leaves \d+ of 60"):
        build_issue([h.make_signal("one")], settings, h.week)


def test_a_300_character_title_still_makes_a_whole_word_subject(h: Any) -> None:
    title = ("Licensing regime for servicing installed lithography scanners " * 5)[:300]
    zh_title = ("对已安装光刻机的维护实行许可制度" * 20)[:300]
    signal = h.make_signal("long", titles={"en": title, "zh": zh_title})
    issue = build_issue([signal], h.settings_for(), h.week)
    en, zh = issue.edition("open", "en").subject, issue.edition("open", "zh").subject
    assert whole_words_of(en, title) and width(en) <= SUBJECT_COLUMNS
    assert zh_title.startswith(zh.rstrip("…")) and 56 <= width(zh) <= SUBJECT_COLUMNS


def _editors_lead_issue(h: Any, lead_titles: dict[str, str]) -> Issue:
    """The editor leads with `pick`, which is not the strongest story."""
    signals = [
        h.make_signal("strongest", titles={"en": "Strongest", "zh": "最强的一条"}, confidence=0.95),
        h.make_signal("pick", titles=lead_titles, confidence=0.6),
    ]
    controls = IssueControls(lead="pick")
    return build_issue(signals, h.settings_for(), h.week, controls=controls)


def _subject_lead(issue: Issue, locale: str) -> list[Check]:
    return [c for c in issue.edition("open", locale).checks if c.name == "subject-lead"]


def test_an_editors_lead_without_a_chinese_title_warns_on_the_chinese_edition(h: Any) -> None:
    issue = _editors_lead_issue(h, {"en": "Editor's pick"})
    assert issue.edition("open", "zh").subject == "最强的一条"  # the reader's language kept
    assert _subject_lead(issue, "zh") == [
        Check(
            "subject-lead",
            "warn",
            "the Chinese subject does not lead with pick: it has no Chinese title",
        )
    ]


def test_the_english_edition_leading_with_the_editors_pick_has_no_such_warning(h: Any) -> None:
    issue = _editors_lead_issue(h, {"en": "Editor's pick"})
    assert issue.edition("open", "en").subject == "Editor's pick"
    assert _subject_lead(issue, "en") == []


def test_an_editors_lead_with_a_chinese_title_leads_the_chinese_subject(h: Any) -> None:
    issue = _editors_lead_issue(h, {"en": "Editor's pick", "zh": "编辑之选"})
    assert issue.edition("open", "zh").subject == "编辑之选"
    assert _subject_lead(issue, "zh") == []


def test_the_build_order_lead_never_warns(h: Any) -> None:
    signals = [
        h.make_signal("en-only", titles={"en": "English lead"}, confidence=0.95),
        h.make_signal("zh-only", titles={"zh": "中文第二条"}, confidence=0.9),
    ]
    issue = build_issue(signals, h.settings_for(), h.week)
    assert issue.edition("open", "zh").subject == "中文第二条"
    assert _subject_lead(issue, "zh") == []


def test_an_editors_lead_whose_title_holds_markup_warns_with_that_reason(h: Any) -> None:
    issue = _editors_lead_issue(h, {"en": "<b>Editor's</b> pick", "zh": "<b>编辑</b>之选"})
    assert issue.edition("open", "en").subject == "Strongest"
    (check,) = _subject_lead(issue, "en")
    assert check.message == (
        "the English subject does not lead with pick: its title holds markup or template syntax"
    )
