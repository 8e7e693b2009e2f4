"""Per-tier policy: which member fields, confidence tiers and how many items a tier's edition shows.

The config declares it (`[tiers.*]`, validated there); this module turns it into the frozen
values the view builder reads. The paywall (`MEMBER_FIELDS`) is enforced again here, so even a
policy built by hand cannot hand a higher tier's field to a lower tier.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.config import Settings, TierPolicy
from digest.model import MEMBER_FIELDS, MEMBERSHIP_TIERS, SIGNAL_FIELDS, MembershipTier, Signal

UNRATED = "unrated"

PUBLIC_FIELDS: frozenset[str] = frozenset(SIGNAL_FIELDS) - set(MEMBER_FIELDS)
"""Fields every reader may see (the published page's content)."""


class PolicyError(ValueError):
    """A policy would show a member-only field to a tier below the paywall's."""


def tier_may_see(tier: MembershipTier, field: str) -> bool:
    """The paywall: a member field is for its tier and those above it; public fields for all."""
    if field not in MEMBER_FIELDS:
        return field in PUBLIC_FIELDS
    needed = MEMBER_FIELDS[field]
    return MEMBERSHIP_TIERS.index(tier) >= MEMBERSHIP_TIERS.index(needed)


@dataclass(frozen=True)
class Policy:
    tier: MembershipTier
    fields: tuple[str, ...]  # member fields shown, in MEMBER_FIELDS order
    confidence_tiers: frozenset[str]
    max_items: int
    compact_tiers: frozenset[str] = frozenset({"C/D", "D", UNRATED})
    """Confidence tiers shown in the compact form ("On the radar")."""

    def __post_init__(self) -> None:
        for field in self.fields:
            if not tier_may_see(self.tier, field):
                raise PolicyError(f"{self.tier} may not see {field!r}")

    @property
    def hidden_fields(self) -> tuple[str, ...]:
        """Member fields this tier's edition must not contain: the leak check's canaries."""
        return tuple(f for f in MEMBER_FIELDS if f not in self.fields)

    @property
    def visible_fields(self) -> frozenset[str]:
        return PUBLIC_FIELDS | set(self.fields)

    def compact(self, signal: Signal) -> bool:
        """Whether a signal is shown in the compact one-line form rather than in full."""
        return (signal.tier or UNRATED) in self.compact_tiers

    def shows(self, signal: Signal) -> bool:
        """Whether a signal's confidence tier is one this edition shows."""
        return (signal.tier or UNRATED) in self.confidence_tiers and not signal.internal


def policy_from(tier: MembershipTier, declared: TierPolicy) -> Policy:
    ordered = tuple(f for f in MEMBER_FIELDS if f in declared.fields)
    return Policy(
        tier,
        ordered,
        frozenset(declared.confidence_tiers),
        declared.max_items,
        frozenset(declared.compact_confidence_tiers),
    )


def policies(settings: Settings) -> dict[MembershipTier, Policy]:
    """One policy per membership tier, lowest tier first."""
    return {tier: policy_from(tier, getattr(settings.tiers, tier)) for tier in MEMBERSHIP_TIERS}
