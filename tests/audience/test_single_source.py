"""One definition each for facts several modules need (review finding: they had drifted apart)."""

from __future__ import annotations

from pathlib import Path

import pytest

import digest.audience.model as audience_model
import digest.config as config
import digest.issues.editions as editions
import digest.issues.render.view as view
import digest.web.editor as editor
from digest import zones
from digest.audience.model import Tier, interests_key, parse_timezone
from digest.config import Settings
from digest.model import MEMBERSHIP_TIERS, TIER_NAMES


def test_the_audience_tiers_are_the_membership_tiers() -> None:
    assert tuple(Tier) == MEMBERSHIP_TIERS
    assert {t: t.display_name for t in Tier} == TIER_NAMES


def test_editions_key_interest_sets_with_the_audience_function() -> None:
    assert editions.interests_key is interests_key
    assert interests_key(frozenset({"Supply Chain", "Case File"})) == "Case File;Supply Chain"


def test_one_zone_check_serves_config_and_audience(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.check_zone is zones.check_zone
    assert audience_model.is_zone is zones.is_zone
    with pytest.raises(ValueError, match="unknown IANA time zone 'Mars/Olympus'"):
        Settings.model_validate({"publication": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_timezone("Mars/Olympus", "UTC")


def test_tier_names_are_spelled_in_one_module_only() -> None:
    """No other module spells a display name as a literal: they import `TIER_NAMES`."""
    for module in (audience_model, view, editor):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        assert '"Leadership Alliance"' not in source, module.__name__
    assert editor.TIER_NAMES is TIER_NAMES
