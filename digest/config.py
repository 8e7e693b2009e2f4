"""Configuration: one validated `digest.toml` plus environment overrides.

Every setting is declared once here, with its help text in the field description; the README's
configuration reference is checked against these declarations by a test, so docs cannot drift.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

CONFIG_ENV = "DIGEST_CONFIG"
DEFAULT_CONFIG_FILE = "digest.toml"


class ConfigError(Exception):
    """A setting is wrong: the message names the file and the key's dotted name."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Publication(_Section):
    name: str = Field("Signal Weekly", description="The publication's name, shown in every email.")
    timezone: str = Field(
        "Europe/London", description="IANA time zone of the publication: periods and schedules."
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of the web app; every link in an email is absolute under it.",
    )
    from_email: str = Field(
        "digest@example.com", description="From address; must be a domain the publication owns."
    )
    from_name: str = Field("Signal Weekly", description="Display name on the From line.")
    postal_address: str = Field(
        "Signal Weekly, 1 Example Street, London EC1A 1AA, United Kingdom",
        description="Postal address printed in every email's footer (required of bulk senders).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Database(_Section):
    url: str = Field(
        "sqlite:///digest.db",
        description="SQLAlchemy URL: a SQLite file by default, `postgresql://…` in production.",
    )


class Sources(_Section):
    paths: list[str] = Field(
        default_factory=list,
        description="Files, folders and feed URLs the main job ingests; empty = bundled examples.",
    )
    feed_timeout: float = Field(10.0, gt=0, description="Seconds before a feed fetch gives up.")
    category_map: dict[str, str] = Field(
        default_factory=dict,
        description='Feed category → market class, e.g. `{ "ai-policy" = "Policy Track" }`.',
    )


class Security(_Section):
    secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Signing keys for links, newest first (newest signs, all verify).",
    )


class SendGrid(_Section):
    api_key: SecretStr | None = Field(None, description="SendGrid API key.")
    api_host: str = Field("https://api.sendgrid.com", description="SendGrid API base URL.")


class Smtp(_Section):
    url: SecretStr | None = Field(
        None, description="`smtp://user:pass@host:port` or `smtps://…`; holds credentials."
    )


class Outbox(_Section):
    dir: str = Field("outbox", description="Folder the outbox provider writes `.eml` files to.")


class Settings(_Section):
    publication: Publication = Field(default_factory=Publication)
    database: Database = Field(default_factory=Database)
    sources: Sources = Field(default_factory=Sources)
    security: Security = Field(default_factory=Security)
    sendgrid: SendGrid = Field(default_factory=SendGrid)
    smtp: Smtp = Field(default_factory=Smtp)
    outbox: Outbox = Field(default_factory=Outbox)


# Environment variable → dotted key. Lists are comma-separated.
ENV_OVERRIDES: dict[str, str] = {
    "DIGEST_DATABASE_URL": "database.url",
    "DIGEST_SECRET_KEY": "security.secret_keys",
    "SENDGRID_API_KEY": "sendgrid.api_key",
    "DIGEST_SENDGRID_API_HOST": "sendgrid.api_host",
    "DIGEST_SMTP_URL": "smtp.url",
    "DIGEST_OUTBOX_DIR": "outbox.dir",
    "DIGEST_BASE_URL": "publication.base_url",
}
_LIST_KEYS = {"security.secret_keys"}


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    section, key = dotted.split(".")
    data.setdefault(section, {})
    if not isinstance(data[section], dict):
        return  # the file's own type error is reported by validation
    data[section][key] = value


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for var, dotted in ENV_OVERRIDES.items():
        if environ.get(var):
            raw = environ[var]
            value: Any = (
                [k.strip() for k in raw.split(",") if k.strip()] if dotted in _LIST_KEYS else raw
            )
            _set_dotted(data, dotted, value)


def _format_error(origin: str, exc: ValidationError) -> str:
    lines = [f"{origin}: invalid configuration"]
    for err in exc.errors():
        dotted = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {dotted}: unknown key")
        else:
            lines.append(f"  {dotted}: {err['msg']}")
    return "\n".join(lines)


def config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The file to read: --config, else $DIGEST_CONFIG, else ./digest.toml when it exists."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the configuration; raise ConfigError naming the key on any problem."""
    environ = os.environ if environ is None else environ
    file = config_path(path, environ)
    data: dict[str, Any] = {}
    origin = "built-in defaults"
    if file is not None:
        origin = str(file)
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"{file}: configuration file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    _apply_env(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(origin, exc)) from None


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings with every secret masked, for `digest config`."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'


def documented_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every setting: the README's reference is built from this."""
    rows = []
    for section_name, section_field in Settings.model_fields.items():
        section_type = section_field.annotation
        assert isinstance(section_type, type) and issubclass(section_type, BaseModel)
        for key, f in section_type.model_fields.items():
            default = f.default_factory() if f.default_factory else f.default  # type: ignore[call-arg]
            rows.append((f"{section_name}.{key}", repr(default), f.description or ""))
    return rows
