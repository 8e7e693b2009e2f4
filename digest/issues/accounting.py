"""Accounting: what the build did with every signal of the period, and why.

An intelligence publication must never lose a signal without a trace. Each signal of the period
is listed with the editions that show it and, wherever it is missing, the reason: internal
monitoring, merged into another, excluded by an editor, a confidence tier the tier's policy
hides, outside a reader's interest set, over the tier's item limit ("N more"), or cut for the
size budget. The accounting goes into `manifest.json`, is frozen with the issue (the archive
reads it instead of grouping again) and is what `digest issue show` prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from digest.issues.group import OTHER, Grouped
from digest.issues.policy import UNRATED, Policy
from digest.issues.similar import Suggestion
from digest.model import MembershipTier, Signal

INTERNAL = "internal monitoring"
EXCLUDED = "excluded by an editor"
OUTSIDE_INTERESTS = "outside the reader's interest set"
SIZE_BUDGET = "cut for the size budget"


def merged_reason(kept: str) -> str:
    return f"merged into {kept}"


def hidden_reason(tier: str | None, membership: str) -> str:
    return f"confidence tier {tier or UNRATED} hidden by the {membership} policy"


def limit_reason(limit: int, more: int, market_class: str) -> str:
    where = market_class or "Other"
    return f"over the tier's item limit of {limit} ({more} more in {where})"


@dataclass(frozen=True)
class Fate:
    """One signal of the period: where it is shown and, where it is not, why."""

    id: str
    title: str
    market_class: str
    confidence: float | None
    tier: str | None
    shown_in: tuple[str, ...]
    reason: str
    """Why it is missing (each reason with the editions it applies to); "" if shown in all."""
    merged_into: str | None = None
    missing: Mapping[str, str] = field(default_factory=dict)
    """Edition name -> why this signal is not in it."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "market_class": self.market_class,
            "confidence": self.confidence,
            "tier": self.tier,
            "shown_in": list(self.shown_in),
            "reason": self.reason,
            "merged_into": self.merged_into,
            "missing": dict(self.missing),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fate:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", "")),
            market_class=str(data.get("market_class", "")),
            confidence=data.get("confidence"),
            tier=data.get("tier"),
            shown_in=tuple(data.get("shown_in", ())),
            reason=str(data.get("reason", "")),
            merged_into=data.get("merged_into"),
            missing=dict(data.get("missing", {})),
        )


@dataclass
class Accounting:
    """The whole period's accounting, in the order the signals were collected."""

    signals: list[Fate]
    suggested_merges: list[Suggestion]
    duplicates: dict[str, str]
    """Automatic merges only (the same id, URL or text): dropped id -> kept id."""
    manual_merges: dict[str, str]
    internal_excluded: list[str]
    excluded: list[str]
    sections: list[tuple[str, list[str]]]
    """The frozen grouping: each market class ("" = none) with its kept ids, in order."""
    stories: dict[str, dict[str, Any]]
    """Kept id -> its merged records, sources and confidences (the editor sees disagreement)."""
    lead: str | None = None
    """The editor's lead as the build applied it (None: no pick, or not among the signals)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "signals": [f.as_dict() for f in self.signals],
            "suggested_merges": [s.as_dict() for s in self.suggested_merges],
            "duplicates": dict(self.duplicates),
            "manual_merges": dict(self.manual_merges),
            "internal_excluded": list(self.internal_excluded),
            "excluded": list(self.excluded),
            "sections": [[name, list(ids)] for name, ids in self.sections],
            "stories": dict(self.stories),
            "lead": self.lead,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Accounting:
        return cls(
            signals=[Fate.from_dict(f) for f in data.get("signals", [])],
            suggested_merges=[Suggestion.from_dict(s) for s in data.get("suggested_merges", [])],
            duplicates=dict(data.get("duplicates", {})),
            manual_merges=dict(data.get("manual_merges", {})),
            internal_excluded=list(data.get("internal_excluded", [])),
            excluded=list(data.get("excluded", [])),
            sections=[(str(n), [str(i) for i in ids]) for n, ids in data.get("sections", [])],
            stories=dict(data.get("stories", {})),
            lead=data.get("lead"),
        )

    def fate(self, signal_id: str) -> Fate | None:
        return next((f for f in self.signals if f.id == signal_id), None)


def edition_name(tier: str, locale: str, interests: frozenset[str] = frozenset()) -> str:
    """`open.en`, or `open.en[Class A;Class B]` for an interest set's edition."""
    name = f"{tier}.{locale}"
    return f"{name}[{';'.join(sorted(interests))}]" if interests else name


def _why_missing(
    signal: Signal, position: int, shown_count: int, policy: Policy, interests: frozenset[str]
) -> str:
    market_class = signal.market_class or OTHER
    if interests and market_class not in interests:
        return OUTSIDE_INTERESTS
    if not policy.shows(signal):
        return hidden_reason(signal.tier, policy.tier)
    if position < policy.max_items:  # the edition showed fewer than the policy allows
        return SIZE_BUDGET
    return limit_reason(policy.max_items, shown_count - policy.max_items, market_class)


def _where(names: Sequence[str], editions: Sequence[str]) -> str:
    """The editions a reason applies to, shortest first: "every edition", then each interest
    set whose editions all share it ("readers of Supply Chain only", not its editions' names:
    a set has an edition per tier and language that reads it), then the other editions by name."""
    if len(names) == len(editions):
        return "every edition"
    by_set: dict[str, list[str]] = {}
    for name in editions:
        by_set.setdefault(name.partition("[")[2].rstrip("]"), []).append(name)
    chosen, parts = set(names), []
    for interests, members in by_set.items():
        if interests and chosen.issuperset(members):
            parts.append(f"readers of {interests.replace(';', ' + ')} only")
            chosen.difference_update(members)
    return ", ".join([*parts, *(n for n in names if n in chosen)])


def _summary(missing: Mapping[str, str], editions: Sequence[str]) -> str:
    """Each distinct reason once, with the editions it applies to ("all" when every one)."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in missing.items():
        by_reason.setdefault(reason, []).append(name)
    return "; ".join(f"{reason} ({_where(names, editions)})" for reason, names in by_reason.items())


def _fate(
    signal: Signal,
    shown_in: tuple[str, ...],
    reason: str,
    merged_into: str | None,
    missing: Mapping[str, str] | None = None,
) -> Fate:
    return Fate(
        id=signal.id,
        title=signal.title,
        market_class=signal.market_class or "",
        confidence=signal.confidence,
        tier=signal.tier,
        shown_in=shown_in,
        reason=reason,
        merged_into=merged_into,
        missing=dict(missing or {}),
    )


def account(
    signals: Sequence[Signal],
    grouped: Grouped,
    editions: Sequence[Any],
    policies: Mapping[MembershipTier, Policy],
) -> Accounting:
    """Every signal of `signals` (the period's, internal ones included) against the editions
    built from `grouped`."""
    names = [edition_name(e.tier, e.locale, e.interests) for e in editions]
    shown_sets = [set(e.signal_ids) for e in editions]
    kept: dict[str, tuple[Signal, str]] = {}  # id -> (kept record, section)
    place: dict[tuple[str, str], tuple[int, int]] = {}  # (tier, id) -> (position, shown count)
    for section in grouped.sections:
        for signal in section.signals:
            kept[signal.id] = (signal, section.market_class)
        for tier, policy in policies.items():
            visible = [s for s in section.signals if policy.shows(s)]
            for position, signal in enumerate(visible):
                place[(tier, signal.id)] = (position, len(visible))
    excluded = set(grouped.excluded)
    fates = []
    for signal in signals:
        merged_into = grouped.merged_into(signal.id)
        if signal.internal:
            whole = INTERNAL
        elif signal.id in excluded:
            whole = EXCLUDED
        elif merged_into is not None:
            whole = merged_reason(merged_into)
        elif signal.id not in kept:
            whole = EXCLUDED  # merged into a story an editor excluded
        else:
            whole = ""
        if whole:
            fates.append(_fate(signal, (), whole, merged_into))
            continue
        record = kept[signal.id][0]
        shown_in: list[str] = []
        missing: dict[str, str] = {}
        for edition, name, shown in zip(editions, names, shown_sets, strict=True):
            if signal.id in shown:
                shown_in.append(name)
                continue
            policy = policies[edition.tier]
            position, count = place.get((edition.tier, signal.id), (0, 0))
            missing[name] = _why_missing(record, position, count, policy, edition.interests)
        fates.append(_fate(signal, tuple(shown_in), _summary(missing, names), None, missing))
    stories = {
        kept_id: {
            "members": list(story.members),
            "sources": list(story.sources),
            "confidences": list(story.confidences),
            "disagreement": story.disagreement,
        }
        for kept_id, story in grouped.stories.items()
    }
    return Accounting(
        signals=fates,
        suggested_merges=list(grouped.suggestions),
        duplicates=dict(grouped.duplicates),
        manual_merges=dict(grouped.manual),
        internal_excluded=[s.id for s in signals if s.internal],
        excluded=list(grouped.excluded),
        sections=[(s.market_class, [x.id for x in s.signals]) for s in grouped.sections],
        stories=stories,
        lead=grouped.lead,
    )
