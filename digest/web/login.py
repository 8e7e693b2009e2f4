"""Editor login and logout: who is logged in, throttled guessing, sessions that end on the server.

A login names an editor account (`digest editors add`) and checks its Argon2 hash, or leaves
the name empty and gives the shared bootstrap password or token (`web.editor_password`,
`web.editor_token`), recorded as "editor". Before any password is checked the address and the
account must not be locked by the throttle (digest.web.throttle); a success opens a session
stored in the database (digest.web.accounts), and logout deletes it there.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.web import throttle
from digest.web.accounts import (
    BOOTSTRAP,
    Session,
    credential_tag,
    end_session,
    read_session,
    start_session,
    verify,
)
from digest.web.deps import WebState, checked_form, client_address, field_text, render, web
from digest.web.security import SESSION_COOKIE, limit_key, same_secret

log = logging.getLogger(__name__)

LOCAL_EDITOR = "editor (localhost)"


def current_editor(request: Request) -> str | None:
    """Who is logged in; on a loopback app with no credential configured, the local editor."""
    state = web(request)
    if not state.login_required:
        return LOCAL_EDITOR
    session_id = state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None
    session = read_session(state.engine, session_id, state.now())
    if session is None:
        return None
    if session.account_id is None and session.credential not in bootstrap_tags(state).values():
        return None  # the configured password or token it was opened with has been changed
    return session.editor


def bootstrap_tags(state: WebState) -> dict[str, str]:
    """The tag of each configured bootstrap secret, by setting."""
    web_settings = state.settings.web
    secrets = {"password": web_settings.editor_password, "token": web_settings.editor_token}
    return {
        kind: credential_tag(state.tag_key, value.get_secret_value())
        for kind, value in secrets.items()
        if value is not None and value.get_secret_value()
    }


def login_redirect(request: Request) -> Response:
    target = request.url.path
    return RedirectResponse(f"/editor/login?{urlencode({'next': target})}", status_code=303)


def _safe_next(value: str) -> str:
    """Only a local editor path: never an open redirect to another site."""
    if value.startswith("/editor/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/editor/"


def authenticate(state: WebState, name: str, password: str) -> Session | None:
    """The session a correct login opens: an account's (by name), or the bootstrap login's
    (no name, or "editor", with web.editor_password or web.editor_token). Slow for accounts
    (Argon2): call it off the event loop."""
    if name and name != BOOTSTRAP:
        found = verify(state.engine, name, password)
        return Session(found[1], found[0], None) if found else None
    web_settings = state.settings.web
    for kind, secret in (
        ("password", web_settings.editor_password),
        ("token", web_settings.editor_token),
    ):
        if same_secret(password, secret):
            return Session(BOOTSTRAP, None, bootstrap_tags(state)[kind])
    return None


def _login_page(request: Request, form: Any, status: int, **extra: Any) -> Response:
    context = {
        "title": "Editor login",
        "next": _safe_next(field_text(form, "next")),
        "name": field_text(form, "name")[:64],
        **extra,
    }
    headers = {"retry-after": str(extra["wait"])} if "wait" in extra else None
    return render(request, "web/login.html.j2", context, status=status, headers=headers)


async def login(request: Request) -> Response:
    state = web(request)
    if request.method == "GET":
        return render(
            request,
            "web/login.html.j2",
            {"title": "Editor login", "next": _safe_next(request.query_params.get("next", ""))},
        )
    form = await checked_form(request)
    name = field_text(form, "name").lower()[:64]
    account = throttle.account_key(name or BOOTSTRAP)
    keys = [f"address:{limit_key(client_address(request))}", account]
    tried = throttle.attempt(state.engine, keys, state.now())
    if tried.wait:
        log.warning(
            "editor login refused for %ss: too many failures from %s or for %r",
            tried.wait,
            client_address(request),
            name or BOOTSTRAP,
        )
        return _login_page(request, form, 429, wait=tried.wait, minutes=math.ceil(tried.wait / 60))
    session = await run_in_threadpool(authenticate, state, name, field_text(form, "password"))
    if session is None:
        return _login_page(request, form, 401, wrong=True)
    throttle.succeeded(state.engine, tried, account)
    lifetime = dt.timedelta(seconds=state.sessions.max_age)
    session_id = start_session(state.engine, session, state.now(), lifetime)
    response = RedirectResponse(_safe_next(field_text(form, "next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        state.sessions.issue(session_id),
        max_age=int(state.sessions.max_age),
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    """End the session in the database, not only in this browser: a copied cookie dies too."""
    await checked_form(request)
    state = web(request)
    session_id = state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session_id is not None:
        end_session(state.engine, session_id)
    response = RedirectResponse("/editor/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/editor/login", login, methods=["GET", "POST"]),
        Route("/editor/logout", logout, methods=["POST"]),
    ]
