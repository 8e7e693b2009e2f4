"""Fetching a feed over HTTP(S) within one deadline and one size cap.

urllib's `timeout` bounds each socket operation, not the fetch: a server that sends its headers
and then one byte a second never trips it, and the weekly run waits for as long as the server
likes. Here the whole fetch (name lookup, connect, TLS, headers, body) runs in a worker thread that
the caller waits for at most `timeout` seconds. When the deadline passes, the caller reports the
feed and moves on, and shuts the connection's socket down so the worker ends too.

The body is read in chunks and refused once it passes `max_bytes` (a `Content-Length` above the cap
is refused before reading), so a feed can neither exhaust memory nor fill the database; a body
the server compressed unasked is inflated up to the same cap. Only http(s) is spoken: a
redirect to `ftp:` or `file:` fails as an unknown scheme.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any

from digest import __version__
from digest.signals.readers.base import SourceError

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fetched:
    """A feed's bytes and the media type its server declared (`Content-Type`, with charset).

    feedparser needs the declared type: given none it flags every feed `NonXMLContentType`, and
    the charset parameter is how a server names the encoding. `Content-Encoding` is not kept:
    the body is used as it arrived, never decompressed past `max_bytes`.
    """

    body: bytes
    content_type: str | None = None


class _Sockets:
    """The sockets one fetch opened (redirects open more), so a deadline can shut them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.cancelled = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._open.append(sock)
            if self.cancelled:
                _shut(sock)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            for sock in self._open:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Wake a thread blocked on `sock` (shutdown does, close does not) and refuse more I/O."""
    with contextlib.suppress(OSError):  # already closed by its owner
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket's, also under TLS


class _Tracked(http.client.HTTPConnection):
    """A connection that registers its socket as soon as it has one (before any TLS).

    `_sockets` is set by `_factory` after construction, not passed to `__init__`:
    HTTPSConnection's `__init__` comes first in `_TrackedTLS`'s MRO and takes no such argument.
    """

    _sockets: _Sockets

    def connect(self) -> None:
        super().connect()
        self._sockets.add(self.sock)


class _TrackedTLS(http.client.HTTPSConnection, _Tracked):
    """HTTPSConnection.connect calls `super().connect()`, which is _Tracked's: raw socket first."""


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_factory(_Tracked, self._sockets), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, sockets: _Sockets) -> None:
        super().__init__()
        self._sockets = sockets

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_factory(_TrackedTLS, self._sockets), req)


def _factory(cls: type[_Tracked], sockets: _Sockets) -> Any:
    """What `do_open` calls as `http_class(host, timeout=…, **args)`."""

    def make(*args: Any, **kwargs: Any) -> _Tracked:
        connection = cls(*args, **kwargs)
        connection._sockets = sockets
        return connection

    return make


def _opener(sockets: _Sockets) -> urllib.request.OpenerDirector:
    """HTTP(S), proxies from the environment, redirects and errors; no ftp:, file: or data:."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTP(sockets),
        _HTTPS(sockets),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class _Fetch:
    """One fetch, run in a worker thread; the caller reads `data` or `error` after joining."""

    def __init__(self, location: str, timeout: float, max_bytes: int) -> None:
        self.location = location
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.sockets = _Sockets()
        self.data: Fetched | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.data = self._get()
        except urllib.error.HTTPError as exc:
            self.error = self._unreachable(f"HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            self.error = self._unreachable(str(exc.reason))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.error = self._unreachable(str(exc) or type(exc).__name__)
        except BaseException as exc:  # re-raised in the caller's thread, not lost in this one
            self.error = exc

    def _unreachable(self, reason: str) -> SourceError:
        return SourceError(self.location, f"feed unreachable: {reason}")

    def _get(self) -> Fetched:
        request = urllib.request.Request(
            self.location, headers={"User-Agent": f"digest/{__version__}"}
        )
        with _opener(self.sockets).open(request, timeout=self.timeout) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_big(f"it declares {int(declared):,} bytes")
            coding = (response.headers.get("Content-Encoding") or "").strip().lower()
            body = self._decoded(self._body(response), coding)
            return Fetched(body, response.headers.get("Content-Type"))

    def _decoded(self, body: bytes, coding: str) -> bytes:
        """The body as sent, or inflated when the server compressed it unasked (no
        Accept-Encoding is sent), never past `max_bytes`: a gzip bomb is refused as too large."""
        if coding in ("", "identity"):
            return body
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise self._unreachable(f"unsupported Content-Encoding {coding!r}")
        inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in coding else 0))
        try:
            data = inflater.decompress(body, self.max_bytes + 1)
        except zlib.error as exc:
            raise self._unreachable(f"the {coding} body is corrupt ({exc})") from None
        if len(data) > self.max_bytes:
            raise self._too_big(f"its {coding} body inflates past the cap")
        return data

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while not self.sockets.cancelled:
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_big(f"more than {self.max_bytes:,} bytes arrived")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self, what: str) -> SourceError:
        return SourceError(
            self.location,
            f"feed too large: {what}; the cap is {self.max_bytes:,} bytes (sources.feed_max_bytes)",
        )


def fetch(location: str, *, timeout: float, max_bytes: int) -> Fetched:
    """The feed's bytes and declared type, complete within `timeout` seconds and at most
    `max_bytes` long.

    Any failure (network, HTTP status, deadline, size) is a SourceError that names the URL.
    """
    job = _Fetch(location, timeout, max_bytes)
    worker = threading.Thread(target=job.run, name="digest-feed-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        job.sockets.cancel()
        raise SourceError(
            location,
            f"feed unreachable: no complete response within {timeout:g} s "
            "(sources.feed_timeout is the deadline for the whole fetch)",
        )
    if job.error is not None:
        raise job.error
    assert job.data is not None
    return job.data
