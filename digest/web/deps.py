"""What every page shares: the app's state, rendering, CSRF and flash messages.

The pages (`editor`, `login`, `subscriber`, `archive`, `webhooks`) import these helpers from here
and the app factory (`app`) imports the pages, so the imports run one way: app → pages → deps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from digest.audience.tokens import LinkSigner
from digest.config import Settings
from digest.delivery import Provider
from digest.issues.render.i18n import LANG_TAGS
from digest.model import Lang
from digest.scale import METER_STEPS, meter_filled
from digest.web.limits import RateLimit
from digest.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    Csrf,
    Network,
    Sessions,
    forwarded_client,
)

FLASH_COOKIE = "digest_flash"


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
    link_keys: tuple[str, ...] = ()
    """The keys subscriber links are signed with (configured, else the database's local key)."""
    envs: Callable[[Lang], SandboxedEnvironment] | None = None
    """The page environment per language (its gettext the language's catalog); `env` is English."""

    def env_for(self, lang: Lang) -> SandboxedEnvironment:
        return self.envs(lang) if self.envs is not None else self.env

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
    lang: Lang = "en",
) -> HTMLResponse:
    """A page from `templates/web/`, with the CSRF token, flash message and shared values,
    its strings in `lang` (the Babel catalog) and `<html lang>` saying so."""
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
        "page_lang": lang,
        "html_lang": LANG_TAGS[lang],
        "meter_filled": meter_filled,  # the confidence meter (templates/web/_meter.html.j2)
        "meter_steps": METER_STEPS,
        "sp": "" if lang == "zh" else " ",  # between two sentences: Chinese puts no space
        "lang_q": "" if lang == "en" else f"?lang={lang}",  # keeps the language across links
        **context,
    }
    html = state.env_for(lang).get_template(name).render(full)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    response.headers.setdefault("cache-control", "no-store")
    response.headers.setdefault("vary", "Accept-Language")  # token-less pages negotiate on it
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
