"""Headers, CSRF, sessions, body limits and the editor's refusal to start exposed."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import pytest

from digest.web.app import EditorConfigError, create_app, is_loopback
from digest.web.demo import demo_settings
from tests.web.conftest import BASE, Client, Site


def test_pages_carry_the_security_headers(site: Site) -> None:
    headers = site.client.get("/subscribe").headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]


def test_the_only_inline_script_is_allowed_by_its_hash(editor: Site) -> None:
    page = editor.client.get(f"/editor/issues/{editor.period.key}")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in page.headers["content-security-policy"]


def test_edition_previews_may_be_framed_by_the_app_only(editor: Site) -> None:
    frame = editor.client.get(f"/editor/issues/{editor.period.key}/editions/open/en")
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    csp = frame.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp
    assert "script-src" not in csp and csp.startswith("default-src 'none'")


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    site.client.get("/subscribe")
    answer = site.client.post("/subscribe", data={"email": "new@example.com"})
    assert answer.status_code == 403
    assert site.provider.calls == []


def test_a_csrf_token_from_another_browser_is_refused(site: Site) -> None:
    stolen = site.client_for().csrf("/subscribe")
    site.client.get("/subscribe")
    answer = site.client.post("/subscribe", data={"csrf": stolen, "email": "new@example.com"})
    assert answer.status_code == 403


def test_a_declared_body_over_the_limit_gets_413(site: Site) -> None:
    answer = site.client.post("/subscribe", content=b"x" * 70_000)
    assert answer.status_code == 413


def test_an_undeclared_streamed_body_over_the_limit_gets_413(site: Site) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"email=" + b"x" * 1000

    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = site.client.post("/subscribe", content=chunks(), headers=form)
    assert answer.status_code == 413


def test_the_webhook_accepts_bodies_larger_than_forms(site: Site) -> None:
    answer = site.client.post("/webhooks/sendgrid", content=b"[" + b" " * 200_000 + b"]")
    assert answer.status_code != 413


def test_editor_pages_send_strangers_to_the_login(site: Site) -> None:
    answer = site.client.get(f"/editor/issues/{site.period.key}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/editor/login?next=")


def test_a_wrong_password_does_not_log_in(site: Site) -> None:
    answer = site.client.submit("/editor/login", "/editor/login", {"password": "guess"})
    assert answer.status_code == 401
    assert "digest_session" not in site.client.http.cookies


def test_the_editor_token_logs_in_too(site: Site, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = demo_settings(site.root, BASE, editor_token="t" * 40)
    client = Client(create_app(settings, site.engine))
    answer = client.submit("/editor/login", "/editor/login", {"password": "t" * 40})
    assert answer.status_code == 303 and "digest_session" in client.http.cookies


def test_a_forged_session_cookie_is_not_a_login(site: Site) -> None:
    site.client.http.cookies.set("digest_session", "eyJ3aG8iOiJlZGl0b3IifQ.forged.sig")
    assert site.client.get("/editor/").status_code == 303


def test_an_editor_post_without_a_session_is_refused(site: Site) -> None:
    token = site.client.csrf("/subscribe")
    answer = site.client.post(f"/editor/issues/{site.period.key}/approve", data={"csrf": token})
    assert answer.status_code == 403


def test_login_never_redirects_off_site(site: Site) -> None:
    answer = site.client.submit(
        "/editor/login", "/editor/login", {"password": "demo-editor-password", "next": "//evil.com"}
    )
    assert answer.headers["location"] == "/editor/"


def test_logout_ends_the_session(editor: Site) -> None:
    editor.client.submit("/editor/", "/editor/logout")
    assert editor.client.get("/editor/").status_code == 303


def test_no_editor_pages_on_a_public_bind_without_credentials(site: Site) -> None:
    settings = demo_settings(site.root, BASE, editor_password=None)
    with pytest.raises(EditorConfigError, match="without credentials"):
        create_app(settings, site.engine, host="0.0.0.0")


def test_on_localhost_without_credentials_the_editor_needs_no_login(site: Site) -> None:
    settings = demo_settings(site.root, BASE, editor_password=None)
    client = Client(create_app(settings, site.engine, host="127.0.0.1"))
    assert client.get("/editor/").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/web.css/../../pyproject.toml",
        "/signals/..%2F..%2Fpyproject.toml",
        "/archive/..%2Fdigest.db",
    ],
)
def test_no_url_reaches_the_filesystem(site: Site, path: str) -> None:
    answer = site.client.get(path)
    assert answer.status_code == 404
    assert "[build-system]" not in answer.text


def test_without_a_login_other_host_names_are_refused(site: Site) -> None:
    settings = demo_settings(site.root, BASE, editor_password=None)
    client = Client(create_app(settings, site.engine, host="127.0.0.1"))
    assert client.get("/editor/", headers={"host": "rebound.example"}).status_code == 400
