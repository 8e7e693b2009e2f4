from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from pathlib import Path

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import Engine, update

from digest.audience import store
from digest.audience.model import Profile
from digest.audience.tokens import (
    Claims,
    InvalidToken,
    LinkSigner,
    MissingSecretKey,
    Purpose,
    TokenMinter,
    verify_view_token,
)
from digest.config import Security, Settings, load_settings
from digest.storage.schema import subscribers

OLD, NEW = "old-key-0123456789", "new-key-9876543210"


def _count_compares(monkeypatch: pytest.MonkeyPatch, target: str) -> list[int]:
    """Spy on `hmac.compare_digest` as imported at `target`: one entry per call."""
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(target, spy)
    return calls


def test_round_trip() -> None:
    signer = LinkSigner([NEW])
    token = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
    claims = signer.verify(Purpose.UNSUBSCRIBE, token)
    assert claims.subscriber_id == 7 and claims.email is None
    assert signer.binds(claims, "ann@example.com")


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
    assert rotated.binds(rotated.verify(Purpose.UNSUBSCRIBE, token), "ann@example.com")


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


def test_every_link_of_a_subscriber_gets_its_own_token() -> None:
    tokens = LinkSigner([NEW]).tokens_for(7, "ann@example.com")
    assert set(tokens) == {Purpose.UNSUBSCRIBE, Purpose.PREFERENCES}
    assert len(set(tokens.values())) == len(tokens)


# Review finding 2: the payload was [7,"ann@example.com"], readable in base64 by anyone who saw
# a List-Unsubscribe header or a log line, and it outlived `forget`.


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.PREFERENCES])
def test_a_link_token_does_not_carry_the_address(purpose: Purpose) -> None:
    token = LinkSigner([NEW]).sign(purpose, 7, "ann@example.com")
    subscriber_id, tag, mac = token.split(".")
    assert subscriber_id == "7"
    for part in (tag, mac):
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        assert b"ann" not in decoded and b"example" not in decoded


# Issue 11 (speed): link tokens became compact keyed BLAKE2b ones; links already in inboxes
# are itsdangerous tokens and must keep working. These two were minted by the previous code
# with the key "old-code-key-2026" for subscriber 42, ann@example.com.
LEGACY = {
    Purpose.UNSUBSCRIBE: "WzQyLCJ0Ry1URUdlSlJRVSJd.giOnGjagLPary9fqgxIE_q2erb6i7KZ5B1OxezHdflU",
    Purpose.PREFERENCES: "WzQyLCJ0Ry1URUdlSlJRVSJd.atqsVzdsjrIWn40-Q6Sk_2m6JlMKOk7T4FOhzFHtgi0",
}


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.PREFERENCES])
def test_a_link_signed_by_the_previous_code_still_verifies(purpose: Purpose) -> None:
    signer = LinkSigner([NEW, "old-code-key-2026"])
    claims = signer.verify(purpose, LEGACY[purpose])
    assert claims.subscriber_id == 42
    assert signer.binds(claims, "ann@example.com")
    assert not signer.binds(claims, "bob@example.com")


def test_a_previous_codes_link_is_still_refused_for_another_purpose() -> None:
    with pytest.raises(InvalidToken):
        LinkSigner(["old-code-key-2026"]).verify(Purpose.PREFERENCES, LEGACY[Purpose.UNSUBSCRIBE])


def test_new_link_tokens_are_compact() -> None:
    token = LinkSigner([NEW]).sign(Purpose.UNSUBSCRIBE, 123456, "ann@example.com")
    assert re.fullmatch(r"123456\.[\w-]{11}\.[\w-]{22}", token)


def test_the_minters_pair_is_the_signers_two_tokens() -> None:
    keys = [NEW, OLD]
    signer = LinkSigner(keys)
    assert TokenMinter(keys).pair(7, "zoë名@例え.jp") == (
        signer.sign(Purpose.UNSUBSCRIBE, 7, "zoë名@例え.jp"),
        signer.sign(Purpose.PREFERENCES, 7, "zoë名@例え.jp"),
    )


def test_a_compact_token_with_another_id_fails() -> None:
    signer = LinkSigner([NEW])
    _, tag, mac = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com").split(".")
    with pytest.raises(InvalidToken):
        signer.verify(Purpose.UNSUBSCRIBE, f"8.{tag}.{mac}")


def test_the_compact_mac_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = LinkSigner([NEW, OLD])
    token = signer.sign(Purpose.UNSUBSCRIBE, 7, "a@x.com")
    calls = _count_compares(monkeypatch, "digest.audience.tokens.hmac.compare_digest")
    signer.verify(Purpose.UNSUBSCRIBE, token)
    assert len(calls) == 2  # every key compared, no early exit on the newest


def test_a_token_stops_working_when_the_ids_address_changes(engine: Engine) -> None:
    signer = LinkSigner([NEW])
    with engine.begin() as conn:
        _, ann = store.add(conn, Profile("ann@example.com"), "test")
        claims = signer.verify(
            Purpose.UNSUBSCRIBE, signer.sign(Purpose.UNSUBSCRIBE, ann.id, ann.email)
        )
        found = signer.resolve(conn, claims)
        assert found is not None and found.email == "ann@example.com"
        conn.execute(
            update(subscribers).where(subscribers.c.id == ann.id).values(email="eve@example.com")
        )
        assert signer.resolve(conn, claims) is None
        assert signer.resolve(conn, Claims(ann.id + 1, claims.tag)) is None


def test_the_address_binding_survives_a_key_rotation() -> None:
    token = LinkSigner([OLD]).sign(Purpose.PREFERENCES, 7, "ann@example.com")
    rotated = LinkSigner([NEW, OLD])
    claims = rotated.verify(Purpose.PREFERENCES, token)
    assert rotated.binds(claims, "ann@example.com")
    assert not rotated.binds(claims, "bob@example.com")


def test_the_binding_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = LinkSigner([NEW, OLD])
    claims = signer.verify(Purpose.UNSUBSCRIBE, signer.sign(Purpose.UNSUBSCRIBE, 7, "a@x.com"))
    calls = _count_compares(monkeypatch, "digest.audience.tokens.hmac.compare_digest")
    assert signer.binds(claims, "a@x.com")
    assert len(calls) == 2  # every key compared, no early exit


def test_a_confirm_token_expires() -> None:
    settings = Settings.model_validate(
        {"security": {"secret_keys": [NEW], "confirm_max_age_hours": 2}}
    )
    signer = LinkSigner.from_settings(settings)
    with time_machine.travel(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC), tick=False) as clock:
        token = signer.sign(Purpose.CONFIRM, 0, "new@example.com")
        unsubscribe = signer.sign(Purpose.UNSUBSCRIBE, 7, "ann@example.com")
        clock.shift(dt.timedelta(hours=1, minutes=59))
        assert signer.verify(Purpose.CONFIRM, token).email == "new@example.com"
        clock.shift(dt.timedelta(minutes=2))
        with pytest.raises(InvalidToken, match="expired"):
            signer.verify(Purpose.CONFIRM, token)
        clock.shift(dt.timedelta(days=400))
        assert signer.verify(Purpose.UNSUBSCRIBE, unsubscribe).subscriber_id == 7


def test_the_confirm_max_age_defaults_to_48_hours() -> None:
    assert Security().confirm_max_age_hours == 48


def test_verification_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_compares(monkeypatch, "itsdangerous.signer.hmac.compare_digest")
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


def test_a_confirm_link_carries_its_issue_time_and_a_nonce() -> None:
    signer, issued = LinkSigner([NEW]), dt.datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=dt.UTC)
    first = signer.verify(Purpose.CONFIRM, signer.sign(Purpose.CONFIRM, 0, "a@b.com", issued))
    second = signer.verify(Purpose.CONFIRM, signer.sign(Purpose.CONFIRM, 0, "a@b.com", issued))
    assert first.issued_at == issued and first.link_key != second.link_key


def test_another_spelling_of_one_confirm_token_is_the_same_link() -> None:
    """base64 leaves spare bits in the last character: one signed token, several spellings."""
    token = LinkSigner([NEW]).sign(Purpose.CONFIRM, 0, "a@b.com")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    respelled = token[:-1] + alphabet[last ^ 1]
    signer = LinkSigner([NEW])
    assert respelled != token
    assert signer.verify(Purpose.CONFIRM, respelled).link_key == (
        signer.verify(Purpose.CONFIRM, token).link_key
    )


def test_a_confirm_link_from_before_nonces_still_verifies() -> None:
    legacy = URLSafeTimedSerializer(
        [NEW], salt="digest.link.confirm", signer_kwargs={"digest_method": hashlib.sha256}
    ).dumps([0, "a@b.com"])
    claims = LinkSigner([NEW]).verify(Purpose.CONFIRM, str(legacy))
    assert claims.email == "a@b.com" and claims.issued_at is not None


# --- view tokens: a reader's web view of the edition they were sent (issue 14) ------------------


def test_a_view_token_grants_the_edition_it_was_sent_for() -> None:
    token = LinkSigner(["k"]).sign_view(42, "ann@example.com", "2026-W47", "strategy_circle", "zh")
    grant = verify_view_token(["k"], token)
    assert grant is not None
    assert (grant.subscriber_id, grant.period_key, grant.tier, grant.locale) == (
        42,
        "2026-W47",
        "strategy_circle",
        "zh",
    )
    assert LinkSigner(["k"]).binds(grant.claims, "ann@example.com")
    assert not LinkSigner(["k"]).binds(grant.claims, "bob@example.com")


def test_a_view_token_for_a_date_range_period_round_trips() -> None:
    token = LinkSigner(["k"]).sign_view(1, "a@example.com", "2026-11-01..2026-11-30", "open", "en")
    grant = verify_view_token(["k"], token)
    assert grant is not None and grant.period_key == "2026-11-01..2026-11-30"


def test_a_view_token_with_a_raised_tier_is_refused() -> None:
    token = LinkSigner(["k"]).sign_view(7, "a@example.com", "2026-W47", "open", "en")
    assert verify_view_token(["k"], token.replace(".o.en.", ".l.en.")) is None
    assert verify_view_token(["k"], token.replace("2026-W47", "2026-W48")) is None
    assert verify_view_token(["k"], token.replace("7.", "8.", 1)) is None


def test_view_tokens_survive_a_key_rotation_and_die_with_a_retired_key() -> None:
    token = LinkSigner(["old"]).sign_view(3, "a@example.com", "2026-W47", "open", "en")
    assert verify_view_token(["new", "old"], token) is not None
    assert verify_view_token(["new"], token) is None


def test_other_tokens_are_not_view_tokens() -> None:
    signer = LinkSigner(["k"])
    assert verify_view_token(["k"], signer.sign(Purpose.UNSUBSCRIBE, 3, "a@example.com")) is None
    assert verify_view_token(["k"], "") is None
    assert verify_view_token(["k"], "x" * 5000) is None


def test_the_senders_minter_and_the_signer_agree() -> None:
    minter = TokenMinter(["k"])
    scope = minter.view_scope("2026-W47", "leadership_alliance", "en")
    unsubscribe, preferences, view = minter.links(9, "a@example.com", scope)
    assert (unsubscribe, preferences) == minter.pair(9, "a@example.com")
    assert view == LinkSigner(["k"]).sign_view(
        9, "a@example.com", "2026-W47", "leadership_alliance", "en"
    )


def test_no_view_link_for_a_tier_that_is_not_a_membership_tier() -> None:
    with pytest.raises(ValueError, match="no view link"):
        TokenMinter(["k"]).view_scope("2026-W47", "editors", "en")
