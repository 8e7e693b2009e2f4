"""The per-edition view model: plain frozen values holding only what one tier may see.

Gating by construction: `visible()` copies from a signal only the fields the tier's policy allows,
and every later step reads that copy, never the signal. A template therefore cannot print a
member-only field of a higher tier, whatever it does. Text is normalized here too (titles on one
line, `%%` defused) so hostile input reaches templates as inert data.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from digest.config import Settings
from digest.issues.group import OTHER, Section
from digest.issues.policy import PUBLIC_FIELDS, Policy
from digest.issues.render import placeholders as ph
from digest.issues.render.i18n import LANG_TAGS, format_day, format_span, translations
from digest.issues.render.subject import Headline, padded, write_preheader, write_subject
from digest.model import LANGS, MEMBERSHIP_TIERS, TIER_NAMES, Lang, MembershipTier, Signal
from digest.period import Period
from digest.text import language_of

_SPACE = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

NEXT_TIER: dict[str, str] = {"open": "strategy_circle", "strategy_circle": "leadership_alliance"}


@dataclass(frozen=True)
class Para:
    """A piece of signal text; `lang` is set when it differs from the edition's language."""

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Note:
    """A member-only field as shown: its translated heading and its paragraphs."""

    field: str
    heading: str
    paragraphs: tuple[Para, ...]


@dataclass(frozen=True)
class Item:
    id: str
    url: str
    """Where the headline links in the HTML part: the signal's source URL, else its public page,
    which for a paid tier is `%%view_url_html%%#<anchor>` instead (the reader's own tier view,
    at this item)."""
    url_text: str
    """The same link for the text part (its own placeholder: values are escaped per part)."""
    anchor: str
    """The item's fragment id on the web view (`signal_anchor`)."""
    title: Para
    tier: str | None
    tier_label: str | None
    confidence: str | None
    meta: tuple[Para, ...]  # signal type, region
    published: str | None
    summary: tuple[Para, ...]
    watch: tuple[Para, ...]
    relevance: Para | None
    horizon: Para | None
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class SectionView:
    name: str
    anchor: str
    items: tuple[Item, ...]
    more: int
    more_url: str


@dataclass(frozen=True)
class Invite:
    tier: str
    name: str
    pitch: str
    url: str


@dataclass(frozen=True)
class EditionView:
    tier: MembershipTier
    tier_name: str
    locale: Lang
    lang: str
    publication: str
    period_key: str
    period_label: str
    subject: str
    preheader: str
    sections: tuple[SectionView, ...]
    shown: int
    total: int
    invite: Invite | None
    base_url: str
    postal_address: str
    interests: tuple[str, ...]
    subscribe_url: str = ""
    """`{base_url}/subscribe`: the footer's "Forwarded this? Subscribe"."""
    reply_to: str | None = None
    """`publication.reply_to` when set: the footer invites a reply."""
    name: str = ph.NAME_HTML
    unsubscribe_url: str = ph.UNSUBSCRIBE_URL_HTML
    preferences_url: str = ph.PREFERENCES_URL_HTML
    view_url: str = ph.VIEW_URL_HTML
    """The reader's signed web view of this edition's tier ("View in browser")."""
    name_text: str = ph.NAME_TEXT
    unsubscribe_url_text: str = ph.UNSUBSCRIBE_URL_TEXT
    preferences_url_text: str = ph.PREFERENCES_URL_TEXT
    view_url_text: str = ph.VIEW_URL_TEXT

    @property
    def signal_ids(self) -> list[str]:
        return [item.id for section in self.sections for item in section.items]


def one_line(text: str) -> str:
    """Titles, labels, subject: no CR/LF or control characters, single spaces."""
    return ph.defuse(_SPACE.sub(" ", _CTRL.sub("", text)).strip())


def paragraph_text(text: str) -> str:
    return ph.defuse(_CTRL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip())


def visible(signal: Signal, policy: Policy) -> dict[str, Any]:
    """The signal's member fields this tier may see, and nothing else: the gate."""
    return {name: getattr(signal, name) for name in policy.fields}


def _para(text: str, locale: Lang, lang: str | None = None) -> Para:
    lang = lang or language_of(text)
    return Para(text, None if lang == locale else LANG_TAGS.get(lang, lang))


def _in_language(texts: Mapping[str, list[str]], locale: Lang) -> tuple[Para, ...]:
    """Paragraphs in the reader's language, else the other one, marked with its language."""
    for lang in (locale, *[other for other in LANGS if other != locale]):
        if texts.get(lang):
            return tuple(_para(paragraph_text(t), locale, lang) for t in texts[lang] if t.strip())
    return ()


_ANCHOR_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def signal_anchor(signal_id: str) -> str:
    """The fragment id of a signal on a web view: its id when that is a valid, URL-safe one
    (`s-46984b0ae1c75649`), else `s-` and a hash of it (ids are untrusted text)."""
    if _ANCHOR_SAFE.fullmatch(signal_id):
        return signal_id
    return "s-" + hashlib.blake2b(signal_id.encode("utf-8"), digest_size=8).hexdigest()


MEMBER_LINK_TIERS: frozenset[str] = frozenset({"strategy_circle", "leadership_alliance"})
"""Tiers whose item links open the reader's own tier view instead of the public signal page,
which shows less than their email (a signal's own external source URL stays its link)."""


def signal_url(data: Mapping[str, Any], base_url: str) -> str:
    """The signal's own URL when absolute, else the web app's page for it."""
    url = data.get("url") or ""
    if url.startswith(("https://", "http://")):
        return str(url)
    return f"{base_url}/signals/{quote(str(data['id']), safe='')}"


def _title(data: Mapping[str, Any], locale: Lang) -> Para:
    titles: Mapping[str, str] = data["titles"]
    for lang in (locale, *[other for other in LANGS if other != locale]):
        if titles.get(lang):
            return _para(one_line(titles[lang]), locale, lang)
    return _para(one_line(data["title"]), locale)


def _notes(data: Mapping[str, Any], policy: Policy, locale: Lang) -> tuple[Note, ...]:
    _ = translations(locale).gettext
    headings = {
        "trend_context": _("Trend context"),
        "relationship_evidence": _("Relationship evidence"),
        "failure_paths": _("Failure paths"),
        "source_notes": _("Source notes"),
    }
    notes = []
    for field in policy.fields:
        value = data.get(field)
        if value:
            paras = tuple(_para(p, locale) for p in paragraph_text(value).split("\n") if p.strip())
            notes.append(Note(field, headings[field], paras))
    return tuple(notes)


ItemCache = dict[tuple[str, str], dict[str, Any]]
"""Public parts of items already built, per (signal id, locale): shared by all tiers' views."""


def _public_part(signal: Signal, locale: Lang, base_url: str) -> dict[str, Any]:
    """Everything of an item but its member notes, from public fields only."""
    data = {name: getattr(signal, name) for name in PUBLIC_FIELDS}
    _ = translations(locale).gettext
    confidence = data["confidence"]
    url = signal_url(data, base_url)
    return {
        "id": data["id"],
        "url": url,
        "url_text": url,
        "anchor": signal_anchor(data["id"]),
        "title": _title(data, locale),
        "tier": data["tier"],
        "tier_label": _(data["tier_label"]) if data["tier_label"] else None,
        "confidence": f"{confidence:.2f}" if confidence is not None else None,
        "meta": tuple(
            _para(one_line(data[k]), locale) for k in ("signal_type", "region") if data[k]
        ),
        "published": format_day(data["published"], locale) if data["published"] else None,
        "summary": _in_language(data["summary"], locale) or _in_language(data["body"], locale)[:1],
        "watch": tuple(_para(one_line(w), locale) for w in data["watch"]),
        "relevance": _para(one_line(data["operational_relevance"]), locale)
        if data["operational_relevance"]
        else None,
        "horizon": _para(one_line(data["time_horizon"]), locale) if data["time_horizon"] else None,
    }


def build_item(
    signal: Signal, policy: Policy, locale: Lang, base_url: str, cache: ItemCache | None = None
) -> Item:
    """One signal as this tier sees it: public parts (cached across tiers) + its member notes."""
    key = (signal.id, locale)
    public = cache.get(key) if cache is not None else None
    if public is None:
        public = _public_part(signal, locale, base_url)
        if cache is not None:
            cache[key] = public
    notes = _notes(visible(signal, policy), policy, locale)
    if policy.tier in MEMBER_LINK_TIERS and public["url"].startswith(f"{base_url}/signals/"):
        anchor = public["anchor"]
        member = {"url": f"{ph.VIEW_URL_HTML}#{anchor}", "url_text": f"{ph.VIEW_URL_TEXT}#{anchor}"}
        return Item(**{**public, **member}, notes=notes)
    return Item(**public, notes=notes)


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "other"


def build_view(
    sections: Sequence[Section],
    policy: Policy,
    locale: Lang,
    settings: Settings,
    period: Period,
    interests: frozenset[str] = frozenset(),
    max_items: int | None = None,
    cache: ItemCache | None = None,
) -> EditionView:
    """One edition's view: the sections this reader follows, capped, with the overflow counts."""
    _ = translations(locale).gettext
    pub = settings.publication
    base = pub.base_url.rstrip("/")
    limit = max_items or policy.max_items
    views: list[SectionView] = []
    total = 0
    for section in sections:
        if interests and section.market_class not in interests:
            continue
        shown = [s for s in section.signals if policy.shows(s)]
        total += len(shown)
        if not shown:
            continue
        name = one_line(section.market_class) if section.market_class != OTHER else _("Other")
        more_url = f"{base}/issues/{quote(period.key)}?class={quote(section.market_class)}"
        items = tuple(build_item(s, policy, locale, base, cache) for s in shown[:limit])
        views.append(SectionView(name, _anchor(name), items, len(shown) - len(items), more_url))
    shown_count = sum(len(v.items) for v in views)
    headlines = [
        Headline(item.title.text, item.title.lang is None) for v in views for item in v.items
    ]
    publication = one_line(pub.name)
    subject = write_subject(
        headlines,
        template=settings.editions.subject_template,
        publication=publication,
        period=period,
        locale=locale,
    )
    tier_names: dict[str, str] = {tier: _(TIER_NAMES[tier]) for tier in MEMBERSHIP_TIERS}
    invite = None
    if policy.tier in NEXT_TIER:
        upgrade = NEXT_TIER[policy.tier]
        pitch = {
            "strategy_circle": _(
                "Members of the Strategy Circle read the trend context behind every signal."
            ),
            "leadership_alliance": _(
                "The Leadership Alliance adds relationship evidence, failure paths and source "
                "notes for operators, investors and policy teams."
            ),
        }[upgrade]
        invite = Invite(upgrade, tier_names[upgrade], pitch, f"{base}/join/{upgrade}")
    return EditionView(
        tier=policy.tier,
        tier_name=tier_names[policy.tier],
        locale=locale,
        lang=LANG_TAGS[locale],
        publication=publication,
        period_key=period.key,
        period_label=format_span(period.start, period.end, locale),
        subject=subject.text,
        preheader=padded(
            write_preheader(
                headlines,
                subject_headline=subject.headline,
                shown=shown_count,
                locale=locale,
                publication=publication,
                period=period,
                tier_name=tier_names[policy.tier],
            )
        ),
        sections=tuple(views),
        shown=shown_count,
        total=total,
        invite=invite,
        base_url=base,
        postal_address=one_line(pub.postal_address),
        interests=tuple(sorted(interests)),
        subscribe_url=f"{base}/subscribe",
        reply_to=pub.reply_to,
    )
