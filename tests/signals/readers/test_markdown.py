from __future__ import annotations

import datetime as dt

import pytest

from digest.signals.readers.base import SourceError
from digest.signals.readers.markdown import read_markdown

GOOD = """---
title: EU tightens chip export screening
titles:
  zh: 欧盟收紧芯片出口审查
published: 2026-11-17
market_class: Supply Chain
confidence: 0.82
summary:
  en:
    - Brussels adds a screening step for advanced lithography exports.
watch: [DG TRADE guidance]
# member-only
trend_context: |
  Screening shifts leverage toward member states with fabs.
source_notes: Council working-party minutes.
---
First body paragraph
spans two lines.

第二段是中文。
"""


def test_front_matter_fields_and_body_paragraphs() -> None:
    signal = read_markdown("eu.md", GOOD).signals[0]
    assert signal.title == "EU tightens chip export screening"
    assert signal.titles == {"zh": "欧盟收紧芯片出口审查"}
    assert signal.published == dt.date(2026, 11, 17)
    assert (signal.tier, signal.market_class) == ("A/B", "Supply Chain")
    assert signal.body == {
        "en": ["First body paragraph spans two lines."],
        "zh": ["第二段是中文。"],
    }
    assert signal.watch == ["DG TRADE guidance"]


def test_member_only_fields_come_from_front_matter() -> None:
    signal = read_markdown("eu.md", GOOD).signals[0]
    assert signal.trend_context == "Screening shifts leverage toward member states with fabs."
    assert signal.source_notes == "Council working-party minutes."
    assert signal.source == "eu.md"


def test_misspelt_field_names_file_field_and_line() -> None:
    text = "---\ntitle: T\nmarket_clas: Case File\n---\nBody.\n"
    with pytest.raises(SourceError) as info:
        read_markdown("typo.md", text)
    assert str(info.value) == "typo.md:3: unknown field 'market_clas'"


def test_wrong_type_names_file_field_and_line() -> None:
    text = "---\ntitle: T\n\nconfidence: high\n---\n"
    with pytest.raises(SourceError) as info:
        read_markdown("type.md", text)
    assert info.value.line == 4 and "confidence" in str(info.value)


def test_nested_wrong_type_names_the_top_level_line() -> None:
    text = "---\ntitle: T\nsummary:\n  fr: [Bonjour]\n---\n"
    with pytest.raises(SourceError) as info:
        read_markdown("lang.md", text)
    assert info.value.line == 3 and "summary.fr" in str(info.value)


def test_a_missing_title_is_named_not_the_id_it_would_make() -> None:
    with pytest.raises(SourceError) as info:
        read_markdown("untitled.md", "---\npublished: 2026-11-20\n---\nBody.\n")
    assert "field 'title': required" in str(info.value)


def test_missing_front_matter_is_an_error_at_line_one() -> None:
    with pytest.raises(SourceError, match="no front matter") as info:
        read_markdown("plain.md", "# Just a heading\n")
    assert info.value.line == 1


def test_unclosed_front_matter_is_an_error() -> None:
    with pytest.raises(SourceError, match="not closed"):
        read_markdown("open.md", "---\ntitle: T\n")


def test_invalid_yaml_names_its_line() -> None:
    with pytest.raises(SourceError, match="not valid YAML") as info:
        read_markdown("bad.md", "---\ntitle: T\nwatch: [a, b\n---\n")
    assert info.value.line is not None and info.value.line >= 3


def test_body_key_in_front_matter_is_refused() -> None:
    with pytest.raises(SourceError, match="body"):
        read_markdown("b.md", "---\ntitle: T\nbody: x\n---\n")
