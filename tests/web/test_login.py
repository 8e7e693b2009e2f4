"""Editor login against guessing and theft: throttled per address and per account, sessions
that end on the server, and accounts that put a person's name on an approval."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from digest.storage.schema import issues
from digest.web.accounts import add_editor, remove_editor, set_password
from digest.web.app import create_app
from digest.web.demo import DEMO_KEY, DEMO_PASSWORD, demo_settings
from tests.web.conftest import BASE, Client, Site

ALICE_PASSWORD = "alice-long-password"


@dataclass
class Wall:
    """The app's wall clock: tests step it instead of sleeping through a lock."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 27, 9, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def app(site: Site, wall: Wall) -> Any:
    return create_app(site.settings, site.engine, provider=site.provider, now=wall)


@pytest.fixture
def alice(site: Site, wall: Wall) -> str:
    return add_editor(site.engine, "alice", ALICE_PASSWORD, wall.now)


def log_in(client: Client, password: str, name: str = "") -> httpx.Response:
    return client.submit("/editor/login", "/editor/login", {"name": name, "password": password})


def fail_times(client: Client, times: int, name: str = "") -> None:
    for _ in range(times):
        assert log_in(client, "wrong guess", name).status_code == 401


# --- throttling -------------------------------------------------------------------------------


def test_after_five_failures_even_the_right_password_gets_429(app: Any) -> None:
    client = Client(app)
    fail_times(client, 5)
    answer = log_in(client, DEMO_PASSWORD)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "60"
    assert "digest_session" not in client.http.cookies


def test_the_right_password_works_once_the_wait_is_over(app: Any, wall: Wall) -> None:
    client = Client(app)
    fail_times(client, 5)
    wall.step(60)
    assert log_in(client, DEMO_PASSWORD).status_code == 303


def test_the_wait_doubles_with_each_further_failure(app: Any, wall: Wall) -> None:
    client = Client(app)
    fail_times(client, 5)
    wall.step(60)
    fail_times(client, 1)
    assert log_in(client, DEMO_PASSWORD).headers["retry-after"] == "120"


def test_failures_count_per_account_across_addresses(app: Any) -> None:
    for n in range(5):
        fail_times(Client(app, peer=f"198.51.100.{n}"), 1)
    answer = log_in(Client(app, peer="192.0.2.99"), DEMO_PASSWORD)
    assert answer.status_code == 429


def test_failures_count_per_address_across_accounts(app: Any) -> None:
    client = Client(app)
    for n in range(5):
        fail_times(client, 1, name=f"nobody{n}")
    assert log_in(client, DEMO_PASSWORD).status_code == 429


def test_failures_count_per_ipv6_network_across_its_addresses(app: Any) -> None:
    for n in range(5):
        fail_times(Client(app, peer=f"2001:db8:5:6::{n + 1:x}"), 1, name=f"nobody{n}")
    assert log_in(Client(app, peer="2001:db8:5:6::99"), DEMO_PASSWORD).status_code == 429


def test_another_address_and_account_are_not_held_back(app: Any, alice: str) -> None:
    fail_times(Client(app), 5)
    answer = log_in(Client(app, peer="192.0.2.50"), ALICE_PASSWORD, "alice")
    assert answer.status_code == 303


def test_two_web_processes_share_the_count(site: Site, app: Any, wall: Wall) -> None:
    fail_times(Client(app), 5)
    other = create_app(site.settings, site.engine, provider=site.provider, now=wall)
    assert log_in(Client(other), DEMO_PASSWORD).status_code == 429


def test_guesses_sent_at_once_are_checked_no_more_than_five_times(app: Any, alice: str) -> None:
    """The review's race: twenty guesses in flight together all passed the lock check before
    the first failure was recorded (38 of 200 were checked against a real server)."""
    client = Client(app)
    token = client.csrf("/editor/login")

    async def guess(n: int) -> int:
        form = {"csrf": token, "name": "alice", "password": f"guess {n}"}
        return (await client.http.post("/editor/login", data=form)).status_code

    async def all_at_once() -> list[int]:
        return list(await asyncio.gather(*(guess(n) for n in range(20))))

    codes = anyio.run(all_at_once)
    assert (codes.count(401), codes.count(429)) == (5, 15)


def test_each_refusal_is_logged(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = Client(app)
    fail_times(client, 5)
    with caplog.at_level(logging.WARNING, logger="digest.web.login"):
        log_in(client, DEMO_PASSWORD)
        log_in(client, "another guess")
    refusals = [r for r in caplog.records if "login refused" in r.getMessage()]
    assert len(refusals) == 2
    assert all(DEMO_PASSWORD not in r.getMessage() for r in refusals)


def test_the_refusal_page_says_how_long_to_wait(app: Any) -> None:
    client = Client(app)
    fail_times(client, 5)
    assert "try again in 1 minute" in log_in(client, DEMO_PASSWORD).text


# --- sessions end on the server ---------------------------------------------------------------


def test_a_copied_cookie_stops_working_after_logout(app: Any) -> None:
    browser, thief = Client(app), Client(app, peer="192.0.2.66")
    log_in(browser, DEMO_PASSWORD)
    thief.http.cookies.set("digest_session", browser.http.cookies["digest_session"])
    assert thief.get("/editor/").status_code == 200
    browser.submit("/editor/", "/editor/logout")
    assert thief.get("/editor/").status_code == 303


def test_a_cookie_signed_with_the_key_but_never_issued_is_not_a_login(app: Any) -> None:
    """What someone who recovered the key offline could mint: old-style and new-style cookies."""
    signer = URLSafeTimedSerializer(
        [DEMO_KEY], salt="digest.web.session", signer_kwargs={"digest_method": hashlib.sha256}
    )
    client = Client(app)
    for payload in ({"who": "editor"}, {"sid": "guessed"}):
        client.http.cookies.set("digest_session", str(signer.dumps(payload)))
        assert client.get("/editor/").status_code == 303


def test_a_password_change_ends_the_accounts_sessions(site: Site, app: Any, alice: str) -> None:
    client = Client(app)
    log_in(client, ALICE_PASSWORD, "alice")
    assert client.get("/editor/").status_code == 200
    assert set_password(site.engine, "alice", "a-brand-new-password", dt.datetime.now(dt.UTC)) == 1
    assert client.get("/editor/").status_code == 303


def test_removing_an_editor_ends_their_sessions(site: Site, app: Any, alice: str) -> None:
    client = Client(app)
    log_in(client, ALICE_PASSWORD, "alice")
    remove_editor(site.engine, "alice")
    assert client.get("/editor/").status_code == 303


def test_changing_the_configured_password_ends_bootstrap_sessions(site: Site, app: Any) -> None:
    client = Client(app)
    log_in(client, DEMO_PASSWORD)
    changed = demo_settings(site.root, BASE, editor_password="a-changed-shared-password")
    restarted = Client(create_app(changed, site.engine))
    restarted.http.cookies.set("digest_session", client.http.cookies["digest_session"])
    assert restarted.get("/editor/").status_code == 303


# --- accounts -------------------------------------------------------------------------------


def test_an_editor_logs_in_by_name(app: Any, alice: str) -> None:
    client = Client(app)
    assert log_in(client, ALICE_PASSWORD, "Alice").status_code == 303
    assert client.get("/editor/").status_code == 200


def test_a_wrong_name_or_password_is_refused_alike(app: Any, alice: str) -> None:
    wrong_password = log_in(Client(app), "not-alices-password", "alice")
    no_such_name = log_in(Client(app, peer="192.0.2.7"), ALICE_PASSWORD, "bob")
    assert wrong_password.status_code == no_such_name.status_code == 401
    assert "Wrong name, password or token" in no_such_name.text


def test_an_approval_records_the_editors_name(site: Site, wall: Wall, alice: str) -> None:
    gate = site.settings.schedule.model_copy(update={"approval_required": True})
    gated = site.settings.model_copy(update={"schedule": gate})
    client = Client(create_app(gated, site.engine, provider=site.provider, now=wall))
    log_in(client, ALICE_PASSWORD, "alice")
    issue = f"/editor/issues/{site.period.key}"
    client.submit(issue, f"{issue}/approve")
    with site.engine.connect() as conn:
        by = conn.execute(
            select(issues.c.approved_by).where(issues.c.period_key == site.period.key)
        ).scalar()
    assert by == "alice"


def test_an_account_alone_lets_the_app_serve_a_public_bind(site: Site, alice: str) -> None:
    settings = demo_settings(site.root, BASE, editor_password=None)
    client = Client(create_app(settings, site.engine, host="0.0.0.0"))
    assert client.get("/editor/").status_code == 303


def test_the_pages_show_whose_name_approvals_will_record(app: Any, alice: str) -> None:
    client = Client(app)
    log_in(client, ALICE_PASSWORD, "alice")
    assert '<span class="who" title="Approvals are recorded under this name">alice</span>' in (
        client.get("/editor/").text
    )
