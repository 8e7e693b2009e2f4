"""Feed entries → signals: text as declared, titles, ids and URLs (review findings, issue 15)."""

from __future__ import annotations

from digest.signals.readers.feeds import parse_feed


def atom(*entries: str) -> bytes:
    head = '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
    return (head + "".join(entries) + "</feed>").encode()


def rss(*items: str) -> bytes:
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
    return (head + "".join(items) + "</channel></rss>").encode()


def test_a_plain_text_atom_title_keeps_its_angle_brackets() -> None:
    feed = atom(
        '<entry><id>urn:1</id><title type="text">History of the &lt;blink&gt; tag</title></entry>',
        '<entry><id>urn:2</id><title type="text">vector&lt;int&gt;</title></entry>',
    )
    titles = [s.title for s in parse_feed("a.atom", feed, {}).signals]
    assert titles == ["History of the <blink> tag", "vector<int>"]


def test_an_html_title_is_reduced_to_its_text() -> None:
    title = '<title type="html">&lt;b&gt;Bold&lt;/b&gt; move</title>'
    feed = atom(f"<entry><id>urn:1</id>{title}</entry>")
    assert parse_feed("a.atom", feed, {}).signals[0].title == "Bold move"


def test_an_rss_item_without_a_title_is_titled_from_its_description() -> None:
    words = "Nordic grid operators agree to share balancing reserves across borders " * 3
    feed = rss(f"<item><guid>urn:1</guid><description>{words}</description></item>")
    (signal,) = parse_feed("desk.xml", feed, {}).signals
    assert signal.title.endswith("…") and len(signal.title) <= 120
    assert words.startswith(signal.title[:-1])
    assert signal.summary == {"en": [words.strip()]}


def test_an_item_with_neither_title_nor_description_is_an_error_naming_it() -> None:
    parsed = parse_feed("desk.xml", rss("<item><guid>urn:1</guid></item>"), {})
    assert parsed.signals == []
    assert [str(e) for e in parsed.errors] == [
        "desk.xml: entry 1: no title and no description: nothing to make a signal of"
    ]


def test_a_long_guid_is_kept_within_the_id_cap_and_stays_stable() -> None:
    long_guid = "https://desk.example.com/items/" + "x" * 230
    other = long_guid[:-1] + "y"
    feed = rss(
        f"<item><title>One</title><guid>{long_guid}</guid></item>",
        f"<item><title>Two</title><guid>{other}</guid></item>",
    )
    first, second = parse_feed("desk.xml", feed, {}).signals
    assert len(first.id) == 200 and first.id.startswith(long_guid[:159] + "~")
    assert first.id != second.id
    assert parse_feed("desk.xml", feed, {}).signals[0].id == first.id


def test_a_guid_that_is_no_web_address_is_not_the_url() -> None:
    feed = rss(
        "<item><title>One</title><guid>12345</guid></item>",
        "<item><title>Two</title><guid>urn:3</guid></item>",
        "<item><title>Three</title><guid>https://desk.example.com/3</guid></item>",
    )
    signals = parse_feed("desk.xml", feed, {}).signals
    assert [(s.id, s.url) for s in signals] == [
        ("12345", None),
        ("urn:3", None),
        ("https://desk.example.com/3", "https://desk.example.com/3"),
    ]


def test_a_javascript_link_is_dropped_with_a_warning() -> None:
    feed = rss("<item><title>One</title><link>javascript:alert(1)</link></item>")
    parsed = parse_feed("desk.xml", feed, {})
    assert parsed.signals[0].url is None
    assert [str(w) for w in parsed.warnings] == [
        "desk.xml: warning: entry 1 'One': link 'javascript:alert(1)' is not an http(s) "
        "address; imported without a URL"
    ]


def test_a_relative_link_of_a_fetched_feed_resolves_against_its_url() -> None:
    feed = rss("<item><title>One</title><link>/news/1</link></item>")
    parsed = parse_feed("feed", feed, {}, base_url="https://desk.example.com/feed.xml")
    assert parsed.signals[0].url == "https://desk.example.com/news/1"


def test_a_whole_article_as_description_is_cut_to_the_cap_with_a_warning() -> None:
    """Review finding: many feeds carry whole articles as descriptions; over the 10,000-character
    summary cap the entry was refused (and `digest ingest` failed) every week."""
    article = "Grid operators agree. " * 1_000
    feed = rss(f"<item><title>Long read</title><description>{article}</description></item>")
    parsed = parse_feed("desk.xml", feed, {})
    (paragraph,) = parsed.signals[0].summary["en"]
    assert len(paragraph) <= 10_000 and paragraph.endswith(" Grid…")  # at a word
    assert article.startswith(paragraph[:-1])
    assert [str(w) for w in parsed.warnings] == [
        "desk.xml: warning: entry 1 'Long read': description cut from 21,999 to 10,000 "
        "characters (the cap)"
    ]


def test_a_title_over_the_cap_is_cut_with_a_warning() -> None:
    feed = rss(f"<item><title>{'Headline ' * 200}</title></item>")
    parsed = parse_feed("desk.xml", feed, {})
    assert len(parsed.signals[0].title) <= 1_000 and parsed.errors == []
    assert "title cut from 1,799 to 1,000 characters" in str(parsed.warnings[0])


def test_an_entry_over_another_size_cap_is_an_error_naming_entry_and_field() -> None:
    feed = rss(
        "<item><title>Fine</title></item>",
        f"<item><title>Odd</title><category>{'c' * 300}</category></item>",
    )
    parsed = parse_feed("desk.xml", feed, {})
    assert [s.title for s in parsed.signals] == ["Fine"]
    assert [str(e) for e in parsed.errors] == [
        "desk.xml: entry 2 'Odd': field 'market_class': too long: 300 characters; the cap "
        "is 200 (docs/signals.md: The signal schema)"
    ]


def test_control_characters_are_dropped_from_entry_text() -> None:
    """Review finding: a NUL in one title (XML forbids it; feedparser's lenient reading keeps it)
    made PostgreSQL refuse the whole feed."""
    feed = rss("<item><title>Grid\x00 pact\x07</title><description>a\x1bb</description></item>")
    (signal,) = parse_feed("desk.xml", feed, {}).signals
    assert (signal.title, signal.summary) == ("Grid pact", {"en": ["ab"]})


def test_a_date_no_calendar_holds_imports_without_a_date() -> None:
    """Review finding: `0000-01-01` raised ValueError, a traceback that ended the whole ingest."""
    feed = atom(
        "<entry><id>urn:1</id><title>Old</title><updated>0000-01-01T00:00:00Z</updated></entry>"
    )
    parsed = parse_feed("a.atom", feed, {})
    assert parsed.signals[0].published is None
    assert [w.reason for w in parsed.warnings] == [
        "entry 1 'Old': date 0000-01-01 is no calendar date; imported without a date"
    ]
