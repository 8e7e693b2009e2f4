"""The provider registry: one module makes a provider, and nothing else changes."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from digest.config import ConfigError
from digest.delivery import providers
from digest.delivery.run import send_period
from digest.period import parse_period

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_registered_module_declares_its_provider_under_its_name() -> None:
    for name in providers.PROVIDERS:
        assert providers.spec(name).name == name


def test_an_unknown_provider_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="outbox, smtp, sendgrid"):
        providers.spec("carrier-pigeon")


@pytest.fixture
def readme_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The README's example module, in a folder searched as part of the providers package."""
    found = re.search(r"### Adding a provider.*?```python\n(.*?)```", README.read_text(), re.S)
    assert found is not None
    (tmp_path / "logfile.py").write_text(found.group(1))
    monkeypatch.setattr(providers, "__path__", [*providers.__path__, str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "sent.log"
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
