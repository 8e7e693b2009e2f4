from __future__ import annotations

import pytest
from pydantic import ValidationError

from digest.config import Settings
from digest.issues.policy import Policy, PolicyError, policies


def test_defaults_follow_the_paywall() -> None:
    p = policies(Settings())
    assert p["open"].fields == () and p["open"].max_items == 6
    assert p["strategy_circle"].fields == ("trend_context",)
    assert p["strategy_circle"].max_items == 10
    assert set(p["leadership_alliance"].fields) == {
        "trend_context",
        "relationship_evidence",
        "failure_paths",
        "source_notes",
    }


def test_config_cannot_give_a_lower_tier_a_higher_tiers_field() -> None:
    with pytest.raises(ValidationError, match="reserved for leadership_alliance"):
        Settings.model_validate({"tiers": {"strategy_circle": {"fields": ["source_notes"]}}})


def test_a_partial_tier_table_keeps_that_tiers_default_fields() -> None:
    settings = Settings.model_validate({"tiers": {"strategy_circle": {"max_items": 8}}})
    assert policies(settings)["strategy_circle"].fields == ("trend_context",)


def test_a_hand_built_policy_is_checked_too() -> None:
    with pytest.raises(PolicyError):
        Policy("open", ("trend_context",), frozenset({"A"}), 6)


def test_unknown_confidence_tiers_are_config_errors() -> None:
    with pytest.raises(ValidationError, match="unknown confidence tiers"):
        Settings.model_validate({"tiers": {"open": {"confidence_tiers": ["AAA"]}}})
