"""The example editions as a reader's client shows them, in Chromium: the first phone screen, and
the light and the dark colour scheme emulated, their computed colours read back and held to the
palette and to 4.5:1. Skips without Chromium or Playwright."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digest.config import Settings
from digest.issues.collect import from_files
from digest.issues.editions import Issue, build_issue
from digest.issues.render.palette import AA_NORMAL, DARK, LIGHT, Palette, contrast
from digest.period import parse_period

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "signals"

READ = """() => {
  const css = (sel, prop) => { const n = document.querySelector(sel);
    return n ? getComputedStyle(n)[prop] : null; };
  return {
    page: css('body', 'backgroundColor'),
    paper: css('div.pp', 'backgroundColor'),
    headline: css('h3 a', 'color'),
    body: css('div.it p:nth-of-type(2)', 'color'),
    meta: css('div.it p.mut', 'color'),
    section: css('h2.sh', 'color'),
    footer: css('div.pg p.mut', 'color'),
  };
}"""


def _hex(rgb: str) -> str:
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


@pytest.fixture(scope="module")
def examples() -> Issue:
    settings = Settings()
    week = parse_period("2026-W47")
    return build_issue(from_files([str(EXAMPLES)], settings.sources, week).signals, settings, week)


@pytest.mark.parametrize(("scheme", "palette"), [("light", LIGHT), ("dark", DARK)])
def test_each_scheme_shows_its_palette_at_aa_contrast(
    examples: Issue, browser: Any, scheme: str, palette: Palette
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, color_scheme=scheme)
    page = context.new_page()
    try:
        for edition in examples.editions:
            page.set_content(edition.html)
            seen = {k: _hex(v) for k, v in page.evaluate(READ).items() if v}
            where = (edition.tier, edition.locale, scheme)
            assert seen["page"] == palette.page and seen["paper"] == palette.paper, where
            assert seen["headline"] == seen["body"] == palette.ink, where
            assert seen["meta"] == seen["footer"] == palette.muted, where
            assert seen["section"] == palette.accent, where
            for text in ("headline", "meta", "section"):
                assert contrast(seen[text], seen["paper"]) >= AA_NORMAL, (where, text)
            assert contrast(seen["footer"], seen["page"]) >= AA_NORMAL, where
    finally:
        context.close()


def test_the_first_phone_screen_briefs_the_week(examples: Issue, browser: Any) -> None:
    """At 375×667, before any scrolling: five takeaways and the row of sections are in view."""
    context = browser.new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    try:
        for edition in examples.editions:
            page.set_content(edition.html)
            bottoms = page.evaluate(
                """() => [...document.querySelectorAll('li a[href^="#s-"], a[href^="#c-"]')]
                         .map(a => a.getBoundingClientRect().bottom)"""
            )
            where = (edition.tier, edition.locale)
            assert len(bottoms) >= 5 + 4, where  # five takeaways, four sections (and the radar)
            assert max(bottoms) <= 667, (where, max(bottoms))
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, where
    finally:
        context.close()
