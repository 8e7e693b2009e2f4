"""Issues and editions: a period's signals rendered once per tier × language × interest set.

`build_issue` is the library call behind `digest build`, `digest preview` and the main job; it is
pure (no database), so sending and tests can call it directly. Freezing the result in the store
is `digest.issues.store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.audience.model import interests_key
from digest.config import Settings
from digest.issues.accounting import Accounting, account
from digest.issues.checks import SIZE_FAIL, Check, check_edition, leak_needles
from digest.issues.continuity import Continuity
from digest.issues.controls import NO_CONTROLS, IssueControls
from digest.issues.group import Grouped, group
from digest.issues.policy import Policy, policies
from digest.issues.render.engine import Renderer, RenderError, renderer_for, template_dirs
from digest.issues.render.note import RenderedNote, render_note
from digest.issues.render.subject import SubjectTemplateError, unpadded
from digest.issues.render.view import (
    NO_CONTEXT,
    EditionView,
    IssueContext,
    ItemCache,
    build_view,
)
from digest.model import LANGS, Lang, MembershipTier, Signal
from digest.period import Period

ALL_CLASSES: frozenset[str] = frozenset()
"""The interest set of a reader who follows every market class."""


@dataclass
class Edition:
    tier: MembershipTier
    locale: Lang
    interests: frozenset[str]
    subject: str
    preheader: str
    html: str
    text: str
    signal_ids: list[str]
    checks: list[Check]
    template: str = ""
    id: int | None = None
    """The stored edition's id; None until the issue is frozen (`digest.issues.store`)."""

    @property
    def stored_id(self) -> int:
        """The id of a frozen edition (what the ledger and providers refer to)."""
        if self.id is None:
            raise ValueError(f"{self.tier}.{self.locale} is not stored: freeze the issue first")
        return self.id

    @property
    def interests_key(self) -> str:
        return interests_key(self.interests)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.level == "fail"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.level == "warn"]

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode())


@dataclass
class Issue:
    period: Period
    editions: list[Edition]
    grouped: Grouped
    internal: list[Signal] = field(default_factory=list)
    controls: IssueControls = NO_CONTROLS
    """The editor's controls this issue was built with (freezing compares them with the
    stored ones: a change made during the build leaves the editions stale)."""
    accounting: Accounting | None = None
    """Every signal of the period: where shown, and why not elsewhere (manifest, archive)."""

    def edition(self, tier: str, locale: str, interests: frozenset[str] = ALL_CLASSES) -> Edition:
        for edition in self.editions:
            if (edition.tier, edition.locale, edition.interests) == (tier, locale, interests):
                return edition
        raise KeyError((tier, locale, interests_key(interests)))

    @property
    def failed(self) -> bool:
        return any(e.failures for e in self.editions)


def _render_edition(
    renderer: Renderer,
    view: EditionView,
    needles: Sequence[str],
    html: str,
    cache: ItemCache | None = None,
) -> Edition:
    """The edition of a view whose HTML `build_edition` compiled: its text part and checks."""
    text = renderer.text(view, cache.wrapped if cache is not None else None)
    preheader = unpadded(view.preheader)
    checks = check_edition(
        subject=view.subject,
        preheader=preheader,
        html=html,
        text=text,
        base_url=view.base_url,
        postal_address=view.postal_address,
        needles=needles,
        subject_passed_over=view.subject_passed_over,
    )
    return Edition(
        tier=view.tier,
        locale=view.locale,
        interests=frozenset(view.interests),
        subject=view.subject,
        preheader=preheader,
        html=html,
        text=text,
        signal_ids=view.signal_ids,
        checks=checks,
    )


def build_edition(
    grouped: Grouped,
    policy: Policy,
    locale: Lang,
    settings: Settings,
    period: Period,
    interests: frozenset[str],
    renderer: Renderer,
    needles: Sequence[str],
    cache: ItemCache | None = None,
    context: IssueContext = NO_CONTEXT,
    note: RenderedNote | None = None,
) -> Edition:
    """One edition; when it would be clipped, fewer items per section until it fits.

    Only the HTML decides the fit, so an attempt that is too big never renders its text part
    or runs the checks: they run once, on the edition kept."""
    limit = policy.max_items
    while True:
        try:
            view = build_view(
                grouped.sections,
                policy,
                locale,
                settings,
                period,
                interests,
                limit,
                cache,
                context,
                note=note,
            )
        except SubjectTemplateError as exc:  # a setting, reported like a template error
            raise RenderError(str(exc)) from exc
        html = renderer.html(view, renderer.mjml(view, cache.html if cache is not None else None))
        html_bytes = len(html.encode())
        if html_bytes <= SIZE_FAIL or limit == 1:
            break
        # Size grows about linearly with items shown: aim straight under the budget.
        shown = max(1, len(view.signal_ids))
        per_section = max(1, shown // max(1, len(view.sections)))
        fitting = int(per_section * SIZE_FAIL * 0.95 / html_bytes)
        limit = max(1, min(limit - 1, fitting))
    edition = _render_edition(renderer, view, needles, html, cache)
    if limit < policy.max_items:
        edition.checks.append(
            Check("overflow", "warn", f"{limit} items per section (not {policy.max_items}) to fit")
        )
    edition.template = renderer.template_name(view)
    return edition


def build_issue(
    signals: Iterable[Signal],
    settings: Settings,
    period: Period,
    interest_sets: Sequence[frozenset[str]] = (ALL_CLASSES,),
    *,
    cwd: Path | None = None,
    controls: IssueControls = NO_CONTROLS,
    continuity: Mapping[str, Continuity] | None = None,
    readers: Mapping[frozenset[str], Collection[tuple[str, str]]] | None = None,
) -> Issue:
    """Every edition of a period: 3 tiers × 2 languages × each distinct interest set.

    Internal-monitoring signals and signals outside the period are dropped here whatever the
    caller passed, so no edition can show one. The editor's `controls` apply (exclusions,
    merges, the lead, the note); `continuity` marks signals updated since an earlier issue.
    With `readers` (interest set → the (tier, locale) pairs someone reads it in), a set's
    editions are only those pairs; the all-classes set always has all six.
    """
    candidates = list(signals)
    internal = [s for s in candidates if s.internal]
    publishable = [
        s
        for s in candidates
        if not s.internal and s.published is not None and s.published in period
    ]
    grouped = group(
        publishable,
        settings.editions.class_order,
        settings.editions.duplicate_threshold,
        controls,
    )
    context = IssueContext(
        stories=grouped.stories,
        continuity=continuity or {},
        lead=grouped.lead,
    )
    renderer = renderer_for(template_dirs(settings, cwd))
    editions: list[Edition] = []
    sets = list(dict.fromkeys(interest_sets)) or [ALL_CLASSES]
    cache = ItemCache()
    notes = {lang: render_note(text) for lang, text in controls.notes.items() if lang in LANGS}
    for policy in policies(settings).values():
        needles = leak_needles(publishable, policy.hidden_fields)
        for interests in sets:
            for locale in LANGS:
                if not _read(interests, policy.tier, locale, readers):
                    continue
                editions.append(
                    build_edition(
                        grouped,
                        policy,
                        locale,
                        settings,
                        period,
                        interests,
                        renderer,
                        needles,
                        cache,
                        context,
                        notes.get(locale),
                    )
                )
    in_period = [s for s in candidates if s.published is not None and s.published in period]
    accounting = account(in_period, grouped, editions, policies(settings))
    return Issue(period, editions, grouped, internal, controls=controls, accounting=accounting)


def _read(
    interests: frozenset[str],
    tier: str,
    locale: str,
    readers: Mapping[frozenset[str], Collection[tuple[str, str]]] | None,
) -> bool:
    """Whether anyone reads this interest set in this tier and language (every edition of all
    classes is built: the preview and the fallback for everyone)."""
    if not interests or readers is None:
        return True
    return (tier, locale) in readers.get(interests, ())


def edition_files(edition: Edition) -> dict[str, str]:
    """`open.en.html`/`.txt` for the all-classes edition; a short hash names other interest sets."""
    stem = f"{edition.tier}.{edition.locale}"
    if edition.interests:
        stem += "." + hashlib.blake2b(edition.interests_key.encode(), digest_size=4).hexdigest()
    return {"html": f"{stem}.html", "text": f"{stem}.txt"}


def manifest(
    period: Period,
    editions: Sequence[Edition],
    *,
    duplicates: dict[str, str] | None = None,
    internal_ids: Sequence[str] = (),
    reused: bool = False,
    accounting: Accounting | None = None,
) -> dict[str, Any]:
    """What `DIR/manifest.json` says about the issue and each edition, and (`signals`,
    `suggested_merges`) what became of every signal of the period."""
    accounted = accounting.as_dict() if accounting is not None else {}
    return {
        "period": period.key,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "reused_frozen_editions": reused,
        "duplicates": duplicates or {},
        "internal_excluded": list(internal_ids),
        "signals": accounted.get("signals", []),
        "suggested_merges": accounted.get("suggested_merges", []),
        "manual_merges": accounted.get("manual_merges", {}),
        "excluded": accounted.get("excluded", []),
        "lead": accounted.get("lead"),
        "editions": [
            {
                "tier": e.tier,
                "locale": e.locale,
                "interests": sorted(e.interests),
                "subject": e.subject,
                "preheader": e.preheader,
                "files": {} if e.interests else edition_files(e),
                "html_bytes": e.html_bytes,
                "signal_ids": e.signal_ids,
                "checks": [c.as_dict() for c in e.checks],
            }
            for e in editions
        ],
    }
