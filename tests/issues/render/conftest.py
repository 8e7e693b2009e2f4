"""A small fixture issue whose member-only fields carry canary strings, built once per test."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from digest.config import Settings
from digest.issues.editions import Edition, Issue, build_issue
from digest.model import MEMBER_FIELDS, Signal
from digest.period import Period, parse_period

WEEK: Period = parse_period("2026-W47")
BASE = "https://news.example.org"


def canary(field: str, signal_id: str) -> str:
    return f"CANARY-{field}-{signal_id}-7f3a"


def make_signal(id: str, **fields: Any) -> Signal:
    fields.setdefault("titles", {"en": f"Headline {id}"})
    fields.setdefault("title", next(iter(fields["titles"].values())))
    fields.setdefault("published", dt.date(2026, 11, 18))
    fields.setdefault("market_class", "Policy Track")
    fields.setdefault("summary", {"en": [f"Public summary of {id}."]})
    return Signal(id=id, **fields)


def with_canaries(signal: Signal) -> Signal:
    """Every member-only field filled with a canary naming the field and the signal."""
    update = {f: f"{canary(f, signal.id)} first line.\nSecond {f} line." for f in MEMBER_FIELDS}
    return signal.model_copy(update=update)


def settings_for(**overrides: Any) -> Settings:
    data: dict[str, Any] = {"publication": {"base_url": BASE}}
    data.update(overrides)
    return Settings.model_validate(data)


class Helpers:
    """The helpers above as a fixture (tests cannot import conftest under importlib mode)."""

    canary = staticmethod(canary)
    make_signal = staticmethod(make_signal)
    with_canaries = staticmethod(with_canaries)
    settings_for = staticmethod(settings_for)
    parse = staticmethod(lambda edition: parse(edition))
    visible_text = staticmethod(lambda edition: visible_text(edition))
    week = WEEK
    base = BASE


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture
def settings() -> Settings:
    return settings_for()


@pytest.fixture
def signals() -> list[Signal]:
    return [
        with_canaries(make_signal("alpha", confidence=0.95, url="https://source.example/alpha")),
        with_canaries(
            make_signal(
                "beta",
                confidence=0.6,
                market_class="Case File",
                titles={"zh": "中文标题贝塔"},
                summary={"zh": ["只有中文的摘要。"]},
            )
        ),
        make_signal("gamma", titles={"en": "Bilingual", "zh": "双语标题"}, watch=["Next vote"]),
    ]


@pytest.fixture
def issue(signals: list[Signal], settings: Settings) -> Issue:
    return build_issue(signals, settings, WEEK)


def parse(edition: Edition) -> LexborHTMLParser:
    return LexborHTMLParser(edition.html)


def visible_text(edition: Edition) -> str:
    body = parse(edition).body
    assert body is not None
    return body.text(separator=" ")
