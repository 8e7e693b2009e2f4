"""The web app in-process: httpx's ASGI transport against a prepared copy of the example store.

The example week is built once per session into a template SQLite file; each test gets its own
copy, so a test that unsubscribes or approves cannot affect another.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import Engine, select

from digest.audience.tokens import LinkSigner, Purpose
from digest.config import Settings
from digest.delivery import MemoryProvider
from digest.period import Period
from digest.storage.db import open_database
from digest.storage.schema import subscribers
from digest.web.app import create_app
from digest.web.demo import DEMO_PASSWORD, demo_settings, prepare

BASE = "http://127.0.0.1:8000"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    """The app's wall clock (rate limits, recorded times): tests step it instead of sleeping."""

    offset: dt.timedelta = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def step(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


class Client:
    """A synchronous face on httpx.AsyncClient + ASGITransport (cookies kept across calls)."""

    def __init__(self, app: Any, peer: str = "203.0.113.7") -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(peer, 50000)), base_url=BASE
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            return await self.http.request(method, url, **kwargs)

        return anyio.run(call)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def csrf(self, url: str) -> str:
        """The CSRF token of the form on the page at `url` (sets this client's cookie)."""
        page = self.get(url)
        match = CSRF.search(page.text)
        assert match, f"no form on {url}"
        return match.group(1)

    def submit(self, page: str, action: str, data: dict[str, Any] | None = None) -> httpx.Response:
        """Post a form found on `page` to `action`, with the page's CSRF token."""
        return self.post(action, data={"csrf": self.csrf(page), **(data or {})})

    def login(self) -> httpx.Response:
        return self.submit("/editor/login", "/editor/login", {"password": DEMO_PASSWORD})


@pytest.fixture(scope="session")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Period]:
    root = tmp_path_factory.mktemp("web-template")
    engine, period = prepare(demo_settings(root, BASE))
    engine.dispose()  # checkpoints the WAL: the file alone is the whole database
    return root, period


@dataclass
class Site:
    settings: Settings
    engine: Engine
    period: Period
    provider: MemoryProvider
    clock: Clock
    client: Client
    root: Path
    app: Any = field(repr=False)

    def client_for(self, peer: str = "203.0.113.7") -> Client:
        """A second browser (own cookies), connecting from `peer`."""
        return Client(self.app, peer)

    def token(self, purpose: Purpose, email: str) -> str:
        with self.engine.connect() as conn:
            sid = conn.execute(
                select(subscribers.c.id).where(subscribers.c.email == email)
            ).scalar_one()
        return LinkSigner(self.settings.security.secret_keys).sign(purpose, sid, email)

    def subscriber(self, email: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(subscribers).where(subscribers.c.email == email)).first()


def make_site(
    root: Path,
    template: tuple[Path, Period],
    schedule: dict[str, Any] | None = None,
    **web: Any,
) -> Iterator[Site]:
    """A site on a copy of the template store; `schedule` overrides [schedule] settings."""
    source, period = template
    shutil.copy(source / "digest.db", root / "digest.db")
    settings = demo_settings(root, BASE, **web)
    if schedule:
        changed = settings.schedule.model_copy(update=schedule)
        settings = settings.model_copy(update={"schedule": changed})
    engine = open_database(settings.database.url)
    provider, clock = MemoryProvider(), Clock()
    app = create_app(settings, engine, provider=provider, now=clock)
    yield Site(settings, engine, period, provider, clock, Client(app), root, app)
    engine.dispose()


@pytest.fixture
def site(tmp_path: Path, template_root: tuple[Path, Period]) -> Iterator[Site]:
    yield from make_site(tmp_path, template_root)


@pytest.fixture
def editor(site: Site) -> Site:
    """The site with its client logged in as an editor."""
    assert site.client.login().status_code == 303
    return site


@pytest.fixture
def gated_editor(tmp_path: Path, template_root: tuple[Path, Period]) -> Iterator[Site]:
    """An editor's site whose schedule waits for an approval (`schedule.approval_required`)."""
    for site in make_site(tmp_path, template_root, schedule={"approval_required": True}):
        assert site.client.login().status_code == 303
        yield site


@pytest.fixture
def reader(site: Site) -> str:
    """An active subscriber of the example audience."""
    with site.engine.connect() as conn:
        email = conn.execute(
            select(subscribers.c.email)
            .where(subscribers.c.status == "active")
            .order_by(subscribers.c.id)
        ).scalar()
    assert email
    return str(email)
