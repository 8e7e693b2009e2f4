from __future__ import annotations

from digest.model import Signal
from digest.signals.merging import fold, merge_by_id


def test_one_signal_per_id_with_empty_fields_filled_from_the_other_source() -> None:
    page = Signal(id="s", title="T", region="EU", source="page.txt")
    editor = Signal(id="s", title="T", trend_context="deeper", watch=["x"], source="note.md")
    (merged,) = merge_by_id([page, editor])
    assert (merged.trend_context, merged.region, merged.source) == ("deeper", "EU", "note.md")


def test_a_later_filled_field_wins() -> None:
    assert fold([{"region": "EU"}, {"region": "UK"}]) == {"region": "UK"}


def test_a_later_empty_field_never_erases() -> None:
    assert fold([{"watch": ["a"]}, {"watch": []}]) == {"watch": ["a"]}


def test_distinct_ids_keep_their_first_seen_order() -> None:
    signals = [Signal(id=i, title=i) for i in ("b", "a", "b")]
    assert [s.id for s in merge_by_id(signals)] == ["b", "a"]
