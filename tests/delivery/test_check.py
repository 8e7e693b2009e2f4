"""`digest check`'s preflight as a library call: each problem names its setting and a fix."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine

from digest.config import Settings
from digest.delivery.check import failures, placeholder_address, run_checks
from digest.issues.checks import Check
from digest.issues.editions import build_issue
from digest.period import parse_period

PERIOD = parse_period("2026-W47")


@pytest.mark.parametrize(
    "address",
    ["", "digest@example.com", "a@news.example.org", "x@example.net", "a@mail.test", "nobody"],
)
def test_placeholder_addresses_are_caught(address: str) -> None:
    assert placeholder_address(address)


@pytest.mark.parametrize("address", ["digest@signal-weekly.net", "a@examples.com"])
def test_real_addresses_pass(address: str) -> None:
    assert not placeholder_address(address)


@pytest.fixture
def ready(db_url: str, tmp_path: Path, seeded: SimpleNamespace, engine: Engine) -> Settings:
    seeded.issue(engine)
    settings: Settings = seeded.settings(
        db_url, tmp_path, from_email="digest@news.signal-weekly.net"
    )
    return settings


def settings_with(base: Settings, **sections: dict[str, object]) -> Settings:
    data = base.model_dump(mode="python")
    data["security"] = {"secret_keys": ["check-test-key-Xq2l0b9mS3vT_c8rWk1YzP4nJ6hG7d"]}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Settings.model_validate(data)


def test_a_ready_installation_passes(ready: Settings, engine: Engine) -> None:
    settings = settings_with(ready, smtp={"url": "smtp://127.0.0.1:2525"})
    assert run_checks(settings, engine, "smtp", period=PERIOD) == []


def test_a_placeholder_from_names_the_setting(ready: Settings, engine: Engine) -> None:
    settings = settings_with(ready, publication={"from_email": "digest@example.com"})
    (problem,) = run_checks(settings, engine, "outbox", period=PERIOD)
    assert problem.setting == "publication.from_email" and "SPF" in problem.fix


def test_an_http_base_url_fails(ready: Settings, engine: Engine) -> None:
    settings = settings_with(ready, publication={"base_url": "http://news.signal-weekly.net"})
    (problem,) = run_checks(settings, engine, "outbox", period=PERIOD)
    assert problem.setting == "publication.base_url"


def test_missing_credentials_name_the_variable(ready: Settings, engine: Engine) -> None:
    settings = settings_with(ready)
    (problem,) = run_checks(settings, engine, "sendgrid", period=PERIOD)
    assert problem.setting == "sendgrid.api_key" and "SENDGRID_API_KEY" in problem.fix


def test_a_broken_template_fails(ready: Settings, engine: Engine, tmp_path: Path) -> None:
    templates = tmp_path / "mytemplates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_text("{% if %}", "utf-8")
    settings = settings_with(ready, editions={"templates_dir": str(templates)})
    problems = run_checks(settings, engine, "outbox", period=PERIOD)
    assert [p.setting for p in problems] == ["editions.templates_dir"]


def test_for_the_outbox_everything_is_only_a_warning(ready: Settings, engine: Engine) -> None:
    problems = run_checks(Settings(), engine, "outbox", period=PERIOD, strict=False)
    assert problems and failures(problems) == []


def test_editions_just_built_are_checked_as_they_are_not_built_again(
    ready: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's preflight reuses the build's check results instead of building again."""
    import digest.delivery.check as check

    def no_second_build(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the preflight built the issue again")

    monkeypatch.setattr(check, "build", no_second_build)
    monkeypatch.setattr(check, "build_issue", no_second_build)
    settings = settings_with(ready, smtp={"url": "smtp://127.0.0.1:2525"})
    edition = build_issue([], settings, PERIOD).editions[0]
    edition.checks.append(Check("size", "fail", "HTML is 120 KB; Gmail clips above 102 KB"))
    problems = run_checks(settings, engine, "smtp", period=PERIOD, built=[edition])
    assert [p.message for p in failures(problems)] == [
        "inbox check size: HTML is 120 KB; Gmail clips above 102 KB"
    ]
