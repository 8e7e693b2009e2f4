"""The generated digest.toml: every declared setting, at its default, so it cannot drift."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import ClassVar

import pytest
from pydantic import Field

from digest.cli.settings_file import settings_toml, toml_value
from digest.config import (
    ProviderSettings,
    Settings,
    documented_keys,
    forget_section,
    register_section,
)

SETTING_LINE = re.compile(r"^# (?P<line>[a-z_]+ = .*)$")


def _uncommented(text: str) -> str:
    """The file with every commented setting switched on (those unset by default stay off)."""
    out = []
    for line in text.splitlines():
        found = SETTING_LINE.match(line)
        on = found and not line.endswith("# unset by default")
        out.append(found["line"] if on and found else line)
    return "\n".join(out)


def test_every_setting_uncommented_reads_back_as_the_defaults() -> None:
    data = tomllib.loads(_uncommented(settings_toml()))
    assert Settings.model_validate(data).model_dump() == Settings().model_dump()


def test_every_declared_setting_is_in_the_file() -> None:
    text = settings_toml()
    sections = re.split(r"^\[([a-z_.]+)\]$", text, flags=re.M)
    keys_by_section = {
        sections[i]: set(re.findall(r"^#? ?([a-z_]+) = ", sections[i + 1], flags=re.M))
        for i in range(1, len(sections), 2)
    }
    missing = [
        key
        for key, _, _ in documented_keys()
        if key.rsplit(".", 1)[1] not in keys_by_section.get(key.rsplit(".", 1)[0], set())
    ]
    assert missing == []


class _Pigeon(ProviderSettings):
    section: ClassVar[str] = "pigeon"
    loft: str = Field("roof", description="Where the birds wait between sends.")


@pytest.fixture
def pigeon() -> Iterator[None]:
    register_section(_Pigeon)
    yield
    forget_section("pigeon")


@pytest.mark.usefixtures("pigeon")
def test_a_setting_declared_later_appears_with_its_help() -> None:
    text = settings_toml()
    assert '[pigeon]\n\n# Where the birds wait between sends.\n# loft = "roof"' in text


def test_active_settings_are_written_uncommented() -> None:
    text = settings_toml({"sources.paths": ["signals"]})
    assert '\npaths = ["signals"]\n' in text


def test_an_unknown_active_setting_is_an_error() -> None:
    with pytest.raises(KeyError, match=r"sources\.pathz"):
        settings_toml({"sources.pathz": []})


@pytest.mark.parametrize(
    ("value", "spelt"),
    [
        ('say "hi"\n', r'"say \"hi\"\n"'),
        ({"ai-policy": "Policy Track"}, '{ "ai-policy" = "Policy Track" }'),
        ([1, 2.5, True], "[1, 2.5, true]"),
    ],
)
def test_values_are_valid_toml(value: object, spelt: str) -> None:
    assert toml_value(value) == spelt
    assert tomllib.loads(f"x = {spelt}")["x"] == value
