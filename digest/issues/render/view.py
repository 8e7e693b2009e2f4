"""The per-edition view model: plain frozen values holding only what one tier may see.

Gating by construction: `visible()` copies from a signal only the fields the tier's policy allows,
and every later step reads that copy, never the signal. A template therefore cannot print a
member-only field of a higher tier, whatever it does. Text is normalized here too (titles on one
line, `%%` defused) so hostile input reaches templates as inert data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from digest.config import Settings
from digest.issues.continuity import Continuity
from digest.issues.group import OTHER, Section, Story
from digest.issues.policy import PUBLIC_FIELDS, Policy
from digest.issues.render import placeholders as ph
from digest.issues.render.i18n import LANG_TAGS, format_day, format_span, translations
from digest.model import LANGS, MEMBERSHIP_TIERS, TIER_NAMES, Lang, MembershipTier, Signal
from digest.period import Period
from digest.text import language_of

_SPACE = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

SUBJECT_MAX = 78
PREHEADER_MAX = 120

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
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Item:
    id: str
    url: str
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
    sources: tuple[Link, ...] = ()
    """Every source of a merged story (two or more), by host: shown with the item."""
    updated: str | None = None
    """"Updated: confidence C/D → B/C since 16 Nov" (or a follow-up's line), else None."""
    follows_url: str | None = None
    """The earlier signal this one follows up, for `updated` to link to."""


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
    note_source: str = ""
    """The editor's note for this edition's language: Markdown source (rendered elsewhere)."""
    name: str = ph.NAME_HTML
    unsubscribe_url: str = ph.UNSUBSCRIBE_URL_HTML
    preferences_url: str = ph.PREFERENCES_URL_HTML
    name_text: str = ph.NAME_TEXT
    unsubscribe_url_text: str = ph.UNSUBSCRIBE_URL_TEXT
    preferences_url_text: str = ph.PREFERENCES_URL_TEXT
    note_html: Markup | None = None
    """The editor's note of this language, rendered safely (digest.issues.render.note)."""
    note_text: str = ""
    """The same note for the text part ("" when there is none)."""

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


def _nothing() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class IssueContext:
    """What the issue knows about its items beyond each signal: merged stories, earlier
    readings, the editor's lead and note. The empty value adds nothing."""

    stories: Mapping[str, Story] = dataclass_field(default_factory=_nothing)
    continuity: Mapping[str, Continuity] = dataclass_field(default_factory=_nothing)
    lead: str | None = None
    notes: Mapping[str, str] = dataclass_field(default_factory=_nothing)


NO_CONTEXT = IssueContext()


def _sources(story: Story | None) -> tuple[Link, ...]:
    """A merged story's web sources by host (file paths are the editor's, not the reader's)."""
    if story is None:
        return ()
    links = []
    for source in story.sources:
        # "%%" is never valid percent-encoding: such a "URL" could smuggle a placeholder.
        if source.startswith(("https://", "http://")) and "%%" not in source:
            host = (urlsplit(source).hostname or source).removeprefix("www.")
            links.append(Link(one_line(host), source))
    return tuple(links) if len(links) > 1 else ()


def _updated(
    continuity: Continuity | None, locale: Lang, base_url: str
) -> tuple[str | None, str | None]:
    """The "Updated" line and the link back, in the edition's language."""
    if continuity is None:
        return None, None
    _ = translations(locale).gettext
    day = format_day(continuity.since, locale)
    url = f"{base_url}/signals/{quote(continuity.follows, safe='')}" if continuity.follows else None
    if not continuity.changed:
        return _("Follows up the signal of %(day)s") % {"day": day}, url
    unrated = _("Unrated")
    text = _("Updated: confidence %(before)s → %(now)s since %(day)s") % {
        "before": continuity.before or unrated,
        "now": continuity.now or unrated,
        "day": day,
    }
    return text, url


def _public_part(
    signal: Signal, locale: Lang, base_url: str, context: IssueContext = NO_CONTEXT
) -> dict[str, Any]:
    """Everything of an item but its member notes, from public fields only."""
    data = {name: getattr(signal, name) for name in PUBLIC_FIELDS}
    _ = translations(locale).gettext
    confidence = data["confidence"]
    updated, follows_url = _updated(context.continuity.get(signal.id), locale, base_url)
    return {
        "sources": _sources(context.stories.get(signal.id)),
        "updated": updated,
        "follows_url": follows_url,
        "id": data["id"],
        "url": signal_url(data, base_url),
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
    signal: Signal,
    policy: Policy,
    locale: Lang,
    base_url: str,
    cache: ItemCache | None = None,
    context: IssueContext = NO_CONTEXT,
) -> Item:
    """One signal as this tier sees it: public parts (cached across tiers) + its member notes."""
    key = (signal.id, locale)
    public = cache.get(key) if cache is not None else None
    if public is None:
        public = _public_part(signal, locale, base_url, context)
        if cache is not None:
            cache[key] = public
    return Item(**public, notes=_notes(visible(signal, policy), policy, locale))


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "other"


_WIDE = re.compile(
    r"[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
)


def display_width(text: str) -> int:
    """Display columns: CJK (wide) characters take two, as in an inbox list."""
    return len(text) + len(_WIDE.findall(text))


def clip(text: str, columns: int) -> str:
    """Cut to `columns` display columns, ending with an ellipsis when cut."""
    if display_width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        used += 2 if _WIDE.match(ch) else 1
        if used > columns - 1:
            break
        out.append(ch)
    return "".join(out).rstrip() + "…"


def _subject(publication: str, period: Period, headline: str | None, locale: Lang) -> str:
    _ = translations(locale).gettext
    week = period.iso_week
    label = (
        _("week %(week)d") % {"week": week[1]}
        if week
        else format_span(period.start, period.end, locale)
    )
    prefix = _("%(publication)s, %(period)s") % {"publication": publication, "period": label}
    if headline is None:
        return one_line(prefix)
    full = _("%(prefix)s: %(headline)s") % {"prefix": prefix, "headline": headline}
    return clip(one_line(full), SUBJECT_MAX)


def _preheader(sections: Sequence[SectionView], shown: int, locale: Lang) -> str:
    _ = translations(locale).ngettext
    count = _("%(num)d signal", "%(num)d signals", shown) % {"num": shown}
    titles = [item.title.text for s in sections for item in s.items][1:4]
    sep = "；" if locale == "zh" else "; "
    colon = "：" if locale == "zh" else ": "
    text = count + (colon + sep.join(titles) if titles else "")
    return clip(one_line(text), PREHEADER_MAX)


def build_view(
    sections: Sequence[Section],
    policy: Policy,
    locale: Lang,
    settings: Settings,
    period: Period,
    interests: frozenset[str] = frozenset(),
    max_items: int | None = None,
    cache: ItemCache | None = None,
    context: IssueContext = NO_CONTEXT,
) -> EditionView:
    """One edition's view: the sections this reader follows, capped, with the overflow counts.

    The editor's lead (already first in its section) is the subject's headline wherever it is
    shown; otherwise the first item shown is."""
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
        items = tuple(build_item(s, policy, locale, base, cache, context) for s in shown[:limit])
        views.append(SectionView(name, _anchor(name), items, len(shown) - len(items), more_url))
    shown_count = sum(len(v.items) for v in views)
    headline = views[0].items[0].title.text if views else None
    for item in (i for v in views for i in v.items if i.id == context.lead):
        headline = item.title.text
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
        publication=one_line(pub.name),
        period_key=period.key,
        period_label=format_span(period.start, period.end, locale),
        subject=_subject(one_line(pub.name), period, headline, locale),
        preheader=_preheader(views, shown_count, locale),
        sections=tuple(views),
        shown=shown_count,
        total=total,
        invite=invite,
        base_url=base,
        postal_address=one_line(pub.postal_address),
        interests=tuple(sorted(interests)),
        note_source=context.notes.get(locale, ""),
    )
