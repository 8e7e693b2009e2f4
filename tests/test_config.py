from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import ConfigError, Settings, display_url, load_settings


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "digest.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_no_file_means_builtin_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.database.url == "sqlite:///digest.db"
    assert settings.outbox.dir == "outbox"


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[publication]\nname = "The Brief"\ntimezone = "Asia/Shanghai"\n')
    settings = load_settings(path, environ={})
    assert settings.publication.name == "The Brief"
    assert settings.publication.zone.key == "Asia/Shanghai"


def test_unknown_key_is_named_with_its_dotted_name(tmp_path: Path) -> None:
    path = write(tmp_path, "[publication]\nnmae = 'typo'\n")
    with pytest.raises(ConfigError, match=r"publication\.nmae: unknown key"):
        load_settings(path, environ={})


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[smpt]\nurl = 'x'\n")
    with pytest.raises(ConfigError, match=r"smpt: unknown key"):
        load_settings(path, environ={})


def test_wrong_type_is_named_with_its_dotted_name(tmp_path: Path) -> None:
    path = write(tmp_path, "[sources]\nfeed_timeout = 'soon'\n")
    with pytest.raises(ConfigError, match=r"sources\.feed_timeout: "):
        load_settings(path, environ={})


def test_unknown_time_zone_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[publication]\ntimezone = 'Mars/Olympus'\n")
    with pytest.raises(ConfigError, match=r"publication\.timezone: .*Mars/Olympus"):
        load_settings(path, environ={})


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\ntrusted_proxies = ['10.0.0.5', '10.1.0.0/16', 'proxy']\n")
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies: .*'proxy' is not an IP"):
        load_settings(path, environ={})


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_trusting_every_address_as_a_proxy_is_refused(tmp_path: Path, everyone: str) -> None:
    """Every client a proxy means every client names its own address: no limit holds."""
    path = write(tmp_path, f"[web]\ntrusted_proxies = ['{everyone}']\n")
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies: .*trusts every client"):
        load_settings(path, environ={})


def test_trusted_proxies_default_to_none(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), environ={}).web.trusted_proxies == []


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[publication\n")
    with pytest.raises(ConfigError, match=r"digest\.toml: not valid TOML"):
        load_settings(path, environ={})


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[outbox]\ndir = 'mail'\n")
    assert load_settings(environ={"DIGEST_CONFIG": str(path)}).outbox.dir == "mail"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[database]\nurl = 'sqlite:///a.db'\n")
    env = {
        "DIGEST_DATABASE_URL": "sqlite:///b.db",
        "DIGEST_OUTBOX_DIR": "/tmp/out",
        "DIGEST_BASE_URL": "https://news.example.com",
        "DIGEST_SMTP_URL": "smtp://u:p@localhost:25",
        "SENDGRID_API_KEY": "SG.key",
        "DIGEST_SENDGRID_API_HOST": "http://127.0.0.1:4010",
        "DIGEST_SECRET_KEY": "new-key, old-key",
    }
    settings = load_settings(path, environ=env)
    assert settings.database.url == "sqlite:///b.db"
    assert settings.outbox.dir == "/tmp/out"
    assert settings.publication.base_url == "https://news.example.com"
    assert settings.sendgrid.api_host == "http://127.0.0.1:4010"
    assert settings.sendgrid.api_key is not None
    assert settings.sendgrid.api_key.get_secret_value() == "SG.key"
    assert [k.get_secret_value() for k in settings.security.secret_keys] == ["new-key", "old-key"]


def test_secrets_never_show_in_repr_or_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "SENDGRID_API_KEY": "SG.topsecret",
        "DIGEST_SECRET_KEY": "hmac-secret",
        "DIGEST_SMTP_URL": "smtp://user:pw-secret@mail:25",
    }
    settings = load_settings(environ=env)
    shown = repr(settings) + str(settings.model_dump(mode="json"))
    for secret in ("SG.topsecret", "hmac-secret", "pw-secret"):
        assert secret not in shown


def test_display_url_masks_the_password() -> None:
    assert "hunter2" not in display_url("postgresql://u:hunter2@h/db")


def test_an_unknown_subject_template_field_is_refused_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[editions]\nsubject_template = "{headline} {issue}"\n')
    with pytest.raises(ConfigError, match=r"editions\.subject_template.*\{issue\}"):
        load_settings(config, environ={})


def test_a_subject_template_needs_the_headline(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[editions]\nsubject_template = "{publication} week {week}"\n')
    with pytest.raises(ConfigError, match=r"editions\.subject_template.*no \{headline\}"):
        load_settings(config, environ={})


def test_reply_to_must_be_one_plain_address(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[publication]\nreply_to = "Editors <ed@example.com>\\r\\nBcc: x@y.z"\n')
    with pytest.raises(ConfigError, match=r"publication\.reply_to"):
        load_settings(config, environ={})


def test_the_list_id_defaults_to_the_name_under_the_from_domain() -> None:
    settings = Settings.model_validate({"publication": {"from_email": "digest@news.example.org"}})
    assert settings.publication.list_identifier == "signal-weekly.news.example.org"
    assert settings.publication.feedback_sender == "signal-weekly"
