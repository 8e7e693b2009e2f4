"""An edition as a web page: the frozen edition's own items, at its tier, in its language.

The archive (the Open edition, public) and a paid reader's view (`/view/<token>`, their tier) show
the same items as the email, in the same order: the frozen edition's `signal_ids`, so whatever
the editors left out stays out and nothing is added. Each item is built by the view builder with
the tier's policy, so a page can no more hold a higher tier's field than the email can, and each
is an `id="<signal id>"` anchor the email's links point to. A page that reflows, not the email's
600 px tables in an iframe: readable on a phone and in dark mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from digest.issues.editions import Edition
from digest.issues.group import OTHER
from digest.issues.policy import policies
from digest.issues.render.i18n import format_span, translations
from digest.issues.render.view import Item, build_item, class_name
from digest.model import TIER_NAMES, Lang
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


def edition_page(
    state: WebState, conn: Connection, period: Period, edition: Edition, lang: Lang
) -> EditionPage:
    """The page of one frozen edition, its items seen by `edition.tier` in `lang`."""
    _ = translations(lang).gettext
    policy = policies(state.settings)[edition.tier]
    sections: list[tuple[str, list[Item]]] = []
    for signal_id in edition.signal_ids:
        signal = get_signal(conn, signal_id)
        if signal is None or signal.internal:  # forgotten since, or made internal: not shown
            continue
        name = signal.market_class or OTHER
        if not sections or sections[-1][0] != name:
            sections.append((name, []))
        sections[-1][1].append(build_item(signal, policy, lang, state.base_url))
    pub = state.settings.publication.name
    kicker = " · ".join(
        [pub, format_span(period.start, period.end, lang), _(TIER_NAMES[edition.tier])]
    )
    lead = sections[0][1][0].title if sections else None
    return EditionPage(
        kicker=kicker,
        title=lead.text if lead else edition.subject,
        title_lang=lead.lang if lead else None,
        sections=tuple(
            PageSection(class_name(name, lang, state.settings)[0], tuple(items))
            for name, items in sections
        ),
    )
