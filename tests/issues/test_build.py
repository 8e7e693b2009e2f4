"""The build and an editor's controls: the note in its language's editions, stale editions kept
from a send until rebuilt."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from digest.audience import store as audience
from digest.audience.model import Profile
from digest.config import Settings
from digest.issues import controls_store as cs
from digest.issues.build import EditionsUnavailable, build, frozen_editions
from tests.issues.controls_data import WEEK, store_week

NOTE = "A quiet week; **read s3** first: [the brief](https://example.org/brief)."


@pytest.fixture
def week(engine: Engine) -> Engine:
    store_week(engine)
    return engine


def editions_with_note(engine: Engine) -> dict[str, tuple[bool, bool]]:
    """Per edition `tier.locale`: (note in the HTML, note in the text part)."""
    result = build(Settings(), WEEK, engine=engine)
    return {
        f"{e.tier}.{e.locale}": (
            '<a href="https://example.org/brief">the brief</a>' in e.html,
            "the brief (https://example.org/brief)" in e.text,
        )
        for e in result.editions
        if not e.interests
    }


def test_the_note_tops_every_edition_of_its_language(week: Engine) -> None:
    cs.set_note(week, WEEK, "en", NOTE, by="ed")
    found = editions_with_note(week)
    assert all(found[f"{t}.en"] == (True, True) for t in ("open", "strategy_circle"))
    assert found["leadership_alliance.en"] == (True, True)


def test_the_note_stays_out_of_the_other_language(week: Engine) -> None:
    cs.set_note(week, WEEK, "en", NOTE, by="ed")
    found = editions_with_note(week)
    assert not any(any(v) for k, v in found.items() if k.endswith(".zh"))


def test_the_note_comes_before_the_first_section(week: Engine) -> None:
    cs.set_note(week, WEEK, "zh", "编者的话", by="ed")
    edition = next(e for e in build(Settings(), WEEK, engine=week).editions if e.locale == "zh")
    assert edition.text.index("编者的话") < edition.text.index("== ")


def test_a_send_refuses_stale_editions_saying_to_build(week: Engine) -> None:
    build(Settings(), WEEK, engine=week)
    cs.exclude(week, WEEK, ["s2"], by="ed")
    with pytest.raises(EditionsUnavailable, match=r"stale.*run `digest build --period 2026-W47`"):
        frozen_editions(Settings(), week, WEEK)


def test_a_send_takes_the_editions_once_rebuilt(week: Engine) -> None:
    build(Settings(), WEEK, engine=week)
    cs.exclude(week, WEEK, ["s2"], by="ed")
    build(Settings(), WEEK, engine=week)
    _, editions = frozen_editions(Settings(), week, WEEK)
    assert editions


def test_no_edition_is_built_for_readers_of_a_class_the_editor_emptied(week: Engine) -> None:
    """Their only class has no signal left to show: they are skipped, like readers of a class
    with no signal, rather than mailed an edition saying nothing was published."""
    with week.begin() as conn:
        audience.add(conn, Profile("c@example.com", interests=("Compute",)), "test")
    cs.exclude(week, WEEK, ["s3", "s4"], by="ed")
    result = build(Settings(), WEEK, engine=week)
    assert [e.interests_key for e in result.editions if e.interests] == []
