"""What keeps the web app safe to expose: signed sessions, CSRF tokens, headers and body limits.

Sessions and CSRF tokens are signed with the same rotating key list as subscriber links (newest
signs, all verify), under their own salts, so a session cookie is never a valid link token and
the other way round. The session cookie carries only the id of a session kept in the database
(digest.web.accounts), so logout ends it everywhere and several processes share it.

CSRF uses the double-submit pattern: a random value in an HttpOnly cookie, and the same value
signed in every form. A cross-site page can make the browser send the cookie but cannot read it
or forge the signed twin, and no server-side state is needed for the public forms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "digest_session"
CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf"


def plain_keys(keys: Sequence[str | SecretStr]) -> list[str]:
    """The configured keys as strings, newest first, blanks dropped."""
    out = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
    return [k for k in out if k]


class Sessions:
    """The editor session cookie: a server-side session's random id, signed and timestamped.

    The session itself lives in the database (digest.web.accounts), so a cookie is worth
    nothing once its row is gone; the signature and age only turn away forged and stale
    cookies before the database is asked.
    """

    def __init__(self, keys: Sequence[str], max_age_seconds: float) -> None:
        # itsdangerous signs with the last key and verifies with all: ours are newest first.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(keys)),
            salt="digest.web.session",
            signer_kwargs={"digest_method": hashlib.sha256},
        )
        self.max_age = max_age_seconds

    def issue(self, session_id: str) -> str:
        """The cookie value for a stored session."""
        token = self._serializer.dumps({"sid": session_id})
        assert isinstance(token, str)
        return token

    def read(self, cookie: str | None) -> str | None:
        """The session id the cookie carries, or None for a missing, forged or expired one."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=int(self.max_age))
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        sid = data.get("sid") if isinstance(data, dict) else None
        return sid if isinstance(sid, str) else None


class Csrf:
    """Double-submit CSRF tokens: the form carries the cookie's value, signed."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._serializer = URLSafeSerializer(
            list(reversed(keys)),
            salt="digest.web.csrf",
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def token(self, cookie: str) -> str:
        value = self._serializer.dumps(cookie)
        assert isinstance(value, str)
        return value

    def valid(self, cookie: str | None, token: str | None) -> bool:
        """True only when the form's token is the signed twin of this browser's cookie."""
        if not cookie or not token:
            return False
        try:
            signed = self._serializer.loads(token)
        except BadSignature:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, cookie)


def same_secret(given: str, expected: SecretStr | None) -> bool:
    """Constant-time comparison of a typed credential with a configured one."""
    if expected is None or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def script_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline script and nothing else."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def page_csp(script_hashes: Sequence[str]) -> str:
    """The app's own pages: own stylesheet, hashed inline scripts, frames only from itself."""
    scripts = " ".join(script_hashes) or "'none'"
    return (
        "default-src 'none'; "
        f"script-src {scripts}; "
        "style-src 'self'; img-src 'self' data:; frame-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


EDITION_CSP = (
    # An email's HTML as a mail client shows it: inline styles and remote images, never script.
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "font-src https: data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
"""For the edition routes the app frames itself (editor preview, archive)."""

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    # Token links (/u/…, /p/…) must never leak to another site through Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """Adds the security headers to every response, keeping any a route set for itself.

    A route that is framed by the app (an edition preview) sets its own CSP with
    `frame-ancestors 'self'` and `X-Frame-Options: SAMEORIGIN`; everything else gets DENY.
    """

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.defaults = (
            *BASE_HEADERS,
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((n, v) for n, v in self.defaults if n not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UVICORN_OPTIONS: dict[str, Any] = {
    "server_header": False,
    # uvicorn's default believes X-Forwarded-For from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) and
    # rewrites the client address before the app sees it: any local client could then pick the
    # address every limit counts. The app reads the header itself, from web.trusted_proxies only.
    "proxy_headers": False,
}
"""How `digest serve` (and the demo server) run uvicorn: the app alone decides who the client is."""


def proxy_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """`web.trusted_proxies` (validated by the config) as networks."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _ip(text: str) -> Address | None:
    """An address from a peer or X-Forwarded-For entry (`[v6]:port` and `v4:port` allowed)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = found.ipv4_mapped if isinstance(found, ipaddress.IPv6Address) else None
    return mapped or found


def forwarded_client(peer: str, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the connection's `peer`, unless that is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right (each proxy appends the
    address it saw), skipping trusted proxies: the first other address is the client as our
    outermost proxy saw it. Entries further left were written by the client and prove nothing,
    and an entry that is not an address stops the walk at the last trusted hop.
    """
    current = _ip(peer)
    if current is None or not any(current in net for net in trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        found = _ip(hop)
        if found is None:
            break
        current = found
        if not any(found in net for net in trusted):
            break
    return str(current)


IPV6_CLIENT_PREFIX = 64


def limit_key(address: str) -> str:
    """The client as the per-client limits count it (sign-ups, login failures).

    An IPv4 address is one client. An IPv6 address is counted by its /64: that is the block one
    line or host is given, so one attacker holds 2^64 addresses and rotating them must not buy
    a fresh limit each time. IPv4-mapped IPv6 counts as its IPv4 address.
    """
    found = _ip(address)
    if isinstance(found, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((found, IPV6_CLIENT_PREFIX), strict=False))
    return str(found) if found is not None else address


class HeadAsGet:
    """Answers every `HEAD` exactly as the same `GET` would, without the body (RFC 9110 9.3.2).

    Starlette adds HEAD to a route that allows GET, but a handler that branches on
    `request.method == "GET"` then treats HEAD as its POST branch (403 for a missing CSRF token).
    Turning HEAD into GET before any route sees it makes every page, present and future, answer
    HEAD like GET: same status and headers (Content-Length included), no body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def headless(message: Message) -> None:
            nonlocal finished
            if message["type"] != "http.response.body":
                await send(message)
            elif not finished and not message.get("more_body", False):
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, headless)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses bodies over a limit with 413, whether or not Content-Length tells the truth.

    `limits` maps a path prefix to its own limit (the webhook takes big batches); every other
    path gets `default`.
    """

    def __init__(self, app: ASGIApp, default: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = limits or {}

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except _TooLarge:
            if not started:
                await _too_large(send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send) -> None:
    body = b"Request body too large\n"
    headers: list[Any] = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
