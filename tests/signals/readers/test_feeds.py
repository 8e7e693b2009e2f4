from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from digest.signals.readers.base import SourceError
from digest.signals.readers.feeds import parse_feed, read_feed

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Desk</title>
<item><title>Grid operators sign balancing pact</title><link>https://desk.example.com/a</link>
<guid>urn:desk:1</guid><category>energy</category>
<description>&lt;p&gt;Three &lt;b&gt;TSOs&lt;/b&gt; agree.&lt;/p&gt;</description>
<pubDate>Tue, 17 Nov 2026 09:00:00 GMT</pubDate></item>
<item><title>东盟数据中心电价上涨</title><link>https://desk.example.com/b</link>
<category>Unmapped</category><pubDate>Wed, 18 Nov 2026 23:30:00 GMT</pubDate></item>
</channel></rss>""".encode()

MAX = 10_000_000

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>
<updated>2026-11-20T00:00:00Z</updated>
<entry><title>Atom entry</title><id>urn:a:1</id><link href="https://a.example.com/1"/>
<updated>2026-11-20T00:00:00Z</updated><summary>Plain summary.</summary></entry></feed>"""

# No encoding declared in the XML: only the server's Content-Type charset names it.
KOI8 = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>K</title>'
    "<item><title>Новости</title><guid>urn:k:1</guid></item></channel></rss>"
).encode("koi8-r")


def test_rss_entries_become_signals() -> None:
    parsed = parse_feed("desk.xml", RSS, {"ENERGY": "Infrastructure"})
    first, second = parsed.signals
    assert first.id == "urn:desk:1"
    assert first.url == "https://desk.example.com/a"
    assert first.summary == {"en": ["Three TSOs agree."]}
    assert first.market_class == "Infrastructure"
    assert first.published == dt.date(2026, 11, 17)
    assert first.source == "desk.xml"
    assert second.market_class == "Unmapped"
    assert second.titles == {"zh": "东盟数据中心电价上涨"}


def test_atom_entries_become_signals() -> None:
    (signal,) = parse_feed("a.atom", ATOM, {}).signals
    assert (signal.id, signal.published) == ("urn:a:1", dt.date(2026, 11, 20))


def test_a_feed_cut_short_inside_an_entry_keeps_the_entries_before_it() -> None:
    cut = RSS[: RSS.index(b"<category>Unmapped")]
    parsed = parse_feed("cut.xml", cut, {})
    assert [s.id for s in parsed.signals] == ["urn:desk:1"]
    (error,) = parsed.errors
    assert str(error) == (
        "cut.xml:7: entry 2 '东盟数据中心电价上涨': the feed ends inside this entry (cut short?): "
        "its text is incomplete; not imported"
    )


def test_a_body_naming_a_file_is_not_read_as_that_file(tmp_path: Path) -> None:
    """feedparser opens bytes that name a file: a server answering `/dev/zero` would hang us."""
    secret = tmp_path / "private.rss"
    secret.write_bytes(RSS)
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        parse_feed("https://evil.example/feed", str(secret).encode(), {})


def test_text_that_is_no_feed_is_an_error() -> None:
    with pytest.raises(SourceError, match="not an RSS or Atom feed"):
        parse_feed("notes.xml", b"<?xml version='1.0'?><notes><n>hi</n></notes>", {})


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(2)
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        if self.path == "/binary":
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(RSS)
            return
        if self.path == "/koi8":
            self.send_header("Content-Type", "application/rss+xml; charset=koi8-r")
            self.end_headers()
            self.wfile.write(KOI8)
            return
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(RSS)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_feed_from_url(feed_server: str) -> None:
    parsed = read_feed(f"{feed_server}/rss", timeout=5, max_bytes=MAX, category_map={})
    assert len(parsed.signals) == 2 and parsed.source.endswith("/rss")


def test_a_feed_served_as_xml_raises_no_warning(feed_server: str) -> None:
    """Review finding: every fetched feed, however well served, warned `NonXMLContentType: no
    Content-type specified` (the server's Content-Type never reached feedparser)."""
    parsed = read_feed(f"{feed_server}/rss", timeout=5, max_bytes=MAX, category_map={})
    assert [str(w) for w in parsed.warnings] == []


def test_a_feed_served_as_no_xml_type_imports_with_a_plain_warning(feed_server: str) -> None:
    parsed = read_feed(f"{feed_server}/binary", timeout=5, max_bytes=MAX, category_map={})
    assert len(parsed.signals) == 2
    assert [w.reason for w in parsed.warnings] == [
        "feed: the server's Content-Type: application/octet-stream is not an XML media type; "
        "read as a feed anyway"
    ]


def test_the_charset_the_server_declares_decodes_the_feed(feed_server: str) -> None:
    parsed = read_feed(f"{feed_server}/koi8", timeout=5, max_bytes=MAX, category_map={})
    assert [s.title for s in parsed.signals] == ["Новости"]


def test_feed_that_times_out_is_reported(feed_server: str) -> None:
    with pytest.raises(SourceError, match="feed unreachable") as info:
        read_feed(f"{feed_server}/slow", timeout=0.3, max_bytes=MAX, category_map={})
    assert info.value.source.endswith("/slow")


def test_feed_http_error_is_reported(feed_server: str) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        read_feed(f"{feed_server}/missing", timeout=5, max_bytes=MAX, category_map={})


def test_unreachable_host_is_reported() -> None:
    with pytest.raises(SourceError, match="feed unreachable"):
        read_feed("http://127.0.0.1:9/feed", timeout=2, max_bytes=MAX, category_map={})


def test_feed_from_file(tmp_path: Path) -> None:
    path = tmp_path / "desk.rss"
    path.write_bytes(RSS)
    assert len(read_feed(str(path), timeout=1, max_bytes=MAX, category_map={}).signals) == 2
