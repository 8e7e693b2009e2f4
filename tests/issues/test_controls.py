"""The rules of an editor's change, on the value alone (no database)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from digest.issues.controls import (
    NO_CONTROLS,
    ControlsError,
    IssueControls,
    excluding,
    including,
    merging,
    unmerging,
    with_lead,
    with_note,
)


def test_excluding_adds_the_ids() -> None:
    assert excluding(NO_CONTROLS, ["a", "b"]).excluded == {"a", "b"}


def test_including_removes_only_the_named_ids() -> None:
    controls = excluding(NO_CONTROLS, ["a", "b"])
    assert including(controls, ["a"]).excluded == {"b"}


def test_the_lead_cannot_be_excluded() -> None:
    with pytest.raises(ControlsError, match="a is the lead story"):
        excluding(with_lead(NO_CONTROLS, "a"), ["a"])


def test_a_merged_away_signal_cannot_be_excluded_on_its_own() -> None:
    with pytest.raises(ControlsError, match="b is merged into a: exclude a"):
        excluding(merging(NO_CONTROLS, "a", ["b"]), ["b"])


def test_an_excluded_signal_cannot_lead() -> None:
    with pytest.raises(ControlsError, match="a is excluded"):
        with_lead(excluding(NO_CONTROLS, ["a"]), "a")


def test_a_merged_away_signal_cannot_lead() -> None:
    with pytest.raises(ControlsError, match="make a the lead"):
        with_lead(merging(NO_CONTROLS, "a", ["b"]), "b")


def test_clearing_the_lead() -> None:
    assert with_lead(with_lead(NO_CONTROLS, "a"), None).lead is None


def test_merging_maps_each_drop_to_the_kept_signal() -> None:
    assert dict(merging(NO_CONTROLS, "a", ["b", "c"]).merges) == {"b": "a", "c": "a"}


def test_merging_a_signal_into_itself_is_refused() -> None:
    with pytest.raises(ControlsError, match="cannot merge a into itself"):
        merging(NO_CONTROLS, "a", ["a"])


def test_merging_into_a_merged_away_signal_is_refused() -> None:
    controls = merging(NO_CONTROLS, "a", ["b"])
    with pytest.raises(ControlsError, match="b is itself merged into a: merge into a instead"):
        merging(controls, "b", ["c"])


def test_merging_a_signal_already_merged_elsewhere_is_refused() -> None:
    controls = merging(NO_CONTROLS, "a", ["b"])
    with pytest.raises(ControlsError, match="b is already merged into a: unmerge it first"):
        merging(controls, "c", ["b"])


def test_merging_a_kept_signal_away_would_chain_and_is_refused() -> None:
    controls = merging(NO_CONTROLS, "a", ["b"])
    with pytest.raises(ControlsError, match="b is merged into a: merge a into c would chain"):
        merging(controls, "c", ["a"])


def test_the_lead_cannot_be_merged_away() -> None:
    with pytest.raises(ControlsError, match="b is the lead story: make a the lead"):
        merging(with_lead(NO_CONTROLS, "b"), "a", ["b"])


def test_merging_into_an_excluded_signal_is_refused() -> None:
    with pytest.raises(ControlsError, match="a is excluded"):
        merging(excluding(NO_CONTROLS, ["a"]), "a", ["b"])


def test_a_refused_merge_changes_nothing_of_the_value() -> None:
    controls = merging(NO_CONTROLS, "a", ["b"])
    with pytest.raises(ControlsError):
        merging(controls, "c", ["d", "b"])
    assert dict(controls.merges) == {"b": "a"}


def test_merging_again_clears_an_earlier_split() -> None:
    controls = unmerging(NO_CONTROLS, "b")
    assert "b" not in merging(controls, "a", ["b"]).unmerged


def test_unmerging_a_merge_by_hand_removes_it() -> None:
    controls = unmerging(merging(NO_CONTROLS, "a", ["b", "c"]), "b")
    assert dict(controls.merges) == {"c": "a"} and not controls.unmerged


def test_unmerging_a_signal_not_merged_by_hand_splits_it_from_automatic_merges() -> None:
    assert unmerging(NO_CONTROLS, "b").unmerged == {"b"}


def test_unmerging_the_kept_signal_of_a_merge_by_hand_is_refused() -> None:
    with pytest.raises(ControlsError, match="unmerge b instead"):
        unmerging(merging(NO_CONTROLS, "a", ["b"]), "a")


def test_a_note_is_set_per_language() -> None:
    controls = with_note(with_note(NO_CONTROLS, "en", "Hello"), "zh", "你好")
    assert dict(controls.notes) == {"en": "Hello", "zh": "你好"}


def test_a_blank_note_clears_that_language_only() -> None:
    controls = with_note(with_note(NO_CONTROLS, "en", "Hello"), "zh", "你好")
    assert dict(with_note(controls, "en", "  ").notes) == {"zh": "你好"}


def test_equal_choices_make_equal_values() -> None:
    built = with_note(NO_CONTROLS, "en", "x")
    assert built == IssueControls(notes=MappingProxyType({"en": "x"}))
