"""What the browser tests share besides the `browser` fixture (tests/conftest.py): the editor's
login, waited for (a `goto` right after the click would race the login's own navigation)."""

from __future__ import annotations

from typing import Any

from digest.web.demo import DEMO_PASSWORD


def submit_login(page: Any) -> None:
    """Sign in on the login form `page` shows, and wait for the page the login lands on."""
    from playwright.sync_api import expect  # the test extra: callers skip without it

    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Issues")


def log_in(page: Any, base_url: str) -> None:
    """Open the editor's login at `base_url` and sign in as the demo editor."""
    page.goto(f"{base_url}/editor/login")
    submit_login(page)
