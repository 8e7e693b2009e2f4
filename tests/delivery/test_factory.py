"""`make_provider`: the configured provider by name, or a ConfigError naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import ConfigError, load_settings
from digest.delivery import OutboxProvider, make_provider
from digest.delivery.providers.sendgrid import SendGridProvider
from digest.delivery.providers.smtp import SmtpProvider


def test_outbox_is_built_from_the_outbox_dir(tmp_path: Path) -> None:
    s = load_settings(None, {"DIGEST_OUTBOX_DIR": str(tmp_path / "box")})
    provider = make_provider("outbox", s)
    assert isinstance(provider, OutboxProvider) and provider.directory == tmp_path / "box"


def test_smtp_is_built_from_the_url_with_its_timeout(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[smtp]\nurl = "smtps://u:p@mail.example.org"\ntimeout = 12.5\n')
    provider = make_provider("smtp", load_settings(config, {}))
    assert isinstance(provider, SmtpProvider)
    assert (provider.url.host, provider.url.port, provider.timeout) == (
        "mail.example.org",
        465,
        12.5,
    )


def test_sendgrid_is_built_from_key_host_and_retry_settings(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("[sendgrid]\ntimeout = 9\nmax_attempts = 2\n")
    env = {"SENDGRID_API_KEY": "SG.k", "DIGEST_SENDGRID_API_HOST": "http://127.0.0.1:4010"}
    provider = make_provider("sendgrid", load_settings(config, env))
    assert isinstance(provider, SendGridProvider)
    assert (provider.host, provider.timeout, provider.max_attempts) == (
        "http://127.0.0.1:4010",
        9.0,
        2,
    )


@pytest.mark.parametrize(
    ("name", "names"), [("smtp", "DIGEST_SMTP_URL"), ("sendgrid", "SENDGRID_API_KEY")]
)
def test_a_provider_without_credentials_names_the_variable(name: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        make_provider(name, load_settings(None, {}))


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="outbox, smtp, sendgrid"):
        make_provider("carrier-pigeon", load_settings(None, {}))


def test_an_unusable_smtp_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"smtp\.url"):
        make_provider("smtp", load_settings(None, {"DIGEST_SMTP_URL": "http://mail:25"}))
