from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from pydantic import SecretStr

from digest.audience.tokens import Claims, InvalidToken, LinkSigner, MissingSecretKey, Purpose
from digest.config import load_settings

OLD, NEW = "old-key-0123456789", "new-key-9876543210"


def test_round_trip() -> None:
    signer = LinkSigner([NEW])
    token = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    assert signer.verify(Purpose.UNSUBSCRIBE, token) == Claims(7, "ann@example.com")


def test_a_token_for_one_purpose_fails_for_another() -> None:
    signer = LinkSigner([NEW])
    token = signer.sign(Purpose.PREFERENCES, 7, "ann@example.com")
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.UNSUBSCRIBE, token)


def test_a_tampered_token_fails() -> None:
    signer = LinkSigner([NEW])
    token = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    payload, signature = token.rsplit(".", 1)
    other = signer.sign(Purpose.UNSUBSCRIBE, 8, "bob@example.com").rsplit(".", 1)[0]
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.UNSUBSCRIBE, f"{other}.{signature}")
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.UNSUBSCRIBE, f"{payload}.{signature[:-2]}xx")


def test_a_token_signed_with_another_key_fails() -> None:
    token = LinkSigner(["attacker-key"]).sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    with pytest.raises(InvalidToken):
        LinkSigner([NEW]).verify(Purpose.UNSUBSCRIBE, token)


def test_old_token_still_verifies_after_a_new_key_is_prepended() -> None:
    token = LinkSigner([OLD]).sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    rotated = LinkSigner([NEW, OLD])
    assert rotated.verify(Purpose.UNSUBSCRIBE, token) == Claims(7, "ann@example.com")


def test_the_newest_key_signs() -> None:
    rotated = LinkSigner([NEW, OLD]).sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    assert rotated == LinkSigner([NEW]).sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")


def test_a_token_signed_by_a_removed_key_fails() -> None:
    token = LinkSigner([OLD]).sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    with pytest.raises(InvalidToken):
        LinkSigner([NEW]).verify(Purpose.UNSUBSCRIBE, token)


def test_tokens_are_deterministic_per_subscriber() -> None:
    signer = LinkSigner([NEW])
    assert signer.tokens_for(7, "ann@example.com") == signer.tokens_for(7, "ann@example.com")


def test_a_token_is_bound_to_the_id_and_the_address() -> None:
    signer = LinkSigner([NEW])
    base = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    assert signer.sign(Purpose.UNSUBSCRIBE, 8, "ann@example.com") != base
    assert signer.sign(Purpose.UNSUBSCRIBE, 7, "bob@example.com") != base


def test_every_purpose_gets_its_own_token() -> None:
    tokens = LinkSigner([NEW]).tokens_for(7, "ann@example.com")
    assert set(tokens) == set(Purpose)
    assert len(set(tokens.values())) == len(Purpose)


def test_verification_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr("itsdangerous.signer.hmac.compare_digest", spy)
    signer = LinkSigner([NEW])
    signer.verify(Purpose.CONFIRM, signer.sign(Purpose.CONFIRM, 1, "a@example.com"))
    assert calls


def test_no_key_is_a_clear_error() -> None:
    with pytest.raises(MissingSecretKey, match="DIGEST_SECRET_KEY"):
        LinkSigner([])


def test_blank_keys_do_not_count() -> None:
    with pytest.raises(MissingSecretKey):
        LinkSigner([SecretStr("")])


def test_keys_come_from_the_environment_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray ./digest.toml
    settings = load_settings(environ={"DIGEST_SECRET_KEY": f"{NEW},{OLD}"})
    old_token = LinkSigner([OLD]).sign(Purpose.PREFERENCES, 3, "c@example.com")
    signer = LinkSigner.from_settings(settings)
    assert signer.verify(Purpose.PREFERENCES, old_token).subscriber_id == 3
    assert signer.sign(Purpose.PREFERENCES, 3, "c@example.com") == LinkSigner([NEW]).sign(
        Purpose.PREFERENCES, 3, "c@example.com"
    )


def test_the_token_is_url_safe() -> None:
    token = LinkSigner([NEW]).sign(Purpose.UNSUBSCRIBE, 7, "ann+news@example.com")
    assert all(c.isalnum() or c in "-_." for c in token)
