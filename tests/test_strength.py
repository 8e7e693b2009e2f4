"""Configured secrets are judged before anything is exposed: 32 random bytes, 12 characters."""

from __future__ import annotations

import secrets

import pytest

from digest.config import Settings
from digest.strength import KEY_COMMAND, key_bits, strong_key, weak_secrets

GOOD_KEY = "Xq2l0b9mS3vT_c8rWk1YzP4nJ6hG7dFa5eR-uBoLiMs"


def settings(**web: object) -> Settings:
    keys = web.pop("keys", [])
    return Settings.model_validate({"security": {"secret_keys": keys}, "web": web})


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        secrets.token_hex(32),
        GOOD_KEY,
        "5260181590830166131860913909960308246281948219935181909378657975",
    ],
)
def test_keys_of_32_random_bytes_pass(key: str) -> None:
    assert strong_key(key)


@pytest.mark.parametrize(
    "key", ["x", "demo-signing-key-not-for-production", secrets.token_urlsafe(16), "ab" * 40]
)
def test_short_or_patterned_keys_fail(key: str) -> None:
    assert not strong_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "0123456789" * 7,
        "Password1!" * 4,
        "abcdefghijklmnopqrstuvwxyz" * 2,
        "my-secret-key-for-digest my-secret-key-for-digest",
    ],
)
def test_keys_that_repeat_themselves_fail(key: str) -> None:
    """Long enough and varied enough to pass by alphabet and length, but a pattern."""
    assert not strong_key(key)


def test_a_patterned_key_is_refused_with_its_reason() -> None:
    (weak,) = weak_secrets(settings(keys=["0123456789" * 7]))
    assert "repeats itself" in weak.message and "bits" not in weak.message


def test_bits_follow_the_alphabet() -> None:
    assert key_bits("f" * 64) == 256
    assert key_bits("g" * 43) == 258


def test_a_weak_key_names_the_setting_and_the_command() -> None:
    (weak,) = weak_secrets(settings(keys=["x"]))
    assert weak.setting == "security.secret_keys" and KEY_COMMAND in weak.fix


def test_an_old_weak_key_counts_too() -> None:
    (weak,) = weak_secrets(settings(keys=[GOOD_KEY, "old"]))
    assert "key 2 of 2" in weak.message


def test_a_short_editor_password_fails() -> None:
    (weak,) = weak_secrets(settings(editor_password="a"))
    assert weak.setting == "web.editor_password" and "12 characters" in weak.message


def test_a_short_editor_token_fails() -> None:
    (weak,) = weak_secrets(settings(editor_token="abc"))
    assert weak.setting == "web.editor_token"


def test_nothing_configured_is_nothing_weak() -> None:
    assert weak_secrets(settings()) == []


def test_strong_secrets_pass() -> None:
    assert weak_secrets(settings(keys=[GOOD_KEY], editor_password="twelve chars")) == []


def test_the_weak_value_never_appears_in_the_message() -> None:
    text = " ".join(str(w) for w in weak_secrets(settings(keys=["hunter2"], editor_password="pw")))
    assert "hunter2" not in text and "pw " not in text
