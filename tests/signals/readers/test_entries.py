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


def test_an_entry_over_a_size_cap_is_an_error_naming_entry_and_field() -> None:
    feed = rss(
        "<item><title>Fine</title></item>",
        f"<item><title>Dump</title><description>{'x' * 20_000}</description></item>",
    )
    parsed = parse_feed("desk.xml", feed, {})
    assert [s.title for s in parsed.signals] == ["Fine"]
    assert [str(e) for e in parsed.errors] == [
        "desk.xml: entry 2 'Dump': field 'summary.en.0': too long: 20,000 characters; the cap "
        "is 10,000 (README: The signal schema)"
    ]
