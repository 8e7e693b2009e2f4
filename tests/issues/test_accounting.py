"""The accounting of a period's signals, on a held-out-style week: 40 distinct signals written
from one template (4 market classes × 10) plus true duplicates (the same URL with tracking
parameters, the same text scraped twice). Issue 13: such a week used to show 5 signals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from digest.config import Settings
from digest.issues.accounting import (
    EXCLUDED,
    INTERNAL,
    OUTSIDE_INTERESTS,
    edition_name,
    hidden_reason,
)
from digest.issues.controls import IssueControls
from digest.issues.editions import Issue, build_issue, manifest
from digest.model import Signal
from digest.period import parse_period

WEEK = parse_period("2026-W47")
CLASSES = ("Policy Track", "Supply Chain", "Case File", "Infrastructure")
MOVES = ("consortium moves on spectrum", "regulator opens review", "operator files plan")
SCORES = (0.95, 0.91, 0.86, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.92)


def heldout(n: int, **fields: Any) -> Signal:
    klass = CLASSES[n // 10]
    data: dict[str, Any] = {
        "id": f"heldout-{n:02d}",
        "title": f"Held-out signal {n:02d}: {MOVES[n % 3]}",
        "url": f"https://desk.example.com/heldout/{n:02d}",
        "market_class": klass,
        "confidence": SCORES[n % 10],
        "published": WEEK.start + dt.timedelta(days=n % 7),
        "summary": {"en": [f"Held-out signal {n:02d} reports that a {klass} actor moved."]},
    }
    data.update(fields)
    return Signal.model_validate(data)


def week() -> list[Signal]:
    """40 distinct signals, then the true duplicates of two of them."""
    signals = [heldout(n) for n in range(40)]
    same_url = heldout(
        4,
        id="feed-copy-04",
        url="HTTPS://Desk.example.com/heldout/04/?utm_source=rss&fbclid=x#top",
        confidence=0.3,
    )
    scraped = heldout(
        17,
        id="scrape-17",
        url=None,
        title="held-out SIGNAL 17 —  operator files plan!",
        summary={"en": ["Held-out signal 17 reports that a supply chain actor moved"]},
        confidence=0.35,
    )
    return [*signals, same_url, scraped]


@pytest.fixture(scope="module")
def issue() -> Issue:
    return build_issue(week(), Settings(), WEEK)


def test_every_distinct_signal_is_shown_where_the_tier_allows_ten_per_class(issue: Issue) -> None:
    shown = set(issue.edition("strategy_circle", "en").signal_ids)
    assert shown == {f"heldout-{n:02d}" for n in range(40)}


def test_the_open_tier_shows_its_limit_and_counts_the_rest_as_more(issue: Issue) -> None:
    edition = issue.edition("open", "en")
    assert len(edition.signal_ids) == 4 * 6
    assert edition.text.count("4 more in ") == 4


def test_every_true_duplicate_is_merged_into_the_distinct_signal(issue: Issue) -> None:
    assert issue.grouped.duplicates == {"feed-copy-04": "heldout-04", "scrape-17": "heldout-17"}


def test_no_signal_is_missing_from_an_edition_without_a_reason(issue: Issue) -> None:
    assert issue.accounting is not None
    fates = {f.id: f for f in issue.accounting.signals}
    assert len(fates) == 42
    for edition in issue.editions:
        name = edition_name(edition.tier, edition.locale, edition.interests)
        for fate in fates.values():
            if fate.id not in edition.signal_ids:
                assert fate.missing.get(name) or fate.merged_into or fate.reason, (fate, name)


def test_a_signal_over_the_open_limit_says_so(issue: Issue) -> None:
    assert issue.accounting is not None
    fate = issue.accounting.fate("heldout-08")  # 0.3: the lowest of its class of ten
    assert fate is not None
    assert fate.missing["open.en"] == "over the tier's item limit of 6 (4 more in Policy Track)"
    assert "strategy_circle.en" in fate.shown_in


def test_a_merged_record_names_what_it_merged_into(issue: Issue) -> None:
    assert issue.accounting is not None
    fate = issue.accounting.fate("feed-copy-04")
    assert fate is not None
    assert (fate.merged_into, fate.reason, fate.shown_in) == (
        "heldout-04",
        "merged into heldout-04",
        (),
    )


def test_formulaic_wording_is_not_suggested_as_one_story(issue: Issue) -> None:
    assert issue.accounting is not None and issue.accounting.suggested_merges == []


def test_the_manifest_lists_every_signal_and_the_suggestions(issue: Issue) -> None:
    data = manifest(
        WEEK, issue.editions, duplicates=issue.grouped.duplicates, accounting=issue.accounting
    )
    assert len(data["signals"]) == 42 and data["suggested_merges"] == []
    assert set(data["signals"][0]) >= {"id", "shown_in", "reason", "merged_into"}
    assert data["duplicates"] == issue.grouped.duplicates


def test_internal_monitoring_is_accounted_for() -> None:
    internal = heldout(0, id="watch", confidence=0.05)
    issue = build_issue([heldout(1), internal], Settings(), WEEK)
    assert issue.accounting is not None
    fate = issue.accounting.fate("watch")
    assert fate is not None and (fate.reason, fate.shown_in) == (INTERNAL, ())


def test_an_excluded_signal_is_accounted_for() -> None:
    controls = IssueControls(excluded=frozenset({"heldout-02"}))
    issue = build_issue([heldout(1), heldout(2)], Settings(), WEEK, controls=controls)
    assert issue.accounting is not None
    fate = issue.accounting.fate("heldout-02")
    assert fate is not None and (fate.reason, fate.shown_in) == (EXCLUDED, ())


def test_a_tier_that_hides_a_confidence_tier_says_so() -> None:
    settings = Settings.model_validate({"tiers": {"open": {"confidence_tiers": ["A", "A/B"]}}})
    issue = build_issue([heldout(1), heldout(8)], settings, WEEK)  # 0.91 and 0.3 (D)
    assert issue.accounting is not None
    fate = issue.accounting.fate("heldout-08")
    assert fate is not None and fate.missing["open.en"] == hidden_reason("D", "open")


def test_an_interest_set_edition_says_the_class_is_not_followed() -> None:
    sets = [frozenset(), frozenset({"Supply Chain"})]
    issue = build_issue([heldout(1)], Settings(), WEEK, sets)  # Policy Track
    assert issue.accounting is not None
    fate = issue.accounting.fate("heldout-01")
    assert fate is not None
    assert fate.missing["open.en[Supply Chain]"] == OUTSIDE_INTERESTS


def test_the_lead_heads_the_subject() -> None:
    controls = IssueControls(lead="heldout-08")
    issue = build_issue([heldout(1), heldout(8)], Settings(), WEEK, controls=controls)
    edition = issue.edition("open", "en")
    assert edition.signal_ids[0] == "heldout-08" and "Held-out signal 08" in edition.subject


def test_a_reason_names_an_interest_set_once_not_each_of_its_editions() -> None:
    sets = [frozenset(), frozenset({"Supply Chain"})]
    issue = build_issue([heldout(1)], Settings(), WEEK, sets)  # Policy Track
    assert issue.accounting is not None
    fate = issue.accounting.fate("heldout-01")
    assert fate is not None
    assert fate.reason == f"{OUTSIDE_INTERESTS} (readers of Supply Chain only)"
