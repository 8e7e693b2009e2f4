"""Readers' pages in Chromium: the language a reader gets, phones, dark mode (issue #14).

One installation served by uvicorn (digest.web.demo) whose example issue counts as sent, so its
archive page, signal pages and a paid reader's view are public. A Chinese browser is a context
with `locale="zh-CN"` (Chromium then sends `Accept-Language: zh-CN`). Screenshots of the pages
at 375 px, light and dark, English and Chinese, land in artifacts/web/pages/. Skips without
Chromium.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from digest.audience.tokens import LinkSigner
from digest.issues.store import load_editions
from digest.model import Signal
from digest.signals.store import get_signal, store_signals
from digest.storage.schema import issues, subscribers
from digest.web.demo import DEMO_KEY, Demo
from digest.web.screenshots import CHROMIUM
from tests.web.browser import log_in, submit_login

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web" / "pages"
PHONE = {"width": 375, "height": 812}
MIN_CONTRAST = 4.5

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = playwright_api.expect
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is missing: apt-get update && apt-get install -y chromium fonts-noto-cjk",
)

LOW_CONTRAST_JS = (Path(__file__).parent / "low_contrast.js").read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The example issue, counted as sent: its archive and signal pages are public."""
    with Demo(tmp_path_factory.mktemp("browser-pages")) as served:
        when = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
        with served.engine.begin() as conn:
            conn.execute(update(issues).values(status="sent", send_started_at=when, sent_at=when))
        yield served


def new_page(browser: Any, *, locale: str = "en-GB", scheme: str = "light") -> Any:
    context = browser.new_context(viewport=PHONE, locale=locale, color_scheme=scheme)
    return context.new_page()


def lead_and_ids(demo: Demo, tier: str, lang: str) -> tuple[str, list[str]]:
    (edition,) = [
        e
        for e in load_editions(demo.engine, demo.period)
        if (e.tier, e.locale, e.interests) == (tier, lang, frozenset())
    ]
    with demo.engine.connect() as conn:
        lead = get_signal(conn, edition.signal_ids[0])
    assert lead is not None
    return lead.titles.get(lang, lead.title), edition.signal_ids


def view_url(demo: Demo, tier: str, lang: str) -> str:
    with demo.engine.connect() as conn:
        sid, email = conn.execute(
            select(subscribers.c.id, subscribers.c.email).order_by(subscribers.c.id).limit(1)
        ).one()
    token = LinkSigner([DEMO_KEY]).sign_view(sid, email, demo.period.key, tier, lang)
    return f"{demo.url}/view/{token}"


def scroll_width(page: Any) -> int:
    return int(page.evaluate("document.scrollingElement.scrollWidth"))


# --- the reader's language ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/subscribe", "/join/strategy_circle", "/scale"])
def test_a_chinese_browser_gets_the_page_in_chinese(browser: Any, demo: Demo, path: str) -> None:
    page = new_page(browser, locale="zh-CN")
    page.goto(demo.url + path)
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert page.locator("a[href^='/archive/']").first.text_content() == "往期"
    page.context.close()


def test_lang_in_the_link_gives_chinese_to_an_english_browser(browser: Any, demo: Demo) -> None:
    page = new_page(browser, locale="en-GB")
    page.goto(f"{demo.url}/subscribe?lang=zh")
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert page.text_content("h1") == "订阅《Signal Weekly》"
    page.context.close()


def test_lang_in_the_link_gives_english_to_a_chinese_browser(browser: Any, demo: Demo) -> None:
    page = new_page(browser, locale="zh-CN")
    page.goto(f"{demo.url}/subscribe?lang=en")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.text_content("h1") == "Subscribe to Signal Weekly"
    page.context.close()


# --- phones --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "lang"), [("en-GB", "en"), ("zh-CN", "zh")])
def test_the_archive_issue_fits_a_phone_under_its_lead_title(
    browser: Any, demo: Demo, locale: str, lang: str
) -> None:
    page = new_page(browser, locale=locale)
    page.goto(f"{demo.url}/archive/{demo.period.key}")
    lead, _ = lead_and_ids(demo, "open", lang)
    assert scroll_width(page) <= PHONE["width"]
    assert page.text_content("h1") == lead
    assert page.locator("iframe").count() == 0
    page.context.close()


def test_the_editors_pages_fit_a_phone(browser: Any, demo: Demo) -> None:
    page = new_page(browser)
    page.goto(f"{demo.url}/editor/login")
    assert scroll_width(page) <= PHONE["width"]
    submit_login(page)
    for url in ("/editor/", f"/editor/issues/{demo.period.key}"):
        page.goto(demo.url + url)
        assert scroll_width(page) <= PHONE["width"], url
    page.context.close()


def test_a_members_link_lands_on_its_item(browser: Any, demo: Demo) -> None:
    _, ids = lead_and_ids(demo, "leadership_alliance", "en")
    page = new_page(browser)
    page.goto(f"{view_url(demo, 'leadership_alliance', 'en')}#{ids[5]}")
    top = page.evaluate(f"document.getElementById({ids[5]!r}).getBoundingClientRect().top")
    assert 0 <= top < PHONE["height"] / 2
    assert scroll_width(page) <= PHONE["width"]
    page.context.close()


# --- dark mode -----------------------------------------------------------------------------------


def reader_pages(demo: Demo) -> dict[str, str]:
    return {
        "subscribe": "/subscribe",
        "join": "/join/leadership_alliance",
        "scale": "/scale",
        "archive": f"/archive/{demo.period.key}",
        "view": view_url(demo, "leadership_alliance", "en").removeprefix(demo.url),
        "preferences-preview": "/preferences",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("locale", ["en-GB", "zh-CN"])
def test_every_text_on_the_readers_pages_has_enough_contrast(
    browser: Any, demo: Demo, scheme: str, locale: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = new_page(browser, locale=locale, scheme=scheme)
    low = {}
    for name, path in reader_pages(demo).items():
        page.goto(demo.url + path)
        page.screenshot(path=ARTIFACTS / f"{name}-{locale[:2]}-375-{scheme}.png")
        if found := page.evaluate(LOW_CONTRAST_JS, MIN_CONTRAST):
            low[name] = found
    page.context.close()
    assert low == {}


def test_dark_mode_is_designed_not_inherited(browser: Any, demo: Demo) -> None:
    backgrounds = []
    for scheme in ("light", "dark"):
        page = new_page(browser, scheme=scheme)
        page.goto(f"{demo.url}/archive/{demo.period.key}")
        backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        page.context.close()
    assert backgrounds == ["rgb(246, 247, 249)", "rgb(18, 20, 23)"]


def test_an_unbreakable_signal_title_does_not_widen_the_editors_issue_page(
    browser: Any, tmp_path: Path
) -> None:
    """A title with a 90-character word (a pasted identifier or URL) wraps inside its cell."""
    with Demo(tmp_path) as served:
        word = "extraordinarily_long_unbreakable_identifier_" * 2
        signal = Signal(
            id="long-word",
            title=f"A headline holding {word} in one word",
            published=served.period.start,
            market_class="Supply Chain",
            confidence=0.95,
        )
        with served.engine.begin() as conn:
            store_signals(conn, [signal])
        page = browser.new_context(viewport={"width": 1024, "height": 800}).new_page()
        log_in(page, served.url)
        page.goto(f"{served.url}/editor/issues/{served.period.key}")
        assert page.get_by_text(word).count() > 0
        assert scroll_width(page) <= 1024
        page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_editors_controls_stack_on_a_phone_in_either_scheme(
    browser: Any, demo: Demo, scheme: str
) -> None:
    """The controls' phone layout is not nested inside the dark-mode rules (it once was)."""
    page = new_page(browser, scheme=scheme)
    log_in(page, demo.url)
    page.goto(f"{demo.url}/editor/issues/{demo.period.key}")
    display = page.evaluate(
        "getComputedStyle(document.querySelector('.control-table thead')).display"
    )
    assert display == "none"
    page.context.close()
