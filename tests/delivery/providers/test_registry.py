"""The provider registry: one module makes a provider, and nothing else changes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from digest.config import (
    ConfigError,
    ProviderSettings,
    forget_section,
    load_settings,
    register_section,
)
from digest.delivery import providers
from digest.delivery.providers import configured_provider
from digest.delivery.run import send_period
from digest.period import parse_period

SENDING_DOCS = Path(__file__).resolve().parents[3] / "docs" / "sending.md"


def test_every_registered_module_declares_its_provider_under_its_name() -> None:
    for name in providers.PROVIDERS:
        assert providers.spec(name).name == name


def test_an_unknown_provider_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="outbox, smtp, sendgrid"):
        providers.spec("carrier-pigeon")


@pytest.fixture
def readme_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example module in docs/sending.md, in a folder searched as part of the providers
    package."""
    text = SENDING_DOCS.read_text()
    found = re.search(r"### Adding a provider.*?```python\n(.*?)```", text, re.S)
    assert found is not None
    (tmp_path / "logfile.py").write_text(found.group(1))
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    providers.register_settings()  # what importing the registry does with the file in place
    yield tmp_path / "sent.log"
    forget_section("logfile")
    sys.modules.pop("digest.delivery.providers.logfile", None)


def test_the_readmes_example_provider_sends_once_registered(
    readme_provider: Path, engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    seeded.issue(engine)
    seeded.subscribers(engine, 3)
    settings = seeded.settings(db_url, tmp_path / "outbox")
    provider = providers.make_provider("logfile", settings)
    report = send_period(settings, engine, parse_period(seeded.PERIOD), provider)
    assert report.accepted == 3
    assert len(readme_provider.read_text().splitlines()) == 3


def write_config(tmp_path: Path, db_url: str, logfile: str) -> Path:
    """A digest.toml with the example provider's own `[logfile]` section."""
    path = tmp_path / "digest.toml"
    path.write_text(
        f"[database]\nurl = {db_url!r}\n"
        "[publication]\nbase_url = 'https://news.example.org'\n"
        "from_email = 'digest@news.example.org'\n"
        "[security]\nsecret_keys = ['test-secret-key']\n"
        f"[logfile]\n{logfile}\n"
    )
    return path


def test_the_readmes_example_provider_reads_its_own_section_from_the_file(
    readme_provider: Path, engine: Engine, db_url: str, tmp_path: Path, seeded: SimpleNamespace
) -> None:
    seeded.issue(engine)
    seeded.subscribers(engine, 2)
    settings = load_settings(write_config(tmp_path, db_url, "path = 'mine.log'"), environ={})
    provider = providers.make_provider("logfile", settings)
    report = send_period(settings, engine, parse_period(seeded.PERIOD), provider)
    assert report.accepted == 2
    assert len((tmp_path / "mine.log").read_text().splitlines()) == 2
    assert not readme_provider.exists()


def test_a_typo_in_a_providers_own_section_is_named_on_load(
    readme_provider: Path, db_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"logfile\.pth: unknown key"):
        load_settings(write_config(tmp_path, db_url, "pth = 'mine.log'"), environ={})


def test_a_wrong_type_in_a_providers_own_section_is_named_on_load(
    readme_provider: Path, db_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"logfile\.path: "):
        load_settings(write_config(tmp_path, db_url, "path = 3"), environ={})


def test_the_configuration_never_imports_the_delivery_package() -> None:
    """config.py is on the ground floor: the provider sections reach it by registration."""
    code = "import sys, digest.config; print(sorted(m for m in sys.modules if 'delivery' in m))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def test_a_provider_section_cannot_take_a_declared_sections_name() -> None:
    class Clash(ProviderSettings):
        section = "publication"

    with pytest.raises(ValueError, match=r"\[publication\] is already declared"):
        register_section(Clash)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "outbox"),
        ({"DIGEST_SMTP_URL": "smtp://mail.example.org:587"}, "smtp"),
        (
            {"DIGEST_SMTP_URL": "smtp://mail.example.org:587", "SENDGRID_API_KEY": "SG.k"},
            "sendgrid",
        ),
    ],
)
def test_an_unattended_send_uses_the_configured_provider_that_leaves_the_machine(
    environ: dict[str, str], expected: str
) -> None:
    assert configured_provider(load_settings(environ=environ)) == expected


def test_web_provider_must_name_a_registered_provider(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text("[web]\nprovider = 'smpt'\n")
    with pytest.raises(
        ConfigError, match=r"web\.provider: .*'smpt': choose one of outbox, smtp, sendgrid"
    ):
        load_settings(path, environ={})


def test_web_provider_accepts_a_provider_module_added_later(
    readme_provider: Path, tmp_path: Path
) -> None:
    path = tmp_path / "digest.toml"
    path.write_text("[web]\nprovider = 'logfile'\n")
    assert load_settings(path, environ={}).web.provider == "logfile"
