"""Display columns and line breaks: CJK counts two, Latin breaks at spaces, Chinese anywhere
but before a closing mark."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from digest.issues.render.widths import (
    _unit_width,
    _wrap_units,
    cut,
    units,
    width,
    wrap,
    wrap_line,
)

# Latin text as editions write it: one column a character, including the marks that are not
# ASCII (dashes, the meter's pips, curly quotes, accents), links, bullets and runs of spaces.
NARROW = st.lists(
    st.sampled_from(
        [
            "word",
            "Cyber",
            "Act",
            ",",
            ".",
            " ",
            " ",
            "  ",
            "\t",
            "—",
            "●",
            "○",
            "’",
            "…",
            "é",
            "(",
            ")",
            "- ",
            "1. ",
            "https://news.example.org/signals/a-long-one",
            "%%view_url%%",
            "x" * 30,
            "identifier_" * 9,
        ]
    ),
    max_size=80,
).map("".join)


def test_cjk_characters_take_two_columns() -> None:
    assert width("DUV光刻机") == 3 + 3 * 2
    assert width("（ENISA）") == 2 + 5 + 2  # fullwidth brackets are wide too


def test_a_cut_ends_between_words_with_an_ellipsis() -> None:
    cut_title = cut("ENISA publishes first Cyber Resilience Act figures", 30)
    assert cut_title == "ENISA publishes first Cyber…"
    assert width(cut_title) <= 30


def test_a_cut_drops_dangling_punctuation_before_the_ellipsis() -> None:
    assert cut("Dutch licences — servicing of installed DUV scanners", 20) == "Dutch licences…"


def test_chinese_is_cut_between_characters_never_before_a_closing_mark() -> None:
    title = "荷兰将已装DUV光刻机的维护纳入出口许可，影响深远"
    result = cut(title, 40)
    assert width(result) <= 40 and result.endswith("…") and "，…" not in result
    assert title.startswith(result[:-1])


def test_nothing_fits_gives_nothing() -> None:
    assert cut("Supercalifragilisticexpialidocious", 10) == ""


def test_wrapping_keeps_words_and_hangs_bullets() -> None:
    line = "  - " + " ".join(["watch"] * 30)
    lines = wrap(line, 40).split("\n")
    assert all(width(x) <= 40 for x in lines)
    assert all(x.startswith("    watch") for x in lines[1:])
    assert " ".join(x.strip() for x in lines) == line.strip()


def test_wrapping_chinese_counts_two_columns_and_keeps_every_character() -> None:
    text = "欧盟网络安全局公布了《网络弹性法案》单一报告平台关于被积极利用漏洞的首批数据。" * 2
    lines = wrap(text, 76).split("\n")
    assert len(lines) > 1 and all(width(x) <= 76 for x in lines)
    assert "".join(lines) == text
    assert not any(x.startswith(("，", "。", "》")) for x in lines)


def test_a_long_url_gets_a_line_of_its_own() -> None:
    url = "https://news.example.org/view/" + "x" * 80
    assert wrap(f"Read it at {url} today", 76).split("\n") == ["Read it at", url, "today"]


def test_a_word_longer_than_a_line_that_is_no_link_is_cut_to_fit() -> None:
    word = "extraordinarily_long_unbreakable_identifier_" * 3
    lines = wrap(f"- A headline about {word} in the supply chain", 76).split("\n")
    assert all(width(x) <= 76 for x in lines)
    assert "".join(x.strip() for x in lines).count(word) == 1  # every character kept, in order


def test_a_placeholder_that_becomes_a_link_is_never_cut() -> None:
    line = "View it: %%view_url_text%%" + "#" + "s" * 80
    assert any(x.startswith("%%view_url_text%%") for x in wrap(line, 76).split("\n"))


@given(NARROW, st.sampled_from([12, 40, 76]))
def test_latin_lines_wrap_as_the_general_rule_wraps_them(line: str, columns: int) -> None:
    """A line of one-column characters takes a fast path (words found by one expression); it
    must break exactly where the general rule (units, display widths) breaks."""
    general = _wrap_units(line, columns, units(line), _unit_width)
    assert wrap_line(line, columns) == ([line] if width(line) <= columns else general)


def test_a_build_wraps_a_shared_paragraph_once_and_the_same_way() -> None:
    paragraph = " ".join(["Member analysis of the export licence regime"] * 4)
    memo: dict[str, list[str]] = {}
    first = wrap(f"Open\n{paragraph}", 76, memo)
    assert memo[paragraph] == wrap(paragraph, 76).split("\n")
    assert wrap(f"Strategy\n{paragraph}", 76, memo) == f"Strategy\n{wrap(paragraph, 76)}"
    assert first == wrap(f"Open\n{paragraph}", 76)
