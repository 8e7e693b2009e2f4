from __future__ import annotations

import orjson
import pytest

from digest.model import Signal
from digest.signals.readers.base import SourceError
from digest.signals.readers.jsonrecords import read_json, read_jsonl

FULL = Signal(
    id="s-1",
    title="美英签署AI安全测试备忘录",
    titles={"zh": "美英签署AI安全测试备忘录", "en": "US and UK sign AI testing memorandum"},
    source="pages/seed.txt",
    summary={"en": ["One."], "zh": ["二。"]},
    body={"zh": ["正文。"]},
    see_also=["Other"],
    market_class="Case File",
    confidence=0.91,
    published="2024-04-01",
    watch=["UK AI Safety Institute"],
    trend_context="Members only.",
)


def test_what_json_prints_reads_back_identical() -> None:
    text = orjson.dumps([FULL.to_json_dict(), Signal(id="b", title="B").to_json_dict()]).decode()
    parsed = read_json("out.json", text)
    assert parsed.errors == []
    assert parsed.signals == [FULL, Signal(id="b", title="B")]


def test_a_single_object_is_one_record() -> None:
    parsed = read_json("one.json", orjson.dumps(FULL.to_json_dict()).decode())
    assert parsed.signals == [FULL]


def test_missing_id_is_derived_from_the_title_and_source_filled_in() -> None:
    parsed = read_json("x.json", '{"title": "Chip export rules tighten"}')
    again = read_json("y.json", '{"title": "  chip EXPORT rules, tighten! "}')
    assert parsed.signals[0].id == again.signals[0].id
    assert parsed.signals[0].source == "x.json"


def test_bad_record_names_its_line_and_field_and_keeps_the_good_ones() -> None:
    text = (
        '[\n  {"title": "Good"},\n  {"title": "Bad", "confidence": 1.5},\n'
        '  {"title": "Also good"}\n]'
    )
    parsed = read_json("mixed.json", text)
    assert [s.title for s in parsed.signals] == ["Good", "Also good"]
    assert [str(e) for e in parsed.errors] == [
        "mixed.json:3: field 'confidence': Input should be less than or equal to 1"
    ]


def test_unknown_field_is_named() -> None:
    parsed = read_json("x.json", '{"title": "T", "confidance": 0.5}')
    assert "unknown field 'confidance'" in str(parsed.errors[0])


def test_invalid_json_is_one_error_with_a_line() -> None:
    with pytest.raises(SourceError) as info:
        read_json("broken.json", '[\n{"title": "T",\n')
    assert info.value.source == "broken.json" and info.value.line is not None


def test_jsonl_reports_each_bad_line_by_number() -> None:
    text = '{"title": "One"}\n\nnot json\n{"title": 5}\n{"title": "Two"}\n'
    parsed = read_jsonl("feed.jsonl", text)
    assert [s.title for s in parsed.signals] == ["One", "Two"]
    assert [e.line for e in parsed.errors] == [3, 4]


def test_an_oversized_field_is_an_error_naming_field_line_and_sizes() -> None:
    text = '[{"title": "Fine"},\n{"title": "Dump",\n "body": {"en": ["' + "x" * 200_000 + '"]}}]'
    parsed = read_json("dump.json", text)
    assert [s.title for s in parsed.signals] == ["Fine"]
    assert [str(e) for e in parsed.errors] == [
        "dump.json:2: field 'body.en.0': too long: 200,000 characters; the cap is 10,000 "
        "(docs/signals.md: The signal schema)"
    ]
