"""The web app's factory: the pages, the middleware and the state they share (`deps`).

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
from collections.abc import Callable
from urllib.parse import urlsplit

from itsdangerous import URLSafeSerializer
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from digest.audience.tokens import LinkSigner
from digest.config import Settings
from digest.delivery import Provider, make_provider
from digest.delivery.links import signing_keys
from digest.delivery.providers import configured_provider
from digest.issues.render.engine import Renderer, template_dirs
from digest.issues.render.i18n import translations
from digest.web import archive, editor, membership, reader, subscriber, webhooks
from digest.web.accounts import has_accounts
from digest.web.deps import WebState, render, web
from digest.web.lang import page_lang
from digest.web.limits import RateLimit
from digest.web.security import (
    BodyLimit,
    Csrf,
    HeadAsGet,
    SecurityHeaders,
    Sessions,
    page_csp,
    plain_keys,
    proxy_networks,
    script_hash,
)

log = logging.getLogger(__name__)

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
    hours = dt.timedelta(hours=settings.security.confirm_max_age_hours)
    return LinkSigner(_link_keys(settings, engine), confirm_max_age=hours)


def _link_keys(settings: Settings, engine: Engine) -> list[str]:
    keys, _note = signing_keys(settings, engine, allow_local=True)
    return keys


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
    renderer = Renderer(template_dirs(settings))
    env = renderer.env("en", html=True)
    script = _width_script(env)
    state = WebState(
        settings=settings,
        engine=engine,
        links=_link_signer(settings, engine),
        link_keys=tuple(_link_keys(settings, engine)),
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
        envs=lambda lang: renderer.env(lang, html=True),
    )
    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/static/web.css", stylesheet),
        Route("/favicon.ico", lambda _request: Response(status_code=204)),
        *editor.routes(),
        *subscriber.routes(),
        *archive.routes(),
        *reader.routes(),
        *membership.routes(),
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
        name = settings.web.provider or configured_provider(settings)
        return lambda: make_provider(name, settings)
    if callable(given):  # a factory; a provider itself is not callable
        return given
    return lambda: given


async def _http_error(request: Request, exc: HTTPException) -> Response:
    lang = page_lang(request)  # a reader's broken link answers in the reader's language
    _ = translations(lang).gettext
    if exc.status_code == 404:
        return render(
            request, "web/error.html.j2", {"title": _("Not found")}, status=404, lang=lang
        )
    if exc.status_code == 403:
        return render(
            request,
            "web/error.html.j2",
            {
                "title": _("Refused"),
                "detail": exc.detail or "This form has expired: reload the page",
            },
            status=403,
            lang=lang,
        )
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def home(request: Request) -> Response:
    title = web(request).settings.publication.name
    return render(request, "web/home.html.j2", {"title": title}, lang=page_lang(request))


async def stylesheet(request: Request) -> Response:
    state = web(request)
    assert state.env.loader is not None
    css, _, _ = state.env.loader.get_source(state.env, "web/web.css")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=300"})
