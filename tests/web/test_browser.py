"""The web app in a real browser: Playwright driving Debian's Chromium against `digest serve`'s app.

One browser for the whole module; throwaway installations served by uvicorn on free ports: one
an editor works on (log in, switch editions, send a test), one whose schedule waits for an
approval (approve), one whose issue was sent to the example audience through the outbox, so a
reader can act on the links of a real `.eml`.
Screenshots of every edition at both widths land in artifacts/web/. Skips without Chromium.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from digest.delivery import OutboxProvider
from digest.delivery.run import send_period
from digest.storage.schema import subscribers
from digest.web.demo import Demo
from digest.web.screenshots import CHROMIUM, make_screenshots
from tests.web.browser import log_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
TIERS = ("Open", "Strategy Circle", "Leadership Alliance")
LANGUAGES = ("English", "中文")

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is missing: apt-get update && apt-get install -y chromium fonts-noto-cjk",
)


@pytest.fixture(scope="module")
def editor_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with Demo(tmp_path_factory.mktemp("browser-editor")) as demo:
        yield demo


@pytest.fixture(scope="module")
def sent_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The example issue sent to the example audience through the outbox."""
    with Demo(tmp_path_factory.mktemp("browser-reader")) as demo:
        provider = OutboxProvider(demo.settings.outbox.dir)
        send_period(demo.settings, demo.engine, demo.period, provider)
        yield demo


@pytest.fixture(scope="module")
def editor_page(browser: Any, editor_site: Demo) -> Iterator[Any]:
    """A logged-in editor's tab, on the issues page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, editor_site.url)
    yield page
    context.close()


@pytest.fixture
def gated_site(tmp_path: Path) -> Iterator[Demo]:
    """An installation whose schedule waits for an editor's approval."""
    with Demo(tmp_path / "gated", schedule={"approval_required": True}) as demo:
        yield demo


@pytest.fixture
def gated_page(browser: Any, gated_site: Demo) -> Iterator[Any]:
    """A logged-in editor's tab on the gated installation, on the issues page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, gated_site.url)
    yield page
    context.close()


@pytest.fixture
def reader_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    yield page
    context.close()


def open_issue(page: Any, demo: Demo) -> None:
    page.goto(f"{demo.url}/editor/")
    page.click(f"a:text-is('{demo.period.key}')")
    # A link is a navigation: what a test reads next must be on the issue page, not the list.
    expect(page.locator("h1")).to_have_text(f"Issue {demo.period.key}")


def edition_url(demo: Demo, tier: str, language: str, width: int) -> str:
    key = {
        "Open": "open",
        "Strategy Circle": "strategy_circle",
        "Leadership Alliance": "leadership_alliance",
    }
    locale = "zh" if language == "中文" else "en"
    return f"{demo.url}/editor/issues/{demo.period.key}?tier={key[tier]}&locale={locale}&w={width}"


def edition_frame(page: Any) -> Any:
    handle = page.wait_for_selector("#edition")
    frame = handle.content_frame()
    frame.wait_for_load_state()
    return frame


def test_an_editor_logs_in_and_opens_an_issue(editor_page: Any, editor_site: Demo) -> None:
    open_issue(editor_page, editor_site)
    assert editor_page.text_content("h1") == f"Issue {editor_site.period.key}"
    # Issue 14: the subject is the lead headline (the From name carries the publication).
    assert editor_page.text_content("#subject").startswith("ENISA publishes")


def test_switching_tier_and_language_changes_the_edition(
    editor_page: Any, editor_site: Demo
) -> None:
    open_issue(editor_page, editor_site)
    editor_page.click("a.tab:text-is('Leadership Alliance · 中文')")
    expect(editor_page.locator("a.tab.current[aria-current=page]")).to_have_text(
        "Leadership Alliance · 中文"
    )
    assert edition_frame(editor_page).evaluate("document.documentElement.lang").startswith("zh")


def test_switching_width_resizes_the_preview(editor_page: Any, editor_site: Demo) -> None:
    open_issue(editor_page, editor_site)
    editor_page.click("a[data-width='1024']")
    # A link is a navigation: wait for the page it lands on rather than read the old one.
    editor_page.wait_for_function("document.querySelector('#edition')?.clientWidth === 1024")
    editor_page.click("a[data-width='375']")
    editor_page.wait_for_function("document.querySelector('#edition')?.clientWidth === 375")
    edition_frame(editor_page).wait_for_function("window.innerWidth === 375")


def test_no_edition_scrolls_sideways_on_a_phone(editor_page: Any, editor_site: Demo) -> None:
    """Every edition at 375 and 1024 px, screenshotted whole; none wider than 375 on a phone."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overflowing = []
    for tier in TIERS:
        for language in LANGUAGES:
            for width in (375, 1024):
                editor_page.goto(edition_url(editor_site, tier, language, width))
                frame = edition_frame(editor_page)
                scroll = frame.evaluate("document.documentElement.scrollWidth")
                if width == 375 and scroll > 375:
                    overflowing.append((tier, language, scroll))
                height = frame.evaluate("document.documentElement.scrollHeight")
                editor_page.eval_on_selector("#edition", f"f => f.height = {height}")
                name = f"{tier}-{language}-{width}".replace(" ", "_").replace("中文", "zh")
                editor_page.locator("#edition").screenshot(path=ARTIFACTS / f"{name}.png")
    assert overflowing == []


def test_a_test_send_goes_to_the_outbox_marked_test(editor_page: Any, editor_site: Demo) -> None:
    open_issue(editor_page, editor_site)
    editor_page.fill("input[name=email]", "editor@example.com")
    editor_page.select_option("select[name=which]", "all")
    editor_page.click("#send-test")
    sent = editor_page.locator(".flash").filter(has_text="Test of all")
    expect(sent).to_contain_text("Test of all 6 editions sent to editor@example.com")
    written = list(Path(editor_site.settings.outbox.dir).rglob("*.eml"))
    subjects = {parse(p)["Subject"][:7] for p in written}
    assert len(written) == 6 and subjects == {"[TEST] "}


def test_approving_in_the_browser_approves_the_issue(gated_page: Any, gated_site: Demo) -> None:
    open_issue(gated_page, gated_site)
    gated_page.click("#approve")
    expect(gated_page.locator("#issue-status")).to_have_text("approved")


def test_without_the_gate_the_issue_page_offers_no_approve(
    editor_page: Any, editor_site: Demo
) -> None:
    open_issue(editor_page, editor_site)
    expect(editor_page.locator("#no-approval")).to_have_text("no approval needed")
    expect(editor_page.locator("#approve")).to_have_count(0)


# --- a reader acting on a real email --------------------------------------------------------------


def parse(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def outbox_email(demo: Demo, index: int) -> EmailMessage:
    files = sorted(Path(demo.settings.outbox.dir).rglob("*.eml"))
    return parse(files[index])


def status_of(demo: Demo, address: str) -> tuple[str, str]:
    with demo.engine.connect() as conn:
        row = conn.execute(
            select(subscribers.c.status, subscribers.c.interests).where(
                subscribers.c.email == address
            )
        ).one()
    return row.status, row.interests


def test_a_reader_unsubscribes_from_the_link_in_an_outbox_email(
    reader_page: Any, sent_site: Demo
) -> None:
    message = outbox_email(sent_site, 0)
    link = str(message["List-Unsubscribe"]).strip("<>")
    reader_page.goto(link)
    reader_page.click("#unsubscribe")
    expect(reader_page.locator("h1")).to_have_text("You are unsubscribed")
    assert status_of(sent_site, message["To"].addresses[0].addr_spec)[0] == "unsubscribed"


def test_changed_preferences_shape_the_next_build(
    reader_page: Any, editor_page: Any, sent_site: Demo
) -> None:
    message = outbox_email(sent_site, 1)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    link = re.search(r"https?://\S+/p/\S+", body.get_content())
    assert link
    reader_page.goto(link.group(0))
    for box in reader_page.query_selector_all("input[name=interests]"):
        box.uncheck()
    reader_page.check("input[name=interests][value='Case File']")
    reader_page.check("input[name=interests][value='Supply Chain']")
    reader_page.click("#save")
    expect(reader_page.locator("#saved")).to_contain_text("Your next issue follows these")
    log_in(editor_page, sent_site.url)
    editor_page.goto(f"{sent_site.url}/editor/issues/2026-W46")
    editor_page.click("#rebuild")
    expect(editor_page.locator("body")).to_contain_text("Case File, Supply Chain")


def test_the_readme_screenshot_command_writes_two_small_pngs(browser: Any, tmp_path: Path) -> None:
    written = make_screenshots(tmp_path, browser)
    assert [p.name for p in written] == ["editor-issue.png", "edition-phone.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert all(p.stat().st_size < 200_000 for p in written)
