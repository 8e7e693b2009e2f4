"""HTTP POSTs over kept-alive connections, telling apart where a failure happened.

A million-recipient SendGrid send is about a thousand POSTs. The `sendgrid` package's client
(urllib) opens a TCP (and TLS) connection for every one; here a connection is kept and reused,
and several can be open at once, one per request in flight (the pool is thread-safe).

What the provider needs to know about a failure is whether the request can have been taken:
- `NotSent`: connecting, or writing the request, failed: the server cannot have the whole
  request, so it certainly did not act on it;
- `NoAnswer`: the whole request went out and no (complete) answer came back: it may have.

A kept-alive connection the server has closed while it sat idle would turn the next request into
`NoAnswer` although the server never read it. So a connection is reused only when it has been
idle for less than `max_idle` seconds (shorter than servers' keep-alive timeouts, and far longer
than the gap between the requests of one send) and the server has not closed it meanwhile (its
socket is not readable).

A proxy in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, as urllib reads them) is
used as urllib would: an https origin through a CONNECT tunnel, an http one by absolute URL.
"""

from __future__ import annotations

import base64
import http.client
import select
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_IDLE = 4.0
"""Seconds a connection may sit idle and still be reused (servers' timeouts are ~5 s or more)."""


class NotSent(Exception):
    """The request did not (completely) leave: the server cannot have acted on it."""


class NoAnswer(Exception):
    """The request left and no complete answer came back: the server may have acted on it."""

    def __init__(self, reason: str, timed_out: bool) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes


class KeptAlive:
    """POSTs to one origin (`scheme://host[:port][/prefix]`) over reusable connections."""

    def __init__(self, origin: str, timeout: float, *, max_idle: float = MAX_IDLE) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.proxy = _proxy_for(parts.scheme, parts.hostname)
        if self.proxy is not None and not self.https:  # an http proxy takes the absolute URL
            self.prefix = f"http://{parts.netloc}{self.prefix}"
        self.timeout = timeout
        self.max_idle = max_idle
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context() if self.https else None

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One POST to `prefix + path`; raises NotSent or NoAnswer (see the module docstring)."""
        conn = self._take()
        try:
            try:
                if conn.sock is None:
                    conn.connect()
                conn.request("POST", self.prefix + path, body=body, headers=self._with(headers))
            except (OSError, http.client.HTTPException) as exc:
                raise NotSent(_describe(exc)) from None
            try:
                response = conn.getresponse()
                answer = Answer(
                    response.status,
                    {k.lower(): v for k, v in response.getheaders()},
                    response.read(),
                )
            except (OSError, http.client.HTTPException) as exc:
                raise NoAnswer(_describe(exc), isinstance(exc, TimeoutError)) from None
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return answer

    def _with(self, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers`, plus the proxy's credentials when requests go to an http proxy as such."""
        if self.proxy is None or self.https:
            return dict(headers)
        return {**headers, **self.proxy.headers}

    def close(self) -> None:
        """Close every idle connection (the next POST opens a new one)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def _take(self) -> http.client.HTTPConnection:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if now - since < self.max_idle and not _closed_by_peer(conn):
                return conn
            conn.close()
        host, port = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        if self._tls is None:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
        if self.proxy is not None:
            conn.set_tunnel(self.host, self.port, headers=self.proxy.headers)
        return conn

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    headers: dict[str, str]
    """Proxy-Authorization when the proxy URL carries credentials."""


def _proxy_for(scheme: str, host: str) -> Proxy | None:
    """The environment's proxy for `scheme://host`, unless NO_PROXY exempts the host."""
    url = urllib.request.getproxies().get(scheme)
    if not url or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        return None
    headers = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(parts.hostname, parts.port or 80, headers)


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection's socket is readable: the server closed it (or misbehaves)."""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
