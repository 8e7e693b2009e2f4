"""An edition as a web page: the frozen edition's own items, at its tier, in its language.

The archive (the Open edition, public) and a paid reader's view (`/view/<token>`, their tier) show
the same items as the email, in the same order: the frozen edition's `signal_ids`, so whatever
the editors left out stays out and nothing is added. The items' text is the issue's frozen
snapshot of its signals (`load_signal_snapshot`), so a signal re-ingested, changed or removed
after the send does not change the page of an issue already sent. Each item is built by the
view builder with the tier's policy, so a page can no more hold a higher tier's field than the
email can, and each carries the `id` (`signal_anchor`) the email's `#…` links point to. A page
that reflows, not the email's 600 px tables in an iframe: readable on a phone and in dark mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from digest.issues.accounting import Accounting
from digest.issues.editions import Edition
from digest.issues.group import filled_from
from digest.issues.policy import policies
from digest.issues.render.i18n import format_span, translations
from digest.issues.render.view import Item, Para, build_item, class_name, strongest_or
from digest.issues.store import load_accounting, load_signal_snapshot
from digest.model import TIER_NAMES, Lang, Signal
from digest.period import Period
from digest.signals.store import get_signal
from digest.web.deps import WebState


@dataclass(frozen=True)
class PageSection:
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class EditionPage:
    """What an edition's page shows: its kicker line, its title (the lead's full title, which the
    subject may have cut) and its sections."""

    kicker: str
    title: str
    title_lang: str | None
    sections: tuple[PageSection, ...]

    @property
    def count(self) -> int:
        return sum(len(s.items) for s in self.sections)


def _as_built(conn: Connection, signal: Signal, accounting: Accounting | None) -> Signal:
    """A merged story's record as the build showed it: the kept record with its empty fields
    filled from the other stored members (a member text may have come from a dropped record)."""
    story = accounting.stories.get(signal.id) if accounting is not None else None
    if not story:
        return signal
    others = [get_signal(conn, str(m)) for m in story.get("members", [])[1:]]
    return filled_from(signal, [s for s in others if s is not None])


def _from_store(conn: Connection, signal_id: str, accounting: Accounting | None) -> Signal | None:
    """An item read from the signal store as it is now (None: forgotten, or made internal)."""
    signal = get_signal(conn, signal_id)
    if signal is None or signal.internal:
        return None
    return _as_built(conn, signal, accounting)


def shown_signals(
    conn: Connection, period: Period, edition: Edition, accounting: Accounting | None
) -> list[Signal]:
    """The edition's items, in its order, as the issue's build showed them.

    From the snapshot frozen with the issue, so later re-ingests change nothing. Issues frozen
    before the snapshot was recorded, and an id it lacks (an edition added at send time for a
    new interest set), fall back to the signal store as it is now: the text may then be newer
    than the email's, and a signal forgotten or made internal since is left out.
    """
    snapshot = load_signal_snapshot(conn, period) or {}
    shown = [
        snapshot[i] if i in snapshot else _from_store(conn, i, accounting)
        for i in edition.signal_ids
    ]
    return [s for s in shown if s is not None]


def edition_page(
    state: WebState, conn: Connection, period: Period, edition: Edition, lang: Lang
) -> EditionPage:
    """The page of one frozen edition, its items seen by `edition.tier` in `lang`: merged
    stories as the build filled them, class names as the emails give them, and the edition's
    lead (the editor's pick, else its strongest item) as the title."""
    _ = translations(lang).gettext
    policy = policies(state.settings)[edition.tier]
    accounting = load_accounting(state.engine, period)
    shown = shown_signals(conn, period, edition, accounting)
    lead = strongest_or(shown, accounting.lead if accounting is not None else None)
    sections: list[tuple[str, list[Item]]] = []
    radar: list[Item] = []
    title: Para | None = None
    for signal in shown:
        item = build_item(signal, policy, lang, state.base_url, full=signal is lead)
        title = item.title if signal is lead else title
        if item.compact:  # under "On the radar", as in the email, not a second class heading
            radar.append(item)
            continue
        name, _written_in = class_name(signal.market_class or "", lang, state.settings)
        if not sections or sections[-1][0] != name:
            sections.append((name, []))
        sections[-1][1].append(item)
    if radar:
        sections.append((_("On the radar"), radar))
    pub = state.settings.publication.name
    kicker = " · ".join(
        [pub, format_span(period.start, period.end, lang), _(TIER_NAMES[edition.tier])]
    )
    return EditionPage(
        kicker=kicker,
        title=title.text if title else edition.subject,
        title_lang=title.lang if title else None,
        sections=tuple(PageSection(name, tuple(items)) for name, items in sections),
    )
