"""`HEAD` is answered like `GET` on every route that serves `GET`: same status, no body."""

from __future__ import annotations

import re

from starlette.routing import Route

from digest.audience.tokens import LinkSigner, Purpose
from tests.web.conftest import Client, Site

PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def fill(path: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values[m.group(1)], path)


def get_paths(site: Site, reader: str) -> list[str]:
    """Every GET route of the app, its parameters filled with values that resolve."""
    signer = LinkSigner(site.settings.security.secret_keys)
    tokens = {
        "/u/": site.token(Purpose.UNSUBSCRIBE, reader),
        "/p/": site.token(Purpose.PREFERENCES, reader),
        "/c/": signer.sign(Purpose.CONFIRM, 0, "new.reader@example.com"),
    }
    values = {"period": site.period.key, "tier": "strategy_circle", "locale": "en"}
    values["signal_id"] = "s-does-not-matter"
    paths = []
    for route in site.app.routes:
        if not isinstance(route, Route) or "GET" not in (route.methods or ()):
            continue
        token = next((t for prefix, t in tokens.items() if route.path.startswith(prefix)), "")
        paths.append(fill(route.path, {**values, "token": token}))
    return paths


def head_mismatches(client: Client, paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        got, head = client.get(path), client.request("HEAD", path)
        same = (got.status_code, got.headers.get("content-type"), got.headers.get("location"))
        seen = (head.status_code, head.headers.get("content-type"), head.headers.get("location"))
        if same != seen or head.content:
            out.append(f"{path}: GET {same}, HEAD {seen} with {len(head.content)} bytes")
    return out


def test_head_answers_like_get_on_every_route(site: Site, reader: str) -> None:
    paths = get_paths(site, reader)
    assert "/subscribe" in paths and "/editor/login" in paths
    assert head_mismatches(site.client, paths) == []


def test_head_answers_like_get_for_a_logged_in_editor(editor: Site, reader: str) -> None:
    assert head_mismatches(editor.client, get_paths(editor, reader)) == []


def test_head_keeps_the_content_length_of_get(site: Site) -> None:
    got, head = site.client.get("/static/web.css"), site.client.request("HEAD", "/static/web.css")
    assert head.headers["content-length"] == got.headers["content-length"] != "0"
