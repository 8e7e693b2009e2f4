"""What the view adds to an item from the issue: a merged story's sources, the Updated line."""

from __future__ import annotations

import datetime as dt

from digest.config import Settings
from digest.issues.continuity import Continuity
from digest.issues.group import Story, group
from digest.issues.policy import policies
from digest.issues.render.view import IssueContext, Item, build_item
from digest.model import Lang, Signal

BASE = "https://news.example.org"
SIGNAL = Signal(id="a", title="Court fines carrier", published=dt.date(2026, 11, 17))


def item_with(context: IssueContext, locale: Lang = "en") -> Item:
    return build_item(SIGNAL, policies(Settings())["open"], locale, BASE, None, context)


def story(*sources: str) -> IssueContext:
    return IssueContext(stories={"a": Story("a", ("a", "b"), sources, (0.9, 0.4), sources)})


def test_a_merged_story_lists_its_web_sources_by_host() -> None:
    item = item_with(story("https://www.desk.example.com/a", "https://wire.example.net/b"))
    assert [(s.text, s.url) for s in item.sources] == [
        ("desk.example.com", "https://www.desk.example.com/a"),
        ("wire.example.net", "https://wire.example.net/b"),
    ]


def test_file_paths_and_placeholder_lookalikes_are_not_reader_sources() -> None:
    item = item_with(
        story("https://desk.example.com/a", "pages/a.txt", "https://x.example/%%NAME%%")
    )
    assert item.sources == ()  # one web source left: nothing to list beside the title's link


def test_an_update_is_told_in_the_readers_language() -> None:
    changed = Continuity(dt.date(2026, 11, 10), "C/D", "B/C")
    context = IssueContext(continuity={"a": changed})
    assert item_with(context).updated == "Updated: confidence C/D → B/C since 10 Nov 2026"
    assert item_with(context, "zh").updated == "更新：置信度自2026年11月10日起由 C/D 变为 B/C"


def test_a_follow_up_links_back_to_the_earlier_signal() -> None:
    follows = Continuity(dt.date(2026, 11, 10), "B/C", "B/C", follows="old/1")
    item = item_with(IssueContext(continuity={"a": follows}))
    assert item.updated == "Follows up the signal of 10 Nov 2026"
    assert item.follows_url == f"{BASE}/signals/old%2F1"


def test_a_member_s_follow_up_line_links_to_no_public_page() -> None:
    # A paying reader's links never open a page that shows less than their email; the
    # earlier signal's public page does, and an earlier issue has no signed view to link to.
    follows = Continuity(dt.date(2026, 11, 10), "B/C", "B/C", follows="old/1")
    circle = policies(Settings())["strategy_circle"]
    item = build_item(SIGNAL, circle, "en", BASE, None, IssueContext(continuity={"a": follows}))
    assert item.updated == "Follows up the signal of 10 Nov 2026" and item.follows_url is None


def test_a_feed_address_of_a_merged_record_is_not_a_reader_source() -> None:
    # A feed entry without a link carries the feed's address as its `source` (perhaps with a
    # key in it): the editor sees it, a reader never does.
    linked = SIGNAL.model_copy(update={"url": "https://desk.example.com/a"})
    from_feed = SIGNAL.model_copy(
        update={
            "id": "b",
            "url": None,
            "source": "https://feeds.example.net/private.xml?key=SECRET",
        }
    )
    grouped = group([linked, from_feed], (), 65.0)
    assert len(grouped.stories) == 1  # the same text: one story
    item = build_item(
        grouped.sections[0].signals[0],
        policies(Settings())["open"],
        "en",
        BASE,
        None,
        IssueContext(stories=grouped.stories),
    )
    assert item.sources == ()
