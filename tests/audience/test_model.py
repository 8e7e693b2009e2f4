from __future__ import annotations

import pytest

from digest.audience.model import (
    NAME_MAX,
    Locale,
    Status,
    Tier,
    clean_name,
    parse_interests,
    parse_locale,
    parse_status,
    parse_tier,
    parse_timezone,
)


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("open", Tier.OPEN),
        ("", Tier.OPEN),
        ("strategy_circle", Tier.STRATEGY_CIRCLE),
        ("Strategy Circle", Tier.STRATEGY_CIRCLE),
        ("STRATEGY CIRCLE", Tier.STRATEGY_CIRCLE),
        ("Strategic Circle", Tier.STRATEGY_CIRCLE),
        ("leadership_alliance", Tier.LEADERSHIP_ALLIANCE),
        ("leadership alliance", Tier.LEADERSHIP_ALLIANCE),
    ],
)
def test_tier_by_key_display_name_or_alias(text: str, tier: Tier) -> None:
    assert parse_tier(text) is tier


def test_unknown_tier_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown tier 'gold'.*strategy_circle"):
        parse_tier("gold")


def test_display_names() -> None:
    assert [t.display_name for t in Tier] == ["Open", "Strategy Circle", "Leadership Alliance"]


def test_locale_is_case_insensitive_and_defaults_to_english() -> None:
    assert parse_locale("ZH") is Locale.ZH
    assert parse_locale(" ") is Locale.EN


def test_unknown_locale() -> None:
    with pytest.raises(ValueError, match="unknown locale 'fr'"):
        parse_locale("fr")


def test_status_defaults_to_active_and_only_active_is_mailable() -> None:
    assert parse_status("") is Status.ACTIVE
    assert [s for s in Status if s.mailable] == [Status.ACTIVE]


def test_blank_timezone_is_the_publications() -> None:
    assert parse_timezone("", "Asia/Tokyo") == "Asia/Tokyo"


def test_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus", "UTC")


def test_name_loses_line_breaks_and_controls() -> None:
    hostile = "Eve\r\nBcc: victim@example.com\x00\u2028X"
    assert clean_name(hostile) == "Eve Bcc: victim@example.com X"


def test_name_is_length_capped() -> None:
    assert len(clean_name("x" * 10_000)) == NAME_MAX


def test_markup_in_a_name_is_kept_as_literal_text() -> None:
    assert clean_name("<b>Bob</b>") == "<b>Bob</b>"


def test_interests_are_cleaned_deduplicated_and_sorted() -> None:
    assert parse_interests(" Policy Track ;Supply Chain;;policy track;Policy Track") == (
        "Policy Track",
        "Supply Chain",
        "policy track",
    )


def test_no_interests_means_all() -> None:
    assert parse_interests("") == ()
