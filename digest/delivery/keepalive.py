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
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

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
                conn.request("POST", self.prefix + path, body=body, headers=dict(headers))
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
        if self._tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._tls
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append((conn, time.monotonic()))


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
