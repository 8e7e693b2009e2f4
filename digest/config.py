"""Configuration: one validated `digest.toml` plus environment overrides.

Every setting is declared once, with its help text in the field description: here, or for a
provider's own section (`[smtp]`, `[sendgrid]`, `[outbox]` …) in the provider's module, which the
provider registry registers here (`ProviderSettings`, `register_section`) since this module must
not import the delivery package. The configuration reference in docs/ is generated from these
declarations by a test, so docs cannot drift.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from string import Formatter
from typing import Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from sqlalchemy.engine import make_url

from digest.cron import validate_weekly
from digest.model import MEMBER_FIELDS, MEMBERSHIP_TIERS
from digest.zones import check_zone

CONFIG_ENV = "DIGEST_CONFIG"
DEFAULT_CONFIG_FILE = "digest.toml"


class ConfigError(Exception):
    """A setting is wrong: the message names the file and the key's dotted name."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ProviderSettings(_Section):
    """A provider's own section of `digest.toml` (`[smtp]`, `[sendgrid]` …), declared in the
    provider's module beside the provider.

    config.py sits below the delivery package and never imports it, so the sections are not
    listed here: the provider registry (`digest.delivery.providers`) hands each provider's model
    to `register_section` when it is imported, which the CLI, the worker, the scheduler and the
    web app do before they read the configuration. From then on a section is validated (unknown
    keys and wrong types named by their dotted key), documented, masked and overridden from the
    environment like any section declared here.
    """

    section: ClassVar[str]
    """The section's name in `digest.toml`, and the attribute on `Settings`."""
    env: ClassVar[Mapping[str, str]] = {}
    """Environment variable → key of this section it overrides."""

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """This section of `settings`, typed (`SmtpSettings.of(settings).url`)."""
        found = getattr(settings, cls.section, None)
        if not isinstance(found, cls):
            raise ConfigError(f"[{cls.section}] is not a registered settings section")
        return found


_MAILBOX = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_LIST_ID = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_FEEDBACK_FIELD = re.compile(r"[A-Za-z0-9._-]{1,64}")


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

    reply_to: str | None = Field(
        None,
        description="Reply-To address of every edition; when set, the footer invites readers "
        "to reply. Unset: no Reply-To (replies go to the From address).",
    )
    list_id: str | None = Field(
        None,
        description="The digest's List-Id (RFC 2919), a dotted name such as "
        "`signal-weekly.example.com`; unset: the publication's name as a slug, then the From "
        "address's domain.",
    )
    feedback_sender_id: str | None = Field(
        None,
        description="Last field of the Feedback-ID header (`digest:<tier>:<period>:<this>`, "
        "Gmail's feedback loop): a stable id of the sender; unset: the List-Id's first label.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("reply_to")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _MAILBOX.fullmatch(value):
            raise ValueError(f"{value!r} is not one plain email address (name@domain)")
        return value

    @field_validator("list_id")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None and not _LIST_ID.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a List-Id: dotted labels of letters, digits and hyphens "
                "with at least one dot, e.g. signal-weekly.example.com"
            )
        return value

    @field_validator("feedback_sender_id")
    @classmethod
    def _feedback_field(cls, value: str | None) -> str | None:
        if value is not None and not _FEEDBACK_FIELD.fullmatch(value):
            raise ValueError(f"{value!r}: use 1-64 letters, digits, dots, hyphens or underscores")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def list_identifier(self) -> str:
        """The List-Id's `<…>` part: `list_id`, or the name's slug under the From domain."""
        if self.list_id:
            return self.list_id
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.casefold()).strip("-") or "digest"
        domain = self.from_email.rsplit("@", 1)[-1].casefold()
        labels = [re.sub(r"[^a-z0-9-]+", "-", p).strip("-") for p in domain.split(".")]
        return ".".join([slug[:40].strip("-"), *([p for p in labels if p] or ["localhost"])])

    @property
    def feedback_sender(self) -> str:
        """Feedback-ID's sender field: `feedback_sender_id`, or the List-Id's first label."""
        return self.feedback_sender_id or self.list_identifier.split(".", 1)[0]


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
    feed_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds one feed fetch may take in all (connect, headers and body), "
        "however slowly the server sends.",
    )
    feed_max_bytes: int = Field(
        10_000_000,
        gt=0,
        description="Largest feed accepted, in bytes (a URL's response or a feed file).",
    )
    category_map: dict[str, str] = Field(
        default_factory=dict,
        description='Feed category → market class, e.g. `{ "ai-policy" = "Policy Track" }`.',
    )


class Security(_Section):
    secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Signing keys for links, newest first (newest signs, all verify).",
    )
    confirm_max_age_hours: float = Field(
        48,
        gt=0,
        description="Hours a subscription-confirm link stays valid (unsubscribe and "
        "preferences links do not expire).",
    )


_CONFIDENCE_TIERS = ["A", "A/B", "B/C", "C/D", "D", "unrated"]
_COMPACT_TIERS = ["C/D", "D", "unrated"]

CLASS_NAMES: dict[str, dict[Literal["en", "zh"], str]] = {
    "Policy Track": {"zh": "政策动向"},
    "Supply Chain": {"zh": "供应链"},
    "Case File": {"zh": "案例档案"},
    "Capital Flows": {"zh": "资本流向"},
    "Infrastructure": {"zh": "基础设施"},
}
"""Chinese names of the bundled examples' market classes (`editions.class_names` adds to them)."""


class TierPolicy(_Section):
    """What one membership tier's edition shows; member fields are checked against the paywall."""

    fields: list[str] = Field(
        default_factory=list,
        description="Member-only fields shown (trend_context, relationship_evidence, "
        "failure_paths, source_notes); never one reserved for a higher tier.",
    )
    confidence_tiers: list[str] = Field(
        default_factory=lambda: list(_CONFIDENCE_TIERS),
        description='Confidence tiers shown: any of "A", "A/B", "B/C", "C/D", "D", "unrated".',
    )
    max_items: int = Field(
        10, ge=1, le=100, description='Items per market class before "N more in <class>".'
    )
    compact_confidence_tiers: list[str] = Field(
        default_factory=lambda: list(_COMPACT_TIERS),
        description='Confidence tiers shown in the compact one-line form under "On the radar" '
        "(the lead story always gets the full form).",
    )
    sample_signal_id: str | None = Field(
        None,
        description="The signal `/join/<tier>` shows as a sample, as this tier sees it (one of "
        "an issue already sent); unset = no sample.",
    )
    join_url: str | None = Field(
        None,
        description="Where `/join/<tier>`'s call to action leads (https://… or mailto:…); unset "
        "= the page asks readers to reply to any issue.",
    )
    join_text: str = Field(
        "",
        max_length=80,
        description="The call to action's words; empty = \"Join the <tier>\" in the reader's "
        "language.",
    )
    price_text: str = Field(
        "",
        max_length=120,
        description='A price line shown beside the call to action (e.g. "£12 a month"); empty = '
        "none.",
    )

    @field_validator("join_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://", "mailto:")):
            raise ValueError(f"{value!r} is not a link: use https://… or mailto:…")
        return value

    @field_validator("confidence_tiers", "compact_confidence_tiers")
    @classmethod
    def _known_tiers(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in _CONFIDENCE_TIERS]
        if unknown:
            raise ValueError(f"unknown confidence tiers {unknown} (known: {_CONFIDENCE_TIERS})")
        return value


class Tiers(_Section):
    """Per-membership-tier policy: what each tier's edition may show."""

    open: TierPolicy = Field(
        default_factory=lambda: TierPolicy(max_items=6),
        description="Open (every reader): the brief and public text, 6 items per class.",
    )
    strategy_circle: TierPolicy = Field(
        default_factory=lambda: TierPolicy(fields=["trend_context"]),
        description="Strategy Circle: adds trend_context, 10 items per class.",
    )
    leadership_alliance: TierPolicy = Field(
        default_factory=lambda: TierPolicy(
            fields=["trend_context", "relationship_evidence", "failure_paths", "source_notes"]
        ),
        description="Leadership Alliance: adds relationship evidence, failure paths, source notes.",
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """`[tiers.strategy_circle] max_items = 8` keeps that tier's default fields."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, value in data.items():
            if isinstance(value, dict) and name in cls.model_fields:
                factory = cls.model_fields[name].default_factory
                base = factory().model_dump() if factory else {}  # type: ignore[call-arg]
                merged[name] = {**base, **value}
        return merged

    @model_validator(mode="after")
    def _no_field_above_its_tier(self) -> Tiers:
        """A policy may hide member fields, never hand one to a tier below the paywall's."""
        for rank, name in enumerate(MEMBERSHIP_TIERS):
            for field in getattr(self, name).fields:
                if field not in MEMBER_FIELDS:
                    raise ValueError(
                        f"{name}.fields: {field!r} is not a member-only field "
                        f"(known: {', '.join(MEMBER_FIELDS)})"
                    )
                if MEMBERSHIP_TIERS.index(MEMBER_FIELDS[field]) > rank:
                    raise ValueError(
                        f"{name}.fields: {field!r} is reserved for {MEMBER_FIELDS[field]}"
                    )
        return self


SUBJECT_TEMPLATE_FIELDS = frozenset({"headline", "publication", "week", "period"})
"""What `editions.subject_template` may use: the headline, the publication's name, the ISO week
number (empty for a period that is not one week) and the period as readers write it."""


def check_subject_template(template: str) -> str:
    """`template` if it uses only known plain fields and has `{headline}`; else ValueError."""
    names = []
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{template!r}: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in SUBJECT_TEMPLATE_FIELDS:
            known = ", ".join("{" + f + "}" for f in sorted(SUBJECT_TEMPLATE_FIELDS))
            raise ValueError(f"{template!r}: unknown field {{{name}}} (known: {known})")
        if spec or conversion:
            raise ValueError(f"{template!r}: {{{name}}} takes no format spec or conversion")
        names.append(name)
    if "headline" not in names:
        raise ValueError(f"{template!r} has no {{headline}}")
    return template


class Editions(_Section):
    out_dir: str = Field("out", description="Folder `digest build` and `digest run` write to.")
    templates_dir: str | None = Field(
        None,
        description="Your template folder, searched before ./templates and the bundled ones.",
    )
    class_order: list[str] = Field(
        default_factory=lambda: [
            "Policy Track",
            "Supply Chain",
            "Case File",
            "Capital Flows",
            "Infrastructure",
        ],
        description="Market classes in section order; others follow alphabetically.",
    )
    class_names: dict[str, dict[Literal["en", "zh"], str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in CLASS_NAMES.items()},
        description='A market class\'s name per edition language, e.g. `{ "Policy Track" = '
        '{ zh = "政策动向" } }`; merged over the bundled classes\' Chinese names. A class '
        "with no name in a language is shown as written.",
    )
    duplicate_threshold: float = Field(
        65.0,
        ge=40,
        le=100,
        description="Similarity of title + lead (0-100, rapidfuzz token-set ratio) from which two "
        "signals of one market class are suggested to the editor as one story; it merges "
        "nothing (only the same id, canonical URL or text merges automatically).",
    )
    subject_template: str = Field(
        "{headline}",
        description="Subject line of every edition: `{headline}` (the lead headline in the "
        "reader's language, cut between words to fit) with optional `{publication}`, `{week}` "
        "(ISO week number) and `{period}`; the whole subject is at most 60 columns (CJK "
        "counts 2). No prefix by default: the From name carries the publication.",
    )

    @field_validator("subject_template")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        return check_subject_template(value)

    @field_validator("class_names", mode="before")
    @classmethod
    def _over_bundled_names(cls, value: Any) -> Any:
        """A publication's names add to (and override) the bundled ones, class by class."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {k: dict(v) for k, v in CLASS_NAMES.items()}
        for name, per_lang in value.items():
            if isinstance(per_lang, dict) and isinstance(merged.get(name), dict):
                merged[name] = {**merged[name], **per_lang}
            else:
                merged[name] = per_lang
        return merged


class Schedule(_Section):
    """`digest schedule run`: when the weekly job fires and what it waits for."""

    weekly: str = Field(
        "mon 07:00",
        description='When the weekly job fires, in the publication\'s zone: "mon 07:00" (day '
        'names, never numbers) or a 5-field crontab such as "0 7 * * mon".',
    )
    misfire_grace_hours: float = Field(
        12.0,
        gt=0,
        description="How late a fire may still run after downtime; later ones are skipped and "
        "recorded (APScheduler's own default is 1 second).",
    )
    approval_required: bool = Field(
        False, description="Build at the trigger time, then send only once an editor approves."
    )
    approval_deadline_hours: float = Field(
        24.0, gt=0, description="Hours after the trigger to wait for approval."
    )
    approval_check_minutes: float = Field(
        5.0, gt=0, description="How often the scheduler re-checks for an approval."
    )
    on_deadline: Literal["send", "skip"] = Field(
        "skip",
        description='At the approval deadline: "send" anyway, or "skip" and email the editors.',
    )
    editors: list[str] = Field(
        default_factory=list, description="Editor addresses told when an issue is skipped."
    )
    local_time_delivery: bool = Field(
        False,
        description="Deliver at the trigger's wall-clock time in each subscriber's own zone.",
    )
    standby_poll_seconds: float = Field(
        10.0,
        gt=0,
        description="How often a standby scheduler retries the lock held by the active one.",
    )

    @field_validator("weekly")
    @classmethod
    def _valid_trigger(cls, value: str) -> str:
        return validate_weekly(value)


class Web(_Section):
    """`digest serve`: who may use the editor pages and how much the public pages accept."""

    editor_password: SecretStr | None = Field(
        None,
        description="Password for the editor pages; without it (or editor_token) `digest serve` "
        "refuses to serve them on anything but a localhost bind.",
    )
    editor_token: SecretStr | None = Field(
        None,
        description="Alternative editor credential: a long random token accepted by the same "
        "login form (for password managers and scripts).",
    )
    session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="How long an editor stays logged in."
    )
    provider: str | None = Field(
        None,
        description="Provider for test sends and sign-up confirmations; unset = the one the "
        "scheduled send uses (SendGrid with a key, else SMTP with a URL, else the outbox).",
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body a form or link POST may send."
    )

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        """A name the provider registry knows (it hands its list over: `register_providers`)."""
        known = provider_names()
        if value is not None and known and value not in known:
            raise ValueError(f"unknown provider {value!r}: choose one of {', '.join(known)}")
        return value

    webhook_max_bytes: int = Field(
        32_000_000,
        ge=1024,
        description="Largest body POST /webhooks/sendgrid accepts (10,000 events fit easily).",
    )
    subscribe_per_ip_per_hour: int = Field(
        10, ge=1, description="Sign-up requests one client address may make per hour."
    )
    subscribe_per_address_per_day: int = Field(
        3,
        ge=1,
        description="Confirmation emails one mailbox may receive per day (`+tags`, and dots at "
        "Gmail, do not make another mailbox).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names "
        "the client; none by default, so the client is the connection's own address.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            try:
                network = ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
            if network.prefixlen == 0:  # then any client may name any address and escape limits
                raise ValueError(
                    f"{item!r} trusts every client as a proxy, so anyone could name any address "
                    "in X-Forwarded-For and escape the limits: list your proxies' addresses"
                )
            out.append(str(network))
        return out


class Celery(_Section):
    """Distributed sending: Celery workers share the send over a broker and the database."""

    enabled: bool = Field(
        False,
        description="Send through Celery workers by default (`digest send` and the scheduler's "
        "send); off, everything runs in-process and no broker is needed.",
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="The broker: Redis `redis://host:6379/N` or RabbitMQ "
        "`amqp://user:pass@host:5672//`.",
    )
    queue: str = Field(
        "digest", min_length=1, description="Queue the batch tasks go to; workers consume it."
    )
    batch_size: int = Field(
        1000, ge=1, le=1000, description="Recipients per task: one edition × at most this many."
    )
    visibility_timeout: int = Field(
        1800,
        ge=1,
        description="Redis only: seconds before a task taken by a worker that died is handed to "
        "another. Keep it above the longest batch (else a slow batch runs twice, harmlessly).",
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="How long a batch's claim lives without its heartbeat (renewed every third "
        "of it): a sender or worker that died loses its rows after this, the unsent ones go "
        "back to the queue and only those in flight become uncertain. Also for in-process "
        "senders.",
    )
    republish_after: float = Field(
        30.0,
        gt=0,
        description="Seconds without progress before the sender publishes tasks again for rows "
        "still open (a broker that lost its messages); duplicate tasks are harmless.",
    )
    give_up_after: float = Field(
        600.0,
        gt=0,
        description="Seconds without progress before the sender stops following and reports the "
        "rest pending (exit 3); queued tasks still run when workers come. Keep it well above "
        "`lease_seconds`: a dead worker's rows move on after one lease.",
    )
    poll_seconds: float = Field(
        0.5, gt=0, description="How often the sender reads progress from the ledger."
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=20,
        description="Tries per recipient on retryable provider answers; the task retries with "
        "exponential backoff and jitter (at most 60 s).",
    )
    concurrency: int = Field(
        0, ge=0, description="Processes per `digest worker` (0: one per CPU core)."
    )


class Settings(_Section):
    publication: Publication = Field(default_factory=Publication)
    database: Database = Field(default_factory=Database)
    sources: Sources = Field(default_factory=Sources)
    security: Security = Field(default_factory=Security)
    editions: Editions = Field(default_factory=Editions)
    tiers: Tiers = Field(default_factory=Tiers)
    schedule: Schedule = Field(default_factory=Schedule)
    web: Web = Field(default_factory=Web)
    celery: Celery = Field(default_factory=Celery)


_provider_names: Callable[[], Sequence[str]] | None = None


def register_providers(names: Callable[[], Sequence[str]]) -> None:
    """Where the provider names come from (the registry's own lookup, asked at each check, so a
    provider module added or removed is seen at once): settings that name a provider
    (`web.provider`) are checked against it. config.py cannot import the registry."""
    global _provider_names
    _provider_names = names


def provider_names() -> tuple[str, ...]:
    """The providers the registry knows; () before the registry is imported (then a provider's
    name is checked where it is used, by the registry)."""
    return tuple(_provider_names()) if _provider_names is not None else ()


def register_section(model: type[ProviderSettings]) -> None:
    """Make `model` the `[model.section]` section of every Settings validated from now on.

    Pydantic has no public call for adding a field to a finished model, so the field is added
    to the model's field table and the model rebuilt: the section then behaves exactly like a
    declared one (validation errors, `model_dump`, `documented_keys`, `model_copy`). Registering
    the same model twice is a no-op; another model under a taken name is an error.
    """
    name = model.section
    known = Settings.model_fields.get(name)
    if known is not None:
        if known.annotation is model:
            return
        raise ValueError(f"settings section [{name}] is already declared")
    Settings.__pydantic_fields__[name] = FieldInfo.from_annotated_attribute(
        model, Field(default_factory=model)
    )
    Settings.model_rebuild(force=True)
    for var, key in model.env.items():
        ENV_OVERRIDES[var] = f"{name}.{key}"


def forget_section(name: str) -> None:
    """Undo `register_section` (a test's temporary provider); declared sections stay."""
    known = Settings.model_fields.get(name)
    if known is None or not (
        isinstance(known.annotation, type) and issubclass(known.annotation, ProviderSettings)
    ):
        return
    del Settings.__pydantic_fields__[name]
    Settings.model_rebuild(force=True)
    for var in [var for var, dotted in ENV_OVERRIDES.items() if dotted.startswith(f"{name}.")]:
        del ENV_OVERRIDES[var]


# Environment variable → dotted key. Lists are comma-separated. Provider sections add theirs
# when they are registered (`ProviderSettings.env`).
ENV_OVERRIDES: dict[str, str] = {
    "DIGEST_DATABASE_URL": "database.url",
    "DIGEST_SECRET_KEY": "security.secret_keys",
    "DIGEST_BASE_URL": "publication.base_url",
    "DIGEST_EDITOR_PASSWORD": "web.editor_password",
    "DIGEST_EDITOR_TOKEN": "web.editor_token",
    "DIGEST_CELERY_BROKER_URL": "celery.broker_url",
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


def display_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective settings with every secret masked, for `digest config`.

    SecretStr fields dump as '**********'; the database and broker URLs are plain strings
    because the engines and Celery need them as such, so their passwords are masked here.
    """
    data = settings.model_dump(mode="json")
    data["database"]["url"] = display_url(settings.database.url)
    data["celery"]["broker_url"] = display_url(settings.celery.broker_url)
    return data


def documented_keys() -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every setting: docs/configuration.md's reference is
    built from this."""
    return _keys_of(Settings, "")


def _keys_of(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str]]:
    """Leaf settings of `model`, recursing into nested sections such as `tiers.open`."""
    rows = []
    for key, f in model.model_fields.items():
        default = f.default_factory() if f.default_factory else f.default  # type: ignore[call-arg]
        kind = f.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if prefix:  # a sub-section: its own keys, with this tier's defaults
                for sub, _sub_default, help_ in _keys_of(kind, f"{prefix}{key}."):
                    name = sub.rsplit(".", 1)[1]
                    value = repr(getattr(default, name))
                    rows.append((sub, value, help_ or f.description or ""))
            else:
                rows.extend(_keys_of(kind, f"{key}."))
            continue
        rows.append((f"{prefix}{key}", repr(default), f.description or ""))
    return rows
