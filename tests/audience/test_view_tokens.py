"""The paid reader's view link: one signed token per recipient naming period, tier and language."""

from __future__ import annotations

from digest.audience.tokens import (
    LinkSigner,
    Purpose,
    ViewGrant,
    make_view_token,
    verify_view_token,
)

KEYS = ["newest-key-for-tests", "older-key-for-tests"]


def test_a_view_token_carries_its_grant() -> None:
    token = make_view_token(KEYS, 42, "2026-W47", "leadership_alliance", "zh")
    assert verify_view_token(KEYS, token) == ViewGrant(42, "2026-W47", "leadership_alliance", "zh")


def test_a_tampered_view_token_grants_nothing() -> None:
    token = make_view_token(KEYS, 42, "2026-W47", "strategy_circle", "en")
    payload, signature = token.rsplit(".", 1)
    forged = make_view_token(["attacker"], 42, "2026-W47", "leadership_alliance", "en")
    assert verify_view_token(KEYS, forged.rsplit(".", 1)[0] + "." + signature) is None
    assert verify_view_token(KEYS, payload + "." + signature[::-1]) is None


def test_a_token_signed_by_an_unknown_key_grants_nothing() -> None:
    token = make_view_token(["retired-key"], 42, "2026-W47", "strategy_circle", "en")
    assert verify_view_token(KEYS, token) is None


def test_an_older_configured_key_still_verifies_after_rotation() -> None:
    token = make_view_token(KEYS[1:], 7, "2026-W47", "strategy_circle", "en")
    assert verify_view_token(KEYS, token) == ViewGrant(7, "2026-W47", "strategy_circle", "en")


def test_an_unsubscribe_token_is_not_a_view_token() -> None:
    unsubscribe = LinkSigner(KEYS).sign(Purpose.UNSUBSCRIBE, 42, "reader@example.com")
    assert verify_view_token(KEYS, unsubscribe) is None
