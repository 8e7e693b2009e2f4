from __future__ import annotations

import pytest

from digest.scale import band_for, band_for_label, meter_filled, meter_text


@pytest.mark.parametrize(
    ("score", "tier", "label"),
    [
        (1.0, "A", "High — direct sources"),
        (0.90, "A", "High — direct sources"),
        (0.895, "A/B", "Strong"),
        (0.75, "A/B", "Strong"),
        (0.74, "B/C", "Medium"),
        (0.55, "B/C", "Medium"),
        (0.35, "C/D", "Weak–medium"),
        (0.10, "D", "Weak signal"),
        (0.0999, "D", "Internal monitoring"),
        (0.0, "D", "Internal monitoring"),
    ],
)
def test_bands_are_closed_below_and_open_above(score: float, tier: str, label: str) -> None:
    band = band_for(score)
    assert (band.tier, band.label) == (tier, label)


def test_only_the_lowest_band_is_internal() -> None:
    assert band_for(0.05).internal
    assert not band_for(0.10).internal


@pytest.mark.parametrize(
    "text", ["Weak-medium", "weak—MEDIUM", "  Weak–medium ", "High - direct sources"]
)
def test_labels_match_whatever_dash_and_case(text: str) -> None:
    assert band_for_label(text) is not None


def test_other_text_is_no_label() -> None:
    assert band_for_label("Direct public sources") is None


def test_meter_fills_one_step_per_tier_from_d_to_a() -> None:
    assert [meter_filled(t) for t in ("A", "A/B", "B/C", "C/D", "D")] == [5, 4, 3, 2, 1]


def test_meter_text_of_an_unrated_signal_is_hollow_with_no_label() -> None:
    assert meter_text(None) == "○○○○○"
    assert meter_text("B/C") == "●●●○○ B/C"
