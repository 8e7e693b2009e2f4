"""The published-page importer against every rule of `signal-pages.md`, one behaviour per test."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from digest.model import Signal
from digest.signals.readers import pages
from digest.signals.readers.base import Parsed, SourceError
from digest.signals.readers.pages import read_page
from digest.text import derived_id

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"
SHARED_SEED = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "seeds" / "000_78d8d7e56c72a981.txt"
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def parse(text: str, source: str = "page.txt") -> Signal:
    parsed = read_page(source, text)
    assert isinstance(parsed, Parsed)
    assert parsed.errors == []
    (signal,) = parsed.signals
    return signal


def page(*lines: str, title: str = "Test signal") -> str:
    """The given lines, then a Signal Brief that names `title`."""
    return "\n".join([*lines, "Signal Brief", f"- Signal: {title}", ""])


def page_error(text: str) -> SourceError:
    with pytest.raises(SourceError) as caught:
        read_page("page.txt", text)
    return caught.value


# --- the seed page, whole record -------------------------------------------------------------

SEED_EXPECTED: dict[str, Any] = {
    "id": "s-fe4fbde73759fe8d",
    "title": "美英签署AI安全测试备忘录",
    "titles": {"zh": "美英签署AI安全测试备忘录"},
    "url": None,
    "source": "seed.txt",
    "summary": {
        "en": [
            "The United States and United Kingdom signed a memorandum to align AI safety testing "
            "through their national AI Safety Institutes, including shared model-evaluation "
            "methods and at least one planned joint test.",
            "UK and U.S. government AI safety institutions agreed to coordinate advanced model "
            "testing and evaluation work.",
            "The agreement formalises state-to-state coordination over advanced AI model "
            "evaluation methods.",
            "Shared testing methods can shape how governments evaluate advanced AI systems and "
            "coordinate safety standards.",
        ],
        "zh": [
            "美国与英国签署了一份备忘录,通过各自的国家AI安全研究所协调AI安全测试,"
            "包括共享模型评估方法和至少一次计划中的联合测试。",
        ],
    },
    "body": {
        "zh": [
            "2024年4月1日,美国与英国签署了一份谅解备忘录,通过各自的国家AI安全研究所协调AI安全测试。"
            "该协议将此前AI安全峰会的承诺转化为模型评估、研究对齐、信息共享以及可能的人员交流的工作渠道。",
            "其公共意义在于,先进模型测试正成为国家间技术合作的正式领域。"
            "两所机构打算开发共享的模型评估方法,至少对一款公开可访问的模型进行一次联合测试,"
            "并与其他政府就AI安全测试标准建立联系。",
        ],
    },
    "see_also": ["Ofcom 揭露英国铁路移动覆盖差距", "欧盟重写人工智能基础设施主权规则"],
    "signal_type": "Policy agreement",
    "region": "United States / United Kingdom",
    "market_class": "Case File",
    "confidence": None,
    "tier": "A",
    "tier_label": "High — direct sources",
    "internal": False,
    "evidence": "Direct public sources",
    "published": dt.date(2024, 4, 1),
    "operating_surface": [
        "AI model-evaluation methods",
        "Joint testing commitments",
        "Institute-to-institute information sharing",
        "International standards coordination",
    ],
    "market_context": [
        "Shared testing methods can shape how governments evaluate advanced AI systems and "
        "coordinate safety standards.",
    ],
    "watch": [
        "U.S. AI Safety Institute",
        "UK AI Safety Institute",
        "Commerce and DSIT implementation",
        "Public model-testing outputs",
    ],
    "operational_relevance": "Medium",
    "time_horizon": "Next quarter",
    "trend_context": None,
    "relationship_evidence": None,
    "failure_paths": None,
    "source_notes": None,
}


def test_seed_page_gives_the_whole_expected_record() -> None:
    assert parse(fixture("seed.txt"), "seed.txt").model_dump() == SEED_EXPECTED


def test_shared_seed_page_gives_the_whole_expected_record() -> None:
    if not SHARED_SEED.exists():
        pytest.skip(f"shared seed not present at {SHARED_SEED}")
    text = SHARED_SEED.read_bytes().decode("utf-8")
    assert parse(text, "seed.txt").model_dump() == SEED_EXPECTED


def test_seed_fixture_is_a_byte_for_byte_copy_of_the_shared_seed() -> None:
    if not SHARED_SEED.exists():
        pytest.skip(f"shared seed not present at {SHARED_SEED}")
    assert (FIXTURES / "seed.txt").read_bytes() == SHARED_SEED.read_bytes()


# --- line endings and blank lines ------------------------------------------------------------


def test_crlf_trailing_spaces_and_blank_lines_carry_no_meaning() -> None:
    raw = fixture("crlf.txt")
    assert "\r\n" in raw
    clean = "\n".join(line.strip() for line in raw.split("\r\n") if line.strip())
    signal = parse(raw)
    assert signal.model_dump() == parse(clean).model_dump()
    assert signal.title == "Norway opens offshore substation tender"
    assert signal.operating_surface == ["Offshore substations", "HVDC converters"]
    assert signal.tier == "A/B"


# --- lead ------------------------------------------------------------------------------------


def test_lead_keeps_each_repeated_line_once_in_first_seen_order() -> None:
    signal = parse(page("Beta.", "Alpha.", "Beta.", "Gamma.", "Alpha.", "Alpha."))
    assert signal.summary == {"en": ["Beta.", "Alpha.", "Gamma."]}


def test_lead_language_is_decided_per_line() -> None:
    signal = parse(page("First in English.", "第一句中文。", "Second in English."))
    assert signal.summary == {
        "en": ["First in English.", "Second in English."],
        "zh": ["第一句中文。"],
    }


def test_lead_language_is_decided_without_its_cross_references() -> None:
    signal = parse(page("Ports reopen. 另见: 鹿特丹罢工."))
    assert signal.summary == {"en": ["Ports reopen."]}
    assert signal.see_also == ["鹿特丹罢工"]


def test_lead_ends_at_the_first_legend_row() -> None:
    signal = parse(page("Lead line.", "| 0.75–0.89 | A/B | Strong |", "Strong", "Body line."))
    assert signal.summary == {"en": ["Lead line."]}
    assert signal.body == {"en": ["Body line."]}


def test_lead_ends_at_the_first_heading() -> None:
    text = "Lead line.\nOperating Surface\n- Ports\nBody line.\nSignal Brief\n- Signal: T\n"
    signal = parse(text)
    assert signal.summary == {"en": ["Lead line."]}
    assert signal.body == {"en": ["Body line."]}


# --- legend and evidence line ----------------------------------------------------------------


def test_legend_rows_with_en_em_and_plain_dashes_are_chrome() -> None:
    signal = parse(fixture("legend_dashes.txt"))
    dumped = json.dumps(signal.model_dump(mode="json"), ensure_ascii=False)
    assert "|" not in dumped
    assert "0.55" not in dumped
    assert signal.summary == {"en": ["The central bank held its policy rate for a third meeting."]}
    assert signal.body == {}


def test_evidence_line_is_the_first_non_table_line_after_the_legend() -> None:
    signal = parse(fixture("legend_dashes.txt"))
    assert signal.evidence == "Weak-medium"


def test_evidence_with_a_plain_hyphen_matches_the_en_dash_label() -> None:
    signal = parse(fixture("legend_dashes.txt"))
    assert (signal.tier, signal.tier_label) == ("C/D", "Weak–medium")


def test_without_a_legend_there_is_no_evidence_line() -> None:
    signal = parse(page("Direct public sources"))
    assert signal.evidence is None
    assert signal.tier is None
    assert signal.summary == {"en": ["Direct public sources"]}


def test_direct_public_sources_means_tier_a_without_a_score() -> None:
    signal = parse(page("| 0.90–1.00 | A | High — direct sources |", "Direct public sources"))
    assert signal.evidence == "Direct public sources"
    assert (signal.tier, signal.tier_label, signal.confidence) == (
        "A",
        "High — direct sources",
        None,
    )
    assert signal.internal is False


@pytest.mark.parametrize(
    ("evidence", "tier", "label"),
    [
        ("High - direct sources", "A", "High — direct sources"),
        ("STRONG", "A/B", "Strong"),
        ("medium", "B/C", "Medium"),
        ("Weak—medium", "C/D", "Weak–medium"),
        ("Weak signal", "D", "Weak signal"),
    ],
)
def test_evidence_equal_to_a_legend_label_gives_that_tier(
    evidence: str, tier: str, label: str
) -> None:
    signal = parse(page("| 0.75–0.89 | A/B | Strong |", evidence))
    assert (signal.tier, signal.tier_label, signal.confidence) == (tier, label, None)
    assert signal.internal is False


def test_internal_monitoring_evidence_makes_the_signal_internal() -> None:
    signal = parse(page("| 0.00–0.09 | D | Internal monitoring |", "Internal monitoring"))
    assert (signal.tier, signal.tier_label, signal.internal) == ("D", "Internal monitoring", True)


def test_unknown_evidence_leaves_the_tier_null() -> None:
    signal = parse(page("| 0.75–0.89 | A/B | Strong |", "Trade press reporting"))
    assert signal.evidence == "Trade press reporting"
    assert (signal.tier, signal.tier_label, signal.confidence) == (None, None, None)


def test_no_evidence_and_no_score_leaves_the_tier_null() -> None:
    signal = parse(page("Just a lead."))
    assert (signal.tier, signal.tier_label, signal.evidence) == (None, None, None)


def test_a_heading_right_after_the_legend_is_not_evidence() -> None:
    signal = parse("| 0.75–0.89 | A/B | Strong |\nSignal Brief\n- Signal: T\n")
    assert signal.evidence is None
    assert signal.title == "T"


# --- confidence ------------------------------------------------------------------------------


def test_confidence_item_overrides_the_evidence_line() -> None:
    text = page("| 0.90–1.00 | A | High — direct sources |", "Internal monitoring")
    signal = parse(text + "- Confidence: 0.40\n")
    assert (signal.confidence, signal.tier, signal.tier_label) == (0.40, "C/D", "Weak–medium")
    assert signal.internal is False
    assert signal.evidence == "Internal monitoring"


@pytest.mark.parametrize(
    ("score", "tier", "internal"),
    [
        ("0.895", "A/B", False),
        ("0.90", "A", False),
        ("1.00", "A", False),
        ("1", "A", False),
        ("0.75", "A/B", False),
        ("0.10", "D", False),
        ("0.09", "D", True),
        ("0", "D", True),
    ],
)
def test_confidence_item_sets_score_and_tier(score: str, tier: str, internal: bool) -> None:
    signal = parse(page() + f"- Confidence: {score}\n")
    assert (signal.confidence, signal.tier, signal.internal) == (float(score), tier, internal)


@pytest.mark.parametrize("score", ["1.01", "-0.1", "42"])
def test_confidence_outside_0_to_1_is_an_error_naming_the_line(score: str) -> None:
    error = page_error(f"Lead.\nSignal Brief\n- Signal: T\n- Confidence: {score}\n")
    assert error.line == 4
    assert "outside 0–1" in error.reason
    assert str(error).startswith("page.txt:4: ")


@pytest.mark.parametrize("score", ["high", "nan", "inf", "0,9", "1e-1", ""])
def test_confidence_not_a_number_is_an_error_naming_the_line(score: str) -> None:
    error = page_error(f"Lead.\nSignal Brief\n- Signal: T\n- Confidence: {score}\n")
    assert error.line == 4
    assert "not a number" in error.reason


# --- body and cross-references ---------------------------------------------------------------


def test_body_paragraph_is_kept_in_its_language() -> None:
    text = page("| 0.75–0.89 | A/B | Strong |", "Strong", "An English paragraph.", "中文段落。")
    assert parse(text).body == {"en": ["An English paragraph."], "zh": ["中文段落。"]}


def test_body_paragraph_between_sections_is_kept() -> None:
    signal = parse(fixture("sections_any_order.txt"))
    assert signal.body == {"en": ["The tender drew eleven bidders, according to the operator."]}


def test_cross_ref_with_full_width_colon_and_no_spaces() -> None:
    signal = parse(fixture("cross_refs.txt"))
    assert "Inland barge operators reroute cargo." in signal.body["en"]
    assert "鹿特丹码头工人投票" in signal.see_also


def test_cross_ref_removal_decides_the_paragraph_language() -> None:
    signal = parse(fixture("cross_refs.txt"))
    assert signal.body["zh"] == ["港口自动化争议再起。"]
    assert "Inland barge operators reroute cargo." in signal.body["en"]


def test_several_cross_refs_at_a_paragraph_end() -> None:
    signal = parse(fixture("cross_refs.txt"))
    assert "Customs backlogs grow at the terminals." in signal.body["en"]
    assert signal.see_also[2:4] == ["Rail freight surcharge", "Barge rates climb"]


def test_see_also_keeps_each_title_once_in_first_seen_order() -> None:
    signal = parse(fixture("cross_refs.txt"))
    assert signal.see_also == [
        "Rotterdam dockworkers vote",
        "鹿特丹码头工人投票",
        "Rail freight surcharge",
        "Barge rates climb",
    ]


def test_a_paragraph_of_only_cross_refs_adds_no_body() -> None:
    signal = parse(page("| 0.75–0.89 | A/B | Strong |", "Strong", "See also: Other signal."))
    assert signal.body == {}
    assert signal.see_also == ["Other signal"]


# --- sections --------------------------------------------------------------------------------


def test_sections_in_any_order() -> None:
    signal = parse(fixture("sections_any_order.txt"))
    assert signal.title == "Norway opens offshore substation tender"
    assert signal.region == "Norway"
    assert signal.watch == ["Statnett award decision", "Supplier capacity announcements"]
    assert signal.market_context == ["Grid tenders shape supplier order books."]
    assert signal.operational_relevance == "High"
    assert signal.operating_surface == ["Offshore substations"]


def test_missing_sections_leave_their_fields_empty() -> None:
    signal = parse("Signal Brief\n- Signal: Only a title\n")
    dumped = signal.model_dump()
    assert dumped["operating_surface"] == dumped["market_context"] == dumped["watch"] == []
    assert dumped["signal_type"] is dumped["region"] is dumped["market_class"] is None
    assert dumped["operational_relevance"] is dumped["time_horizon"] is None
    assert dumped["summary"] == dumped["body"] == {}


def test_headings_match_without_regard_to_case_or_surrounding_spaces() -> None:
    text = (
        "  SIGNAL brief \n- Signal: T\n\twhat to WATCH  \n- Ports\n   Operating  Surface\n- Docks\n"
    )
    signal = parse(text)
    assert (signal.title, signal.watch, signal.operating_surface) == ("T", ["Ports"], ["Docks"])


def test_a_non_item_line_ends_the_section() -> None:
    text = "Signal Brief\n- Signal: T\nWhat To Watch\n- Ports\nA paragraph.\n- Docks\n"
    signal = parse(text)
    assert signal.watch == ["Ports"]
    assert signal.body == {"en": ["A paragraph.", "- Docks"]}


def test_signal_brief_keyed_items() -> None:
    text = page() + "- Signal Type: Policy agreement\n- Region: EU\n- Market Class: Case File\n"
    signal = parse(text)
    assert (signal.signal_type, signal.region, signal.market_class) == (
        "Policy agreement",
        "EU",
        "Case File",
    )


def test_signal_brief_keys_ignore_case_and_accept_a_full_width_colon() -> None:
    signal = parse("Signal Brief\n- signal type：Policy\n- SIGNAL: T\n")
    assert (signal.title, signal.signal_type) == ("T", "Policy")


def test_unknown_signal_brief_key_is_ignored() -> None:
    signal = parse(page() + "- Sector: Energy\n")
    assert "Energy" not in json.dumps(signal.model_dump(mode="json"))


def test_repeated_identical_brief_item_is_accepted() -> None:
    assert parse(page() + "- Region: EU\n- Region: EU\n").region == "EU"


def test_contradicting_brief_items_are_an_error_naming_the_second() -> None:
    error = page_error(page() + "- Region: EU\n- Region: UK\n")
    assert error.line == 4
    assert "Region" in error.reason


def test_market_context_keyed_items_are_fields_of_their_own() -> None:
    text = page() + (
        "Market Context\n- Operational relevance: High\n- A free sentence.\n"
        "- time horizon： Next year\n"
    )
    signal = parse(text)
    assert (signal.operational_relevance, signal.time_horizon) == ("High", "Next year")
    assert signal.market_context == ["A free sentence."]


def test_market_context_free_sentence_repeating_a_lead_sentence_is_kept() -> None:
    text = page("Ports are congested.") + "Market Context\n- Ports are congested.\n"
    signal = parse(text)
    assert signal.summary == {"en": ["Ports are congested."]}
    assert signal.market_context == ["Ports are congested."]


# --- title, id, source -----------------------------------------------------------------------


def test_title_gives_titles_in_its_language_and_the_derived_id() -> None:
    signal = parse(page(title="Antwerp port strike"))
    assert signal.titles == {"en": "Antwerp port strike"}
    assert signal.id == derived_id("Antwerp port strike")
    assert signal.id == parse(page(title="ANTWERP  port strike!")).id


def test_source_is_the_argument_and_url_is_null() -> None:
    signal = parse(page(), source="exports/week-12/antwerp.txt")
    assert (signal.source, signal.url) == ("exports/week-12/antwerp.txt", None)


def test_page_without_a_signal_item_is_an_error() -> None:
    error = page_error("Lead only.\nSignal Brief\n- Region: EU\n")
    assert error.reason == "no `- Signal:` item in Signal Brief"


def test_signal_item_outside_signal_brief_is_no_title() -> None:
    error = page_error("What To Watch\n- Signal: T\n")
    assert error.reason == "no `- Signal:` item in Signal Brief"


def test_empty_signal_item_is_an_error_naming_the_line() -> None:
    error = page_error("Lead.\nSignal Brief\n- Signal:\n")
    assert error.line == 3


def test_validation_error_becomes_a_source_error_with_the_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pages, "derived_id", lambda title: "x" * 500)
    error = page_error("Lead.\nSignal Brief\n- Signal: T\n")
    assert error.line == 3
    assert error.reason.startswith("id: ")


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("The memorandum was signed on 2024年4月1日 in Washington.", dt.date(2024, 4, 1)),
        ("双方于２０２４年４月１日签署。", dt.date(2024, 4, 1)),
        ("The memorandum was signed on 12 March 2025 in London.", dt.date(2025, 3, 12)),
        ("The memorandum was signed on March 12, 2025 in London.", dt.date(2025, 3, 12)),
        ("The memorandum was signed on 2025-03-12 in London.", dt.date(2025, 3, 12)),
        ("A 2025-02-30 draft was replaced on 2025-03-01.", dt.date(2025, 3, 1)),
        ("Dated 31 February 2025 in error; signed 1 March 2025.", dt.date(2025, 3, 1)),
    ],
)
def test_published_is_the_first_valid_date_in_the_body(paragraph: str, expected: dt.date) -> None:
    text = page("| 0.75–0.89 | A/B | Strong |", "Strong", "No date here.", paragraph)
    assert parse(text).published == expected


def test_published_item_wins_over_body_dates() -> None:
    text = page("| 0.75–0.89 | A/B | Strong |", "Strong", "Signed 12 March 2025.")
    assert parse(text + "- Published: 2025-03-14\n").published == dt.date(2025, 3, 14)


def test_published_item_that_is_not_a_date_is_an_error_naming_the_line() -> None:
    error = page_error("Lead.\nSignal Brief\n- Signal: T\n- Published: 2025-02-30\n")
    assert error.line == 4
    assert "not a date" in error.reason


def test_body_date_wins_over_lead_date() -> None:
    text = page(
        "Announced 1 March 2025.", "| 0.75–0.89 | A/B | Strong |", "Strong", "On 2025-03-12."
    )
    assert parse(text).published == dt.date(2025, 3, 12)


def test_lead_date_is_used_when_the_body_has_none() -> None:
    text = page("Announced March 1, 2025.", "| 0.75–0.89 | A/B | Strong |", "Strong", "No date.")
    assert parse(text).published == dt.date(2025, 3, 1)


def test_date_inside_a_cross_reference_is_not_the_signal_date() -> None:
    assert parse(page("Ports reopen. See also: Strike of 12 March 2025.")).published is None


def test_page_without_a_date_has_null_published() -> None:
    assert parse(page("Nothing dated here.")).published is None


# --- member briefing -------------------------------------------------------------------------


def words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\w{3,}", text)}


def test_member_briefing_and_everything_after_reach_no_field() -> None:
    text = fixture("member_briefing.txt")
    content, chrome = text.split("Member Briefing\n")
    signal = parse(text)
    values = " ".join(str(value) for value in signal.model_dump(mode="json").values())
    chrome_only = words("Member Briefing\n" + chrome) - words(content)
    assert {"login", "quokka", "wombat", "numbat", "echidna", "2031", "2032"} <= chrome_only
    assert words(values) & chrome_only == set()
    assert signal.model_dump() == parse(content).model_dump()
    assert (signal.tier, signal.internal, signal.confidence) == ("A", False, None)


# --- properties: any text gives a Parsed or a SourceError, nothing else ----------------------

SEED_LINES = fixture("seed.txt").split("\n")
PAGE_LINES = [
    *SEED_LINES,
    "| 0.35-0.54 | C/D | Weak-medium |",
    "| --- | --- | --- |",
    "|",
    "-",
    "- ",
    "Internal monitoring",
    "Strong",
    "Trade press reporting",
    "See also: A title.",
    "Text.另见：标题。 See also :Other.",
    "See also:",
    "2025-02-30 and 2024年2月30日 and 31 June 2025",
    "Talks on March 12, 2025 and ２０２５年３月１２日.",
    "\ufeffLead with a BOM.",
]
HEADINGS = [
    "Signal Brief",
    "Operating Surface",
    "Market Context",
    "What To Watch",
    "Member Briefing",
    "  signal BRIEF ",
    "market  context",
]
KEYS = [
    "Signal",
    "Signal Type",
    "Region",
    "Market Class",
    "Confidence",
    "Published",
    "Operational relevance",
    "Time horizon",
    "signal",
]
NEWLINE_FREE = st.text(st.characters(blacklist_characters="\r\n"), max_size=30)
VALUE = st.one_of(
    NEWLINE_FREE,
    st.sampled_from(["0.9", "1.5", "-0", ".5", "1.", "2025-03-12", "12 March 2025", "T", ""]),
)
KEYED_ITEM = st.builds(
    "- {}{}{}".format,
    st.sampled_from(KEYS),
    st.sampled_from([":", "：", " : ", ""]),
    VALUE,
)
ITEM = st.one_of(
    KEYED_ITEM,
    st.sampled_from([line for line in SEED_LINES if line.startswith("- ")]),
    NEWLINE_FREE.map("- {}".format),
)
PLAIN_LINE = st.one_of(st.sampled_from(PAGE_LINES + HEADINGS), NEWLINE_FREE, ITEM)
SECTION = st.builds(
    lambda heading, items: [heading, *items], st.sampled_from(HEADINGS), st.lists(ITEM, max_size=5)
)
TITLED_BRIEF = st.builds(
    lambda title, items: ["Signal Brief", f"- Signal: {title}", *items],
    st.one_of(NEWLINE_FREE, st.sampled_from(["Antwerp port strike", "美英签署AI安全测试备忘录"])),
    st.lists(ITEM, max_size=4),
)
BLOCK = st.one_of(SECTION, PLAIN_LINE.map(lambda line: [line]))
RAW_BLOCK = st.one_of(BLOCK, st.text(max_size=30).map(lambda text: [text]))


def flat(blocks: list[list[str]]) -> list[str]:
    return [line for block in blocks for line in block]


def pages_of(block: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """Blocks around a titled Signal Brief (usually there), so that many pages parse."""
    title = st.one_of(TITLED_BRIEF, TITLED_BRIEF, TITLED_BRIEF, st.just([]))
    blocks = st.lists(block, max_size=6).map(flat)
    return st.builds(lambda a, t, b: [*a, *t, *b], blocks, title, blocks)


LINES = pages_of(BLOCK)
RAW_LINES = pages_of(RAW_BLOCK)


def outcome(text: str) -> tuple[str, Any]:
    """What read_page made of `text`: the record, or the error's reason; anything else fails."""
    try:
        parsed = read_page("prop.txt", text)
    except SourceError as exc:
        assert exc.source == "prop.txt"
        event("SourceError")
        return "error", exc.reason
    assert isinstance(parsed, Parsed)
    assert len(parsed.signals) == 1 and parsed.errors == []
    assert parsed.signals[0].source == "prop.txt"
    event("Parsed")
    return "signal", parsed.signals[0].model_dump()


@given(st.text())
def test_any_text_gives_a_parsed_or_a_source_error(text: str) -> None:
    outcome(text)


@settings(max_examples=300)
@given(RAW_LINES, st.sampled_from(["\n", "\r\n"]))
def test_page_like_text_gives_a_parsed_or_a_source_error(lines: list[str], newline: str) -> None:
    outcome(newline.join(lines))


@settings(max_examples=200)
@given(LINES, st.randoms(use_true_random=False))
def test_crlf_blank_lines_and_surrounding_spaces_change_nothing(lines: list[str], rnd: Any) -> None:
    noisy = []
    for line in lines:
        noisy.extend(rnd.choice(["", " ", "\t "]) for _ in range(rnd.randint(0, 2)))
        noisy.append(rnd.choice(["", " ", "  "]) + line + rnd.choice(["", " ", "\t"]))
    assert outcome("\r\n".join(noisy)) == outcome("\n".join(lines))


@settings(max_examples=200)
@given(LINES, RAW_LINES)
def test_nothing_after_member_briefing_matters(before: list[str], after: list[str]) -> None:
    head = "\n".join([*before, "Member Briefing"])
    assert outcome(head + "\n" + "\n".join(after)) == outcome(head)
