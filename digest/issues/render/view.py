"""The per-edition view model: plain frozen values holding only what one tier may see.

Gating by construction: `visible()` copies from a signal only the fields the tier's policy allows,
and every later step reads that copy, never the signal. A template therefore cannot print a
member-only field of a higher tier, whatever it does. Text is normalized here too (titles on one
line, `%%` defused) so hostile input reaches templates as inert data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from digest.config import Settings
from digest.issues.continuity import Continuity
from digest.issues.group import OTHER, Section, Story
from digest.issues.policy import PUBLIC_FIELDS, Policy
from digest.issues.render import placeholders as ph
from digest.issues.render.i18n import (
    LANG_TAGS,
    format_day,
    format_short_day,
    format_span,
    join_list,
    translations,
)
from digest.issues.render.note import RenderedNote
from digest.issues.render.subject import (
    Headline,
    PassedOver,
    padded,
    passed_over,
    write_preheader,
    write_subject,
)
from digest.issues.render.widths import cut
from digest.model import (
    LANGS,
    MEMBER_FIELDS,
    MEMBERSHIP_TIERS,
    TIER_NAMES,
    Lang,
    MembershipTier,
    Signal,
)
from digest.period import Period
from digest.scale import BANDS, METER_STEPS, meter_filled, tier_rank
from digest.text import language_of

_SPACE = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

SHORT_MAX = 90
"""Display columns of a title in the one-line places: two lines on a phone at most."""

NEXT_TIER: dict[str, str] = {"open": "strategy_circle", "strategy_circle": "leadership_alliance"}


class Para(NamedTuple):
    """A piece of signal text; `lang` is set when it differs from the edition's language.

    A named tuple rather than a frozen dataclass: an edition holds about a thousand of them and
    a frozen dataclass costs ten times as much to create.
    """

    text: str
    lang: str | None = None


@dataclass(frozen=True)
class Note:
    """A member-only field as shown: its translated heading and its paragraphs."""

    field: str
    heading: str
    paragraphs: tuple[Para, ...]


@dataclass(frozen=True)
class Lock:
    """One tier's member-only material an Open reader does not get, named, never quoted.

    Built from booleans (which member fields are filled), so the Open view holds no member text.
    """

    tier: str
    name: str  # the tier's display name, translated
    fields: str  # what is locked, in the reader's words: "failure paths and source notes"
    url: str  # that tier's join page


@dataclass(frozen=True)
class Link:
    text: str
    url: str


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
    """The item's `id` in the email and on the web view of its edition (`signal_anchor`)."""
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
    filled: int = 0
    """Confidence meter steps filled (`digest.scale.meter_filled`): 5 for A, 0 for unrated."""
    region: Para | None = None
    day: str | None = None
    """The short date (`18 Nov`, `11月18日`): the meta line's; the period label has the year."""
    meter_label: str = ""
    """The meter's spoken form (`Confidence: Strong`), for its `aria-label`."""
    level: str = ""
    """The confidence label's short form for the meta line (`High`; the legend has the rest)."""
    short: str = ""
    """The title clipped for one-line places ("This week", "On the radar")."""
    locks: tuple[Lock, ...] = ()
    """Open editions only: which higher tiers add material to this item."""
    compact: bool = False
    """Shown in the one-line form under "On the radar"."""
    key: str = ""
    """Identifies the item's public markup: the same signal, language, form (full or compact)
    and link kind (the public page, or a paying reader's view) give the same markup."""
    member_key: str = ""
    """Identifies its member part (notes or lock line): shared by editions with the same fields."""
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
    items: tuple[Item, ...]  # in full form; this class's compact items are under "On the radar"
    more: int
    more_url: str
    count: int = 0
    """Signals of this class in this edition: full, compact and the "N more" together."""
    lang: str | None = None
    """Set when the name is shown as written in another language (an untranslated class)."""


@dataclass(frozen=True)
class Step:
    """One row of the confidence legend: the meter and its label."""

    filled: int
    tier: str
    label: str


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
    lead: Item | None = None
    """The lead story: the editor's choice when shown, else the strongest item."""
    subject_passed_over: PassedOver | None = None
    """The editor's lead when shown here but not what the subject leads with (no title in this
    edition's language): the `subject-lead` check tells the editor."""
    takeaways: tuple[Item, ...] = ()
    """"This week": the lead, then the strongest items, min(5, shown)."""
    radar: tuple[Item, ...] = ()
    """The compact items ("On the radar"), in section order."""
    invite_after: str | None = None
    """The item id after which the upgrade block stands (Open: the third item)."""
    legend: tuple[Step, ...] = ()
    meter_steps: int = METER_STEPS
    scale_url: str = ""
    note_html: Markup | None = None
    """The editor's note for this edition's language, already rendered from Markdown."""
    note_text: str = ""
    """The editor's note for the text part ("" when there is none)."""
    subscribe_url: str = ""
    """"Forwarded this? Subscribe": the public subscribe page in this edition's language."""
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
        full = [item.id for section in self.sections for item in section.items]
        return full + [item.id for item in self.radar]


def one_line(text: str) -> str:
    """Titles, labels, subject: no CR/LF or control characters, single spaces."""
    return ph.defuse(_SPACE.sub(" ", _CTRL.sub("", text)).strip())


def paragraph_text(text: str) -> str:
    return ph.defuse(_CTRL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip())


def visible(signal: Signal, policy: Policy) -> dict[str, Any]:
    """The signal's member fields this tier may see, and nothing else: the gate."""
    return {name: getattr(signal, name) for name in policy.fields}


@lru_cache(maxsize=4096)
def _language(text: str) -> str:
    """`language_of`, remembered: a paragraph is classified once, not per tier and language."""
    return language_of(text)


def _para(text: str, locale: Lang, lang: str | None = None) -> Para:
    lang = lang or _language(text)
    return Para(text, None if lang == locale else LANG_TAGS.get(lang, lang))


def _in_language(texts: Mapping[str, list[str]], locale: Lang) -> tuple[Para, ...]:
    """Paragraphs in the reader's language, else the other one, marked with its language."""
    for lang in (locale, *[other for other in LANGS if other != locale]):
        if texts.get(lang):
            return tuple(_para(paragraph_text(t), locale, lang) for t in texts[lang] if t.strip())
    return ()


_ANCHOR_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@lru_cache(maxsize=4096)
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
    """The signal's own URL when absolute, else the web app's page for it.

    A URL holding `%%` (never valid percent-encoding) is not used: the sender would fill a
    placeholder in it per recipient (`%%view_url_html%%` …), handing each reader's signed links
    to whatever site the signal names."""
    url = data.get("url") or ""
    if url.startswith(("https://", "http://")) and "%%" not in url:
        return str(url)
    return f"{base_url}/signals/{quote(str(data['id']), safe='')}"


def _title(data: Mapping[str, Any], locale: Lang) -> Para:
    """The title in the edition's language: from `titles`, else `title` when written in it (a
    signal may give `title` in English and only its Chinese translation in `titles`), else the
    other language's, marked with its `lang`."""
    titles: Mapping[str, str] = data["titles"]
    title = str(data["title"] or "")
    if not titles.get(locale) and title and language_of(title) == locale:
        return _para(one_line(title), locale)
    for lang in (locale, *[other for other in LANGS if other != locale]):
        if titles.get(lang):
            return _para(one_line(titles[lang]), locale, lang)
    return _para(one_line(title), locale)


@cache
def _headings(locale: Lang) -> Mapping[str, str]:
    _ = translations(locale).gettext
    return {
        "trend_context": _("Trend context"),
        "relationship_evidence": _("Relationship evidence"),
        "failure_paths": _("Failure paths"),
        "source_notes": _("Source notes"),
    }


def _notes(
    data: Mapping[str, Any],
    policy: Policy,
    locale: Lang,
    known: dict[tuple[str, str], Note] | None = None,
) -> tuple[Note, ...]:
    """The tier's member notes; `known` keeps each (field text, locale)'s note across tiers."""
    headings = _headings(locale)
    notes = []
    for field in policy.fields:
        value = data.get(field)
        if not value:
            continue
        key = (value, locale + field)
        note = known.get(key) if known is not None else None
        if note is None:
            paras = tuple(_para(p, locale) for p in paragraph_text(value).split("\n") if p.strip())
            note = Note(field, headings[field], paras)
            if known is not None:
                known[key] = note
        notes.append(note)
    return tuple(notes)


@dataclass
class ItemCache:
    """What one build computes once and every edition reuses.

    `public`: an item's public parts per (signal id, locale). `items`: finished items per
    (signal id, locale, form, and the tier's member fields or link kind). `html`: rendered
    markup per `Item.key` / `Item.member_key`, and `wrapped`: the text part's lines as wrapped
    (both filled by the renderer: a paragraph shown in three tiers is wrapped once). One cache
    per build: a later build starts empty, so a changed template or setting is never served
    stale.
    """

    public: dict[tuple[str, str], dict[str, Any]] = dataclasses.field(default_factory=dict)
    notes: dict[tuple[str, str], Note] = dataclasses.field(default_factory=dict)
    items: dict[tuple[str, ...], Item] = dataclasses.field(default_factory=dict)
    html: dict[str, str] = dataclasses.field(default_factory=dict)
    wrapped: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _short_label(tier_label: str | None, locale: Lang) -> str:
    _ = translations(locale).gettext
    return _(tier_label) if tier_label else _("Unrated")


def _level(tier_label: str | None, locale: Lang) -> str:
    """`High` of `High — direct sources`: the meta line stays one short line on a phone."""
    return _short_label(tier_label, locale).split(" — ")[0].strip()


def _nothing() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class IssueContext:
    """What the issue knows about its items beyond each signal: merged stories, earlier
    readings, the editor's lead (the note, per language, is `build_view`'s `note`). The empty
    value adds nothing."""

    stories: Mapping[str, Story] = dataclass_field(default_factory=_nothing)
    continuity: Mapping[str, Continuity] = dataclass_field(default_factory=_nothing)
    lead: str | None = None


NO_CONTEXT = IssueContext()


def _sources(story: Story | None) -> tuple[Link, ...]:
    """A merged story's web sources by host: its records' own URLs only (a file path or a
    feed's address, which may carry a key, is the editor's, not the reader's)."""
    if story is None:
        return ()
    links = []
    for source in story.urls:
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
    confidence = data["confidence"]
    region = data["region"]
    title = _title(data, locale)
    updated, follows_url = _updated(context.continuity.get(signal.id), locale, base_url)
    url = signal_url(data, base_url)
    return {
        "sources": _sources(context.stories.get(signal.id)),
        "updated": updated,
        "follows_url": follows_url,
        "id": data["id"],
        "url": url,
        "url_text": url,
        "anchor": signal_anchor(data["id"]),
        "title": title,
        "short": cut(title.text, SHORT_MAX) or title.text,
        "level": _level(data["tier_label"], locale) if data["tier"] else _short_label(None, locale),
        "meter_label": translations(locale).gettext("Confidence: %(label)s")
        % {"label": _short_label(data["tier_label"] if data["tier"] else None, locale)},
        "tier": data["tier"],
        "tier_label": _short_label(data["tier_label"], locale) if data["tier"] else None,
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
        "filled": meter_filled(data["tier"]),
        "region": _para(one_line(region), locale) if region else None,
        "day": format_short_day(data["published"], locale) if data["published"] else None,
    }


_LOCK_WORDS = {
    "trend_context": "trend context",
    "relationship_evidence": "relationship evidence",
    "failure_paths": "failure paths",
    "source_notes": "source notes",
}


def _locks(signal: Signal, policy: Policy, locale: Lang, base_url: str) -> tuple[Lock, ...]:
    """Per higher tier, which of its member fields this signal fills: booleans only.

    Only the lowest tier (Open) shows lock lines; a paying reader is not sold at item by item.
    """
    if policy.tier != MEMBERSHIP_TIERS[0]:
        return ()
    _ = translations(locale).gettext
    filled = {f for f in policy.hidden_fields if bool(getattr(signal, f))}
    locks = []
    for tier in MEMBERSHIP_TIERS[1:]:
        words = [
            _(_LOCK_WORDS[f]) for f in MEMBER_FIELDS if MEMBER_FIELDS[f] == tier and f in filled
        ]
        if words:
            locks.append(
                Lock(
                    tier,
                    _(TIER_NAMES[tier]),
                    join_list(tuple(words), locale),
                    f"{base_url}/join/{tier}",
                )
            )
    return tuple(locks)


def build_item(
    signal: Signal,
    policy: Policy,
    locale: Lang,
    base_url: str,
    cache: ItemCache | None = None,
    context: IssueContext = NO_CONTEXT,
    *,
    full: bool = False,
) -> Item:
    """One signal as this tier sees it: public parts (cached across tiers) + its member notes,
    or, for the lowest tier, which member material it lacks. `full` forces the full form (the
    lead story)."""
    compact = policy.compact(signal) and not full
    # A paying reader's headline opens their own tier view at this item, never the public page
    # (which shows less than their email): the item's links, and so its markup, depend on that.
    views = policy.tier in MEMBER_LINK_TIERS
    # A compact item is the same for every tier of a link kind (no member part); a full one
    # differs by the tier's member fields, and in the lowest tier by its lock line.
    key: tuple[str, ...] = (
        (signal.id, locale, "compact", "v" if views else "p")
        if compact
        else (
            signal.id,
            locale,
            "open" if policy.tier == MEMBERSHIP_TIERS[0] else "",
            *policy.fields,
        )
    )
    if cache is not None and key in cache.items:
        return cache.items[key]
    public = cache.public.get((signal.id, locale)) if cache is not None else None
    if public is None:
        public = _public_part(signal, locale, base_url, context)
        if cache is not None:
            cache.public[(signal.id, locale)] = public
    link_kind = "p"
    if views:
        links: dict[str, Any] = {}
        if public["url"].startswith(f"{base_url}/signals/"):
            anchor = public["anchor"]
            links["url"] = f"{ph.VIEW_URL_HTML}#{anchor}"
            links["url_text"] = f"{ph.VIEW_URL_TEXT}#{anchor}"
        if public["follows_url"] is not None:
            # The earlier signal's public page shows less than the member email that carried
            # it, and there is no signed view of an earlier issue: the line stays, unlinked.
            links["follows_url"] = None
        if links:  # markup that differs from Open's: its own link kind in the cache keys
            public = {**public, **links}
            link_kind = "v"
    known = cache.notes if cache is not None else None
    notes = () if compact else _notes(visible(signal, policy), policy, locale, known)
    locks = () if compact else _locks(signal, policy, locale, base_url)
    member = "locks" if locks else ",".join(n.field for n in notes)
    item = Item(
        **public,
        notes=notes,
        locks=locks,
        compact=compact,
        key=f"{locale}|{'c' if compact else 'f'}{link_kind}|{signal.id}",
        member_key=f"{locale}|{member}|{signal.id}" if member else "",
    )
    if cache is not None:
        cache.items[key] = item
    return item


def _anchor(name: str) -> str:
    """A section's `id`: readable for ASCII names, a short hash for any other."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    if slug and slug.isascii():
        return f"c-{slug}"
    return "c-" + hashlib.blake2b(name.encode(), digest_size=4).hexdigest()


TAKEAWAYS_MAX = 5
INVITE_AFTER = 3


def class_name(market_class: str, locale: Lang, settings: Settings) -> tuple[str, str | None]:
    """(name, lang tag when shown as written in another language) of a market class, named per
    language by `editions.class_names` (emails and web pages alike)."""
    if market_class == OTHER:
        return translations(locale).gettext("Other"), None
    named = settings.editions.class_names.get(market_class, {}).get(locale)
    if named:
        return one_line(named), None
    written = one_line(market_class)
    lang = language_of(written)
    return written, None if lang == locale else LANG_TAGS.get(lang, lang)


def _legend(locale: Lang) -> tuple[Step, ...]:
    _ = translations(locale).gettext
    seen: list[Step] = []
    for band in BANDS:
        if not band.internal and all(s.tier != band.tier for s in seen):
            seen.append(Step(meter_filled(band.tier), band.tier, _(band.label)))
    return tuple(seen)


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
    *,
    lead: str | None = None,
    note: RenderedNote | None = None,
) -> EditionView:
    """One edition's view: the sections this reader follows, capped, with the overflow counts;
    the first screen (lead, takeaways, sections row); the compact items under "On the radar".

    The lead is `lead`, else the editor's pick in `context`, wherever this edition shows it;
    otherwise the strongest item shown (the first of the best tier in the build's order)."""
    lead = lead if lead is not None else context.lead
    _ = translations(locale).gettext
    pub = settings.publication
    base = pub.base_url.rstrip("/")
    limit = max_items or policy.max_items
    chosen: list[tuple[Section, list[Signal], int]] = []
    total = 0
    for section in sections:
        if interests and section.market_class not in interests:
            continue
        shown = [s for s in section.signals if policy.shows(s)]
        total += len(shown)
        if not shown:
            continue
        if lead is not None:  # the editor's lead goes first in its section
            shown.sort(key=lambda s: s.id != lead)
        chosen.append((section, shown[:limit], len(shown) - min(len(shown), limit)))
    everything = [s for _section, signals, _more in chosen for s in signals]
    lead_signal = strongest_or(everything, lead)
    views: list[SectionView] = []
    radar: list[Item] = []
    for section, signals, more in chosen:
        name, name_lang = class_name(section.market_class, locale, settings)
        more_url = f"{base}/issues/{quote(period.key)}?class={quote(section.market_class)}"
        items = [
            build_item(s, policy, locale, base, cache, context, full=s is lead_signal)
            for s in signals
        ]
        full = tuple(i for i in items if not i.compact)
        radar.extend(i for i in items if i.compact)
        if full or more:
            anchor = _anchor(section.market_class)
            views.append(
                SectionView(name, anchor, full, more, more_url, len(signals) + more, name_lang)
            )
    in_order = [i for v in views for i in v.items] + radar
    shown_count = len(in_order)
    lead_item = next((i for i in in_order if lead_signal and i.id == lead_signal.id), None)
    # The strongest, titles in the reader's language first (a takeaway is read at a glance).
    strongest = sorted(
        (i for i in in_order if i is not lead_item),
        key=lambda i: (i.title.lang is not None, tier_rank(i.tier)),
    )
    takeaways = ([lead_item] if lead_item else []) + strongest
    # The subject is the lead's headline (or the next usable one), the preheader the next ones.
    headlines = [
        Headline(i.title.text, i.title.lang is None)
        for i in ([lead_item] if lead_item else []) + [i for i in in_order if i is not lead_item]
    ]
    publication = one_line(pub.name)
    subject = write_subject(
        headlines,
        template=settings.editions.subject_template,
        publication=publication,
        period=period,
        locale=locale,
    )
    editors_lead = lead if lead_item is not None and lead_item.id == lead else None
    tier_names: dict[str, str] = {tier: _(TIER_NAMES[tier]) for tier in MEMBERSHIP_TIERS}
    invite = None
    invite_after = None
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
        full_items = [i for v in views for i in v.items]
        if policy.tier == MEMBERSHIP_TIERS[0] and len(full_items) > INVITE_AFTER:
            invite_after = full_items[INVITE_AFTER - 1].id
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
        lead=lead_item,
        subject_passed_over=passed_over(headlines, subject, editors_lead, locale),
        takeaways=tuple(takeaways[: min(TAKEAWAYS_MAX, shown_count)]),
        radar=tuple(radar),
        invite_after=invite_after,
        legend=_legend(locale),
        scale_url=f"{base}/scale",
        note_html=note.html if note is not None else None,
        note_text=note.text if note is not None else "",
        subscribe_url=f"{base}/subscribe?lang={locale}",
        reply_to=pub.reply_to,
    )


def strongest_or(signals: Sequence[Signal], wanted: str | None) -> Signal | None:
    """The lead of `signals` (in the edition's order): the editor's lead (`wanted`) when among
    them, else the strongest, the first of the best tier. The web pages of an edition use it on
    the edition's `signal_ids` too, and so title themselves with the same story."""
    if not signals:
        return None
    for signal in signals:
        if signal.id == wanted:
            return signal
    return min(signals, key=lambda s: tier_rank(s.tier))
