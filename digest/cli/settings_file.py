"""A complete, commented `digest.toml`, generated from the settings declared in `digest.config`
(and the providers' registered sections), so the file `digest init` writes cannot drift from the
code: a setting added to config.py appears here with its default and its description.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from pydantic import BaseModel

from digest.config import ENV_OVERRIDES, Settings
from digest.delivery.providers import register_settings

WIDTH = 96


def toml_value(value: Any) -> str:
    """`value` (JSON-like: str, number, bool, list, dict) as a TOML value.

    A JSON string is a valid TOML basic string (the same escapes), so json.dumps spells them.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()
        )
        return "{ " + pairs + " }"
    raise TypeError(f"no TOML spelling for {value!r}")


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, WIDTH - 2)] or ["#"]


def _section_help(model: type[BaseModel]) -> str:
    doc = model.__doc__ or ""
    if model.__doc__ == BaseModel.__doc__ or not doc.strip():
        return ""
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def settings_toml(active: dict[str, Any] | None = None, *, header: str = "") -> str:
    """Every setting as TOML: its description, then `# key = default` (commented: the default
    applies and follows upgrades), or `key = value` for the dotted keys in `active`."""
    register_settings()
    active = dict(active or {})
    env_of = {dotted: var for var, dotted in ENV_OVERRIDES.items()}
    lines = [*_comment(header), ""] if header else []
    defaults = Settings().model_dump(mode="json")
    for name, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += _section(name, model, defaults[name], active, env_of)
    unused = sorted(active)
    if unused:
        raise KeyError(f"not a setting: {', '.join(unused)}")
    return "\n".join(lines).rstrip() + "\n"


def _section(
    dotted: str,
    model: type[BaseModel],
    defaults: dict[str, Any],
    active: dict[str, Any],
    env_of: dict[str, str],
) -> list[str]:
    lines = [f"[{dotted}]"]
    about = _section_help(model) if "." not in dotted else ""  # a tier's policy: said above
    if about:
        lines += _comment(about)
    subsections: list[str] = []
    for key, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            subsections += _comment(field.description or "")
            subsections += _section(f"{dotted}.{key}", kind, defaults[key], active, env_of)
            continue
        full = f"{dotted}.{key}"
        help_ = field.description or ""
        if full in env_of:
            help_ += f" (Environment: {env_of[full]}.)"
        lines += ["", *_comment(help_)]
        if full in active:
            lines.append(f"{key} = {toml_value(active.pop(full))}")
        elif defaults[key] is None:
            lines.append(f'# {key} = ""  # unset by default')
        else:
            lines.append(f"# {key} = {toml_value(defaults[key])}")
    return [*lines, "", *subsections]
