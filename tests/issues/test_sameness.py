"""What counts as the same signal: canonical URLs and normalized title-and-lead keys."""

from __future__ import annotations

import datetime as dt

import pytest

from digest.issues.sameness import canonical_url, text_keys
from digest.model import Signal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTPS://News.Example.COM/a", "https://news.example.com/a"),
        ("https://news.example.com:443/a", "https://news.example.com/a"),
        ("http://news.example.com:80/a", "http://news.example.com/a"),
        ("https://news.example.com/a#section", "https://news.example.com/a"),
        ("https://news.example.com/a/", "https://news.example.com/a"),
        ("https://news.example.com/a?utm_source=x&utm_medium=y", "https://news.example.com/a"),
        ("https://news.example.com/a?fbclid=1&id=3&gclid=2", "https://news.example.com/a?id=3"),
    ],
)
def test_spellings_of_one_page_share_a_canonical_url(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://news.example.com/a", "https://news.example.com/b"),
        ("https://news.example.com/a?id=3", "https://news.example.com/a?id=4"),
        ("https://news.example.com:8443/a", "https://news.example.com/a"),
        ("https://news.example.com/A", "https://news.example.com/a"),  # paths are case-sensitive
        ("http://news.example.com/a", "https://news.example.com/a"),
    ],
)
def test_different_pages_keep_different_canonical_urls(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_no_url_has_no_canonical_url() -> None:
    assert canonical_url(None) is None and canonical_url("  ") is None


def sig(**fields: object) -> Signal:
    return Signal.model_validate({"id": "x", "published": dt.date(2026, 11, 17), **fields})


def test_case_spacing_and_punctuation_do_not_change_the_text_key() -> None:
    a = sig(title="Court fines carrier", summary={"en": ["The court ruled."]})
    b = sig(title="  court FINES, carrier!", summary={"en": ["the court  ruled"]})
    assert text_keys(a) == text_keys(b)


def test_another_lead_changes_the_text_key() -> None:
    a = sig(title="Court fines carrier", summary={"en": ["The court ruled."]})
    b = sig(title="Court fines carrier", summary={"en": ["The carrier appealed."]})
    assert not text_keys(a) & text_keys(b)
