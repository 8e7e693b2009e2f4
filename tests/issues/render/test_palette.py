"""Dark mode by design: every text/background pair of both schemes meets WCAG AA, the editions
declare both schemes, and every colour they print comes from the palette."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

import pytest

from digest.issues.editions import Issue
from digest.issues.render.palette import AA_NORMAL, DARK, LIGHT, PAIRS, Palette, contrast


@pytest.mark.parametrize("scheme", [LIGHT, DARK], ids=["light", "dark"])
@pytest.mark.parametrize("pair", PAIRS, ids=[f"{f}-on-{b}" for f, b in PAIRS])
def test_every_text_background_pair_meets_aa(scheme: Palette, pair: tuple[str, str]) -> None:
    fg, bg = (getattr(scheme, name) for name in pair)
    assert contrast(fg, bg) >= AA_NORMAL, (pair, fg, bg, round(contrast(fg, bg), 2))


def test_the_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_dark_scheme_differs_from_the_light_one() -> None:
    for f in fields(Palette):
        assert getattr(LIGHT, f.name) != getattr(DARK, f.name), f.name


def test_editions_declare_both_schemes(issue: Issue, h: Any) -> None:
    for edition in issue.editions:
        tree = h.parse(edition)
        for name in ("color-scheme", "supported-color-schemes"):
            meta = tree.css_first(f'meta[name="{name}"]')
            assert meta is not None and meta.attributes["content"] == "light dark"


def test_the_dark_palette_is_applied_for_dark_mode_and_outlook(issue: Issue) -> None:
    html = issue.edition("leadership_alliance", "zh").html
    dark_block = html[html.index("@media (prefers-color-scheme: dark)") :]
    for colour in (DARK.paper, DARK.ink, DARK.muted, DARK.accent, DARK.box):
        assert colour in dark_block
    assert "[data-ogsc] .pp p" in html and "[data-ogsb] .pp" in html


def test_every_colour_printed_is_a_palette_colour(issue: Issue) -> None:
    known = {getattr(p, f.name) for p in (LIGHT, DARK) for f in fields(Palette)}
    for edition in issue.editions:
        printed = set(re.findall(r"#[0-9a-fA-F]{6}\b", edition.html))
        assert printed <= known, (edition.tier, edition.locale, printed - known)
