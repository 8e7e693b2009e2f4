"""Recoverable feed faults import as feedparser recovers them, each a warning naming its entry."""

from __future__ import annotations

from digest.signals.readers.feedfaults import Document
from digest.signals.readers.feeds import parse_feed

ENTITIES = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Desk&nbsp;news</title>
<item><title>Grid pact</title><guid>urn:1</guid></item>
<item><title>Caf&eacute; prices&nbsp;rise</title><guid>urn:2</guid>
<description>Prices &mdash; up.</description></item>
<item><title>Ports reopen</title><guid>urn:3</guid></item>
</channel></rss>"""


def test_undefined_html_entities_keep_every_entry() -> None:
    """Review finding: one `&nbsp;` refused the whole feed, good items included."""
    parsed = parse_feed("desk.xml", ENTITIES, {})
    assert parsed.errors == []
    assert [s.title for s in parsed.signals] == ["Grid pact", "Café prices rise", "Ports reopen"]
    assert parsed.signals[1].summary == {"en": ["Prices — up."]}


def test_each_entry_with_undefined_entities_gets_one_warning_with_its_line() -> None:
    warnings = [str(w) for w in parse_feed("desk.xml", ENTITIES, {}).warnings]
    assert warnings == [
        "desk.xml:2: warning: feed header (outside any entry): undefined entity &nbsp; "
        "(HTML, not XML); read as HTML, as feedparser does",
        "desk.xml:4: warning: entry 2 'Café prices rise': undefined entities &eacute;, &nbsp;, "
        "&mdash; (HTML, not XML); read as HTML, as feedparser does",
    ]


def test_entities_inside_cdata_are_not_reported() -> None:
    feed = ENTITIES.replace(b"<title>Grid pact</title>", b"<title><![CDATA[Grid &copy;]]></title>")
    reasons = [w.reason for w in parse_feed("desk.xml", feed, {}).warnings]
    assert not any("copy" in r for r in reasons)


def test_a_mismatched_tag_is_a_warning_on_the_entry_it_sits_in() -> None:
    feed = ENTITIES.replace(b"&nbsp;", b" ").replace(b"&eacute;", b"e").replace(b"&mdash;", b"-")
    feed = feed.replace(b"<guid>urn:3</guid>", b"<guid>urn:3</b></guid>")
    parsed = parse_feed("desk.xml", feed, {})
    assert [s.id for s in parsed.signals] == ["urn:1", "urn:2", "urn:3"]
    (warning,) = parsed.warnings
    assert str(warning) == (
        "desk.xml:6: warning: entry 3 'Ports reopen': XML error: mismatched tag; "
        "read leniently, as feedparser does"
    )


def test_a_feed_missing_its_closing_tags_imports_with_a_warning() -> None:
    clean = ENTITIES.replace(b"&nbsp;", b" ").replace(b"&eacute;", b"e").replace(b"&mdash;", b"-")
    cut = clean[: clean.index(b"</channel>")]
    parsed = parse_feed("desk.xml", cut, {})
    assert len(parsed.signals) == 3 and parsed.errors == []
    assert any("ends before its closing tags" in w.reason for w in parsed.warnings)


def test_a_wrong_encoding_declaration_is_a_warning() -> None:
    feed = '<?xml version="1.0" encoding="us-ascii"?><rss version="2.0"><channel>'
    feed += "<item><title>Zürich</title></item></channel></rss>"
    parsed = parse_feed("desk.xml", feed.encode(), {})
    assert [s.title for s in parsed.signals] == ["Zürich"]
    assert [w.reason.split(":")[0] for w in parsed.warnings] == ["feed"]


def test_an_entry_left_open_ends_where_the_next_one_starts() -> None:
    """A fault inside the second entry is the second's, not the unclosed first's."""
    text = b"<rss><channel><item><title>a</title><item><title>b &nbsp;</title></item></channel>"
    doc = Document(text)
    offset = doc.text.index("&nbsp;")
    assert [doc.entry_at(doc.text.index("a<")), doc.entry_at(offset)] == [1, 2]


def test_text_between_entries_is_in_none() -> None:
    doc = Document(b"<rss><channel><item>a</item> &nbsp; <item>b</item></channel></rss>")
    assert doc.entry_at(doc.text.index("&nbsp;")) is None
