"""One rule for one signal read from several sources, used by the store and by file-only builds.

A published page, then the editor's Markdown with the member-only text, are the same signal. The
records are folded in the order they were read: a later record's filled fields win, and its empty
fields never erase what an earlier source said. So re-reading one source can change only what
that source says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from digest.model import Signal


def is_filled(value: Any) -> bool:
    """Whether a field says something (the empty forms of every field type say nothing)."""
    return value not in (None, "", [], {})


def fold(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Records of one signal, oldest first, folded into one (the newest filled field wins)."""
    merged: dict[str, Any] = {}
    for record in records:
        for key, value in record.items():
            if is_filled(value) or key not in merged:
                merged[key] = value
    return merged


def merge_by_id(signals: Iterable[Signal]) -> list[Signal]:
    """One signal per id, in first-seen order, each folded from its records in reading order."""
    by_id: dict[str, list[Signal]] = {}
    for signal in signals:
        by_id.setdefault(signal.id, []).append(signal)
    return [
        same[0] if len(same) == 1 else Signal.model_validate(fold(s.to_json_dict() for s in same))
        for same in by_id.values()
    ]
