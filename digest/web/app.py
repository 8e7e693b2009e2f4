"""The web app's factory and what every page shares: state, rendering, CSRF, flash messages.

One small Starlette app serves editors (behind a login) and subscribers (signed links, no login).
Pages are rendered server-side with the same sandboxed, autoescaping Jinja environment the emails
use, from `templates/web/`, so a publication restyles its pages the way it restyles its emails
(its own templates folder first). Templates are looked up by fixed names only: no part of a URL
ever names a file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from digest.audience.tokens import LinkSigner
from digest.config import Settings
from digest.delivery import Provider, make_provider
from digest.delivery.links import signing_keys
from digest.render.engine import Renderer, template_dirs
from digest.web.accounts import has_accounts
from digest.web.limits import RateLimit
from digest.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    BodyLimit,
    Csrf,
    HeadAsGet,
    Network,
    SecurityHeaders,
    Sessions,
    forwarded_client,
    page_csp,
    plain_keys,
    proxy_networks,
    script_hash,
)

log = logging.getLogger(__name__)

FLASH_COOKIE = "digest_flash"
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
WIDTH_SCRIPT = "web/_width.js"


class EditorConfigError(RuntimeError):
    """The editor pages would be exposed beyond this machine without any credential."""


def is_loopback(host: str) -> bool:
    """True for a bind address only this machine can reach."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class WebState:
    """Everything a handler needs, built once per app."""

    settings: Settings
    engine: Engine
    links: LinkSigner
    sessions: Sessions
    csrf: Csrf
    flash: URLSafeSerializer
    env: SandboxedEnvironment
    provider: Callable[[], Provider]
    login_required: bool
    per_ip: RateLimit
    per_address: RateLimit
    now: Callable[[], dt.datetime]
    tag_key: str = ""
    """Key of the tags that tie bootstrap sessions to the configured password or token."""
    trusted_proxies: tuple[Network, ...] = ()
    width_script: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.settings.publication.base_url.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def web(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def client_address(request: Request) -> str:
    """Who is asking, for every limit and log line in the app: use this, never `request.client`.

    The connection's address, or, when that is one of `web.trusted_proxies`, the client the
    proxies forwarded (`security.forwarded_client`). uvicorn runs with its own proxy-header
    handling off (`security.UVICORN_OPTIONS`), so the connection's address here is the real one.
    """
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.getlist("x-forwarded-for")
    return forwarded_client(peer, forwarded, web(request).trusted_proxies)


def _keys(settings: Settings) -> list[str]:
    keys = plain_keys(settings.security.secret_keys)
    if not keys:
        # Subscriber links use the database's local key (see _link_signer); editor sessions and
        # CSRF tokens get a key of this process, so they end with a restart.
        log.warning(
            "no security.secret_keys configured: subscriber links use this database's local "
            "key; editor sessions end when the server restarts"
        )
        keys = [secrets.token_urlsafe(32)]
    return keys


def _width_script(env: SandboxedEnvironment) -> str:
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, WIDTH_SCRIPT)
    return source.strip()


def _link_signer(settings: Settings, engine: Engine) -> LinkSigner:
    """The keys the senders sign with: the configured ones, else the database's local key.

    With no secret configured, `digest run` (the outbox) signs links with a key generated into
    this database; the web app must verify those same links, or the Quickstart's one-click
    unsubscribe from an outbox email would answer 404.
    """
    keys, _note = signing_keys(settings, engine, allow_local=True)
    hours = dt.timedelta(hours=settings.security.confirm_max_age_hours)
    return LinkSigner(keys, confirm_max_age=hours)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    host: str = "127.0.0.1",
    provider: Provider | Callable[[], Provider] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> Starlette:
    """The ASGI app. Refuses (EditorConfigError) to expose editor pages on a non-loopback `host`
    when no editor account, password or token exists; on loopback they then need no login.

    `provider` (an instance or a factory) replaces `web.provider` for test sends and sign-up
    confirmations; `now` drives the recorded times and the sign-up limits (tests step it).
    """
    from digest.web import archive, editor, subscriber, webhooks

    has_credentials = bool(
        settings.web.editor_password or settings.web.editor_token or has_accounts(engine)
    )
    if not has_credentials and not is_loopback(host):
        raise EditorConfigError(
            f"refusing to serve the editor pages on {host} without credentials: add an editor "
            "(`digest editors add NAME`), or set web.editor_password (DIGEST_EDITOR_PASSWORD) "
            "or web.editor_token, or bind to 127.0.0.1"
        )
    keys = _keys(settings)
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    env = Renderer(template_dirs(settings)).env("en", html=True)
    script = _width_script(env)
    state = WebState(
        settings=settings,
        engine=engine,
        links=_link_signer(settings, engine),
        sessions=Sessions(keys, settings.web.session_hours * 3600),
        csrf=Csrf(keys),
        flash=URLSafeSerializer(list(reversed(keys)), salt="digest.web.flash"),
        env=env,
        provider=_provider_factory(settings, provider),
        login_required=has_credentials,
        per_ip=RateLimit(
            engine, "signup-client", settings.web.subscribe_per_ip_per_hour, HOUR, clock
        ),
        per_address=RateLimit(
            engine, "signup-mailbox", settings.web.subscribe_per_address_per_day, DAY, clock
        ),
        now=clock,
        tag_key=keys[0],
        trusted_proxies=proxy_networks(settings.web.trusted_proxies),
        width_script=script,
    )
    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/static/web.css", stylesheet),
        Route("/favicon.ico", lambda _request: Response(status_code=204)),
        *editor.routes(),
        *subscriber.routes(),
        *archive.routes(),
        *webhooks.routes(),
    ]
    middleware = [
        Middleware(HeadAsGet),  # outermost: every route and middleware sees a HEAD as its GET
        Middleware(SecurityHeaders, csp=page_csp([script_hash(script)])),
        Middleware(
            BodyLimit,
            default=settings.web.max_body_bytes,
            limits={webhooks.PATH: settings.web.webhook_max_bytes},
        ),
    ]
    if not has_credentials:
        # No login on loopback: refuse other Host names, so a DNS-rebinding page cannot reach
        # the editor through the reader's browser.
        hosts = ["127.0.0.1", "localhost", "[::1]", "::1", urlsplit(state.base_url).hostname or ""]
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=hosts))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
    )
    app.state.web = state
    return app


def _provider_factory(
    settings: Settings, given: Provider | Callable[[], Provider] | None
) -> Callable[[], Provider]:
    if given is None:
        from digest.delivery.run import configured_provider

        name = settings.web.provider or configured_provider(settings)
        return lambda: make_provider(name, settings)
    if callable(given):  # a factory; a provider itself is not callable
        return given
    return lambda: given


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return render(request, "web/error.html.j2", {"title": "Not found"}, status=404)
    if exc.status_code == 403:
        return render(
            request,
            "web/error.html.j2",
            {"title": "Refused", "detail": exc.detail or "This form has expired: reload the page"},
            status=403,
        )
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def home(request: Request) -> Response:
    return render(request, "web/home.html.j2", {"title": web(request).settings.publication.name})


async def stylesheet(request: Request) -> Response:
    state = web(request)
    assert state.env.loader is not None
    css, _, _ = state.env.loader.get_source(state.env, "web/web.css")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=300"})


# --- rendering, CSRF and flash ----------------------------------------------------------------


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """This browser's CSRF cookie value, and whether it is new (and must be set)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 16 <= len(value) <= 64:
        return value, False
    if "csrf_cookie" not in request.scope:
        request.scope["csrf_cookie"] = Csrf.new_cookie()
    return str(request.scope["csrf_cookie"]), True


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page from `templates/web/`, with the CSRF token, flash message and shared values."""
    state = web(request)
    cookie, new = csrf_cookie(request)
    flash = read_flash(request)
    full = {
        "publication": state.settings.publication.name,
        "base_url": state.base_url,
        "csrf_field": CSRF_FIELD,
        "csrf": state.csrf.token(cookie),
        "editor": request.scope.get("editor"),
        "flash": flash,
        "width_script": Markup(state.width_script),
        "detail": "",
        **context,
    }
    html = state.env.get_template(name).render(full)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    response.headers.setdefault("cache-control", "no-store")
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=state.secure_cookies,
            path="/",
        )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


async def checked_form(request: Request) -> FormData:
    """The posted form, or 403 when its CSRF token is not this browser's."""
    form = await request.form(max_files=0, max_fields=200, max_part_size=64 * 1024)
    require_csrf(request, form)
    return form


def require_csrf(request: Request, form: FormData) -> None:
    """403 unless the form's CSRF token is the signed twin of this browser's cookie."""
    token = form.get(CSRF_FIELD)
    if not web(request).csrf.valid(
        request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        raise HTTPException(403, "This form has expired or did not come from this site: reload")


def field_text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def redirect_with_flash(
    request: Request, url: str, message: str, level: str = "ok"
) -> RedirectResponse:
    """Post/redirect/get with a one-time message in a signed cookie (never in the URL)."""
    state = web(request)
    response = RedirectResponse(url, status_code=303)
    signed = state.flash.dumps({"m": message[:1500], "l": level})
    response.set_cookie(
        FLASH_COOKIE,
        str(signed),
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies,
        path="/",
    )
    return response


def read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = web(request).flash.loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    return {"message": str(data.get("m", "")), "level": str(data.get("l", "ok"))}
