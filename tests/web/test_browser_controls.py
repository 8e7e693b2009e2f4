"""The editor's controls in a real browser: Playwright driving Debian's Chromium against the app.

Each test gets a fresh installation (the example week built and frozen) and clicks the controls
on the issue page, then looks for their effect on the page and in the rebuilt edition.
Screenshots of the controls at 375 and 1024 px land in artifacts/web/. Skips without Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest.signals.store import signals_between
from digest.web.demo import Demo
from digest.web.screenshots import CHROMIUM
from tests.web.browser import log_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is missing: apt-get update && apt-get install -y chromium fonts-noto-cjk",
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Demo]:
    with Demo(tmp_path / "site") as demo:
        yield demo


@pytest.fixture
def page(browser: Any, site: Demo) -> Iterator[Any]:
    """A logged-in editor's tab on the issue page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    log_in(tab, site.url)
    tab.goto(f"{site.url}/editor/issues/{site.period.key}")
    yield tab
    context.close()


def ids(site: Demo) -> list[str]:
    with site.engine.connect() as conn:
        found = signals_between(conn, site.period.start, site.period.end)
    return [s.id for s in found if not s.internal]


def row(page: Any, signal_id: str) -> Any:
    return page.locator(f'tr[data-signal="{signal_id}"]')


def test_exclude_then_include(page: Any, site: Demo) -> None:
    first = ids(site)[0]
    row(page, first).locator("button[value=exclude]").click()
    expect(row(page, first).locator(".control-state")).to_contain_text("excluded")
    row(page, first).locator("button[value=include]").click()
    expect(row(page, first).locator(".control-state")).to_have_text("as built")


def test_make_lead_marks_the_row(page: Any, site: Demo) -> None:
    second = ids(site)[1]
    row(page, second).locator("button[value=lead]").click()
    expect(row(page, second).locator(".control-state")).to_contain_text("lead story")
    expect(page.locator("#stale")).to_be_visible()


def test_merge_from_the_form_then_unmerge(page: Any, site: Demo) -> None:
    keep, drop = ids(site)[:2]
    page.select_option("#merge-keep", keep)
    page.select_option("#merge-drop", drop)
    page.click("#merge")
    expect(row(page, drop).locator(".control-state")).to_contain_text(f"merged into {keep}")
    row(page, drop).locator("button[value=unmerge]").click()
    expect(row(page, drop).locator(".control-state")).not_to_contain_text("merged")


def test_a_bad_note_shows_the_reason(page: Any, site: Demo) -> None:
    page.fill("#note-text-en", "Hello {{ name }}")
    page.locator("#note-en button[value=note]").click()
    expect(page.locator("#controls-outcome.fail")).to_contain_text("looks like template syntax")


def test_the_outcome_of_a_change_is_in_view(page: Any, site: Demo) -> None:
    row(page, ids(site)[-1]).locator("button[value=exclude]").click()
    # A form post is a navigation: the locator waits for the page it lands on.
    top = page.locator("#controls-outcome").evaluate("e => e.getBoundingClientRect().top")
    assert 0 <= top < page.viewport_size["height"]


def test_a_note_reaches_the_rebuilt_edition_of_its_language(page: Any, site: Demo) -> None:
    page.fill("#note-text-en", "A *quiet* week: read [the brief](https://example.org/brief).")
    page.locator("#note-en button[value=note]").click()
    page.click("#rebuild")
    link = page.frame_locator("#edition").locator("a[href='https://example.org/brief']")
    expect(link).to_have_text("the brief")
    page.goto(f"{site.url}/editor/issues/{site.period.key}?tier=open&locale=zh")
    zh = page.frame_locator("#edition")
    expect(zh.locator("body")).not_to_be_empty()
    expect(zh.locator("a[href='https://example.org/brief']")).to_have_count(0)


@pytest.mark.parametrize("width", [375, 1024])
def test_the_controls_fit_the_width(browser: Any, site: Demo, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    tab = context.new_page()
    log_in(tab, site.url)
    tab.goto(f"{site.url}/editor/issues/{site.period.key}")
    first, second = ids(site)[:2]
    row(tab, first).locator("button[value=exclude]").click()
    row(tab, second).locator("button[value=lead]").click()
    tab.fill("#note-text-zh", "本周较为平静：请先读[简报](https://example.org/brief)。")
    tab.locator("#note-zh button[value=note]").click()
    expect(tab.locator("#controls-outcome")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.locator("#controls").screenshot(path=ARTIFACTS / f"issue-controls-{width}.png")
    widest = tab.evaluate(
        "Math.max(...[...document.querySelectorAll('#controls *')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    context.close()
    assert widest <= width


def test_one_click_merges_a_suggested_pair(page: Any, site: Demo) -> None:
    suggestion = page.locator("li.suggestion").first
    keep = suggestion.get_attribute("data-keep")
    drop = suggestion.get_attribute("data-drop")
    suggestion.locator("button").click()
    expect(row(page, str(drop)).locator(".control-state")).to_contain_text(f"merged into {keep}")
    expect(page.locator(f'li.suggestion[data-drop="{drop}"]')).to_have_count(0)
