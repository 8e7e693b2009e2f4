"""What membership brings: `/join/<tier>` and `/scale`, the published confidence scale.

`/join/<tier>` says what the tier adds (its policy's member fields, from the config), shows the
sample the publication names (`tiers.<tier>.sample_signal_id`) exactly as that tier sees it —
and only a signal of an issue whose sending has begun, so naming a sample never publishes next
week's text — and leads to the publication's own call to action (`join_url`, `join_text`,
`price_text`). With no sample configured there is none: no member text is shown that the
publication did not choose to show.

`/scale` publishes the legend of the confidence scale (digest.scale.BANDS) with the meter the
emails use; their footers link here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.config import TierPolicy
from digest.issues.policy import policies
from digest.issues.render.i18n import translations
from digest.issues.render.view import Item, build_item
from digest.model import MEMBER_FIELDS, MEMBERSHIP_TIERS, TIER_NAMES, Lang
from digest.scale import BANDS, Band
from digest.signals.store import get_signal
from digest.web.archive import in_issue_being_sent
from digest.web.deps import WebState, render, web
from digest.web.lang import page_lang

log = logging.getLogger(__name__)

FIELD_HEADINGS = {
    "trend_context": "Trend context",
    "relationship_evidence": "Relationship evidence",
    "failure_paths": "Failure paths",
    "source_notes": "Source notes",
}
"""Member fields by the heading the emails give them (msgids of the catalog)."""

JOINABLE = MEMBERSHIP_TIERS[1:]


def sample_item(state: WebState, tier: str, lang: Lang) -> Item | None:
    """The configured sample as `tier` sees it, or None (unset, unknown, internal, unsent)."""
    wanted = _declared(state, tier).sample_signal_id
    if not wanted:
        return None
    with state.engine.connect() as conn:
        signal = get_signal(conn, wanted)
        sent = signal is not None and in_issue_being_sent(conn, signal.id)
    if signal is None or signal.internal or not sent:
        log.warning(
            "tiers.%s.sample_signal_id %r is not a signal of an issue already sent: no sample",
            tier,
            wanted,
        )
        return None
    return build_item(signal, policies(state.settings)[tier], lang, state.base_url)  # type: ignore[index]


def _declared(state: WebState, tier: str) -> TierPolicy:
    declared: TierPolicy = getattr(state.settings.tiers, tier)
    return declared


def adds(state: WebState, tier: str, lang: Lang) -> list[str]:
    """The member fields `tier` shows that the tier below it does not, as headings."""
    _ = translations(lang).gettext
    below = MEMBERSHIP_TIERS[MEMBERSHIP_TIERS.index(tier) - 1]
    mine = set(_declared(state, tier).fields) - set(_declared(state, below).fields)
    return [_(FIELD_HEADINGS[f]) for f in MEMBER_FIELDS if f in mine]


async def join_page(request: Request) -> Response:
    state = web(request)
    tier = str(request.path_params["tier"])
    if tier not in JOINABLE:
        raise HTTPException(404)
    lang = page_lang(request)
    _ = translations(lang).gettext
    name = _(TIER_NAMES[tier])
    declared = _declared(state, tier)
    below = MEMBERSHIP_TIERS[MEMBERSHIP_TIERS.index(tier) - 1]
    return render(
        request,
        "web/join.html.j2",
        {
            "title": _("Join the %(tier)s") % {"tier": name},
            "tier": tier,
            "tier_name": name,
            "below_name": _(TIER_NAMES[below]),
            "adds": adds(state, tier, lang),
            "max_items": declared.max_items,
            "sample": sample_item(state, tier, lang),
            "join_url": declared.join_url,
            "join_text": declared.join_text or _("Join the %(tier)s") % {"tier": name},
            "price_text": declared.price_text,
        },
        lang=lang,
    )


@dataclass(frozen=True)
class ScaleRow:
    tier: str
    band: str
    label: str
    mailed: bool


def scale_rows(lang: Lang) -> list[ScaleRow]:
    """The legend, top band first: `0.90–1.00 · A · High — direct sources` …"""
    _ = translations(lang).gettext
    rows = []
    for index, band in enumerate(BANDS):
        rows.append(ScaleRow(band.tier, _range(band, index), _(band.label), not band.internal))
    return rows


def _range(band: Band, index: int) -> str:
    high = 1.0 if index == 0 else BANDS[index - 1].low - 0.01
    return f"{band.low:.2f}–{high:.2f}"


async def scale_page(request: Request) -> Response:
    lang = page_lang(request)
    _ = translations(lang).gettext
    return render(
        request,
        "web/scale.html.j2",
        {"title": _("How we rate confidence"), "rows": scale_rows(lang)},
        lang=lang,
    )


def routes() -> list[BaseRoute]:
    return [Route("/join/{tier}", join_page), Route("/scale", scale_page)]
