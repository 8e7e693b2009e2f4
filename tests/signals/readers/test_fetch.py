"""Fetching feeds: one deadline for the whole fetch, one size cap (real servers on free ports)."""

from __future__ import annotations

import gzip
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.signals.readers.base import SourceError
from digest.signals.readers.feeds import read_feed
from digest.signals.readers.fetch import fetch
from tests.tls import self_signed

SMALL_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>Slow news</title><guid>urn:slow:1</guid></item></channel></rss>"
)
BIG = b"<rss>" + b" " * 5_000 + b"</rss>"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if self.path in ("/gzip", "/bomb"):
            self._gzipped(SMALL_FEED if self.path == "/gzip" else b" " * 10_000_000)
            return
        if self.path == "/big-declared":
            self.send_header("Content-Length", str(len(BIG)))
        self.end_headers()
        try:
            if self.path == "/trickle":
                self._trickle(SMALL_FEED)
            elif self.path.startswith("/big"):
                self.wfile.write(BIG)  # HTTP/1.0 without Content-Length: ends at close
            else:
                self.wfile.write(SMALL_FEED)
        except OSError:
            pass  # the client hung up, as it should at its deadline

    def _gzipped(self, body: bytes) -> None:
        """Compressed though the client sent no Accept-Encoding (some servers do)."""
        packed = gzip.compress(body)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(packed)))
        self.end_headers()
        self.wfile.write(packed)

    def _trickle(self, body: bytes) -> None:
        """Headers at once, then the body a byte at a time: no single read ever waits long."""
        for index in range(len(body)):
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()
            time.sleep(0.02)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_the_deadline_covers_the_whole_fetch_not_each_read(server: str) -> None:
    """Review finding: headers, then a byte at a time, kept `digest ingest` going past 120 s.

    The trickled feed is complete after ~2.5 s and each byte comes within 0.02 s, so a per-read
    timeout of 0.5 s never fires; the deadline of 0.5 s for the whole fetch must.
    """
    with pytest.raises(SourceError, match=r"no complete response within 0\.5 s") as info:
        fetch(f"{server}/trickle", timeout=0.5, max_bytes=10_000)
    assert info.value.source.endswith("/trickle")
    assert "sources.feed_timeout" in info.value.reason


def test_a_fast_server_is_read_whole(server: str) -> None:
    fetched = fetch(f"{server}/feed", timeout=5, max_bytes=10_000)
    assert fetched.body == SMALL_FEED and fetched.content_type == "application/rss+xml"


def test_a_body_compressed_unasked_is_inflated(server: str) -> None:
    """Review finding: a gzipped feed was read compressed: "not an RSS or Atom feed"."""
    assert fetch(f"{server}/gzip", timeout=5, max_bytes=10_000).body == SMALL_FEED


def test_a_gzip_bomb_is_refused_at_the_cap(server: str) -> None:
    """10 MB of spaces packed into ~10 KB: inflated only up to the cap, then refused."""
    with pytest.raises(SourceError, match=r"feed too large: its gzip body inflates past the cap"):
        fetch(f"{server}/bomb", timeout=5, max_bytes=100_000)


def test_a_response_declaring_more_than_the_cap_is_refused(server: str) -> None:
    with pytest.raises(SourceError, match=r"feed too large: it declares 5,011 bytes"):
        fetch(f"{server}/big-declared", timeout=5, max_bytes=1_000)


def test_a_response_growing_past_the_cap_is_refused(server: str) -> None:
    with pytest.raises(SourceError, match=r"more than 1,000 bytes arrived.*feed_max_bytes"):
        fetch(f"{server}/big", timeout=5, max_bytes=1_000)


def test_a_feed_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(BIG)
    with pytest.raises(SourceError, match=r"feed too large: more than 1,000 bytes"):
        read_feed(str(path), timeout=5, max_bytes=1_000, category_map={})


def test_a_redirect_to_a_file_url_is_not_followed() -> None:
    """Only http(s) is spoken: a feed server cannot make the importer read local files."""

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "file:///etc/hostname")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError, match="feed unreachable"):
            fetch(f"http://127.0.0.1:{httpd.server_port}/", timeout=5, max_bytes=1_000)
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Hostile(BaseHTTPRequestHandler):
    """A redirect loop, and a status phrase carrying terminal escape sequences."""

    def do_GET(self) -> None:
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
        else:
            self.send_response(404, "\x1b[2J\x1b[31mPWNED")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_a_redirect_loop_is_reported_on_one_line(hostile: str) -> None:
    """Review finding: urllib's loop message spans three lines of the ingest report."""
    with pytest.raises(SourceError, match="infinite loop") as info:
        fetch(f"{hostile}/loop", timeout=5, max_bytes=1_000)
    assert "\n" not in str(info.value)


def test_a_status_phrase_cannot_write_escape_sequences(hostile: str) -> None:
    with pytest.raises(SourceError, match="HTTP 404") as info:
        fetch(f"{hostile}/escape", timeout=5, max_bytes=1_000)
    assert "\x1b" not in str(info.value) and "PWNED" in str(info.value)


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The feed server over TLS, its self-signed certificate trusted through SSL_CERT_FILE."""
    cert_file, key_file = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_an_https_feed_is_fetched(tls_server: str) -> None:
    """Review finding: every https:// feed raised TypeError (HTTPSConnection took no `sockets`
    argument) and the traceback ended the whole `digest ingest`."""
    assert fetch(f"{tls_server}/feed", timeout=5, max_bytes=10_000).body == SMALL_FEED


def test_the_deadline_covers_an_https_fetch(tls_server: str) -> None:
    with pytest.raises(SourceError, match=r"no complete response within 0\.5 s"):
        fetch(f"{tls_server}/trickle", timeout=0.5, max_bytes=10_000)
