"""`digest check`: the preflight a real send (and the scheduler) runs before anything leaves.

Each problem names the setting and how to fix it, because whoever reads it is about to mail a
list: a placeholder From address or an http link is a deliverability incident, not a warning.
For the outbox (nothing leaves the machine) the same problems are only warnings, so the
Quickstart works with no account and no configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from digest.config import ConfigError, Settings
from digest.delivery.provider import Problem
from digest.delivery.providers import spec
from digest.issues.build import build
from digest.issues.editions import Edition, build_issue
from digest.issues.render.engine import RenderError
from digest.period import Period, last_complete_week, latest_week_with
from digest.signals.store import latest_published
from digest.strength import weak_secrets

PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
PLACEHOLDER_TLDS = (".example", ".test", ".invalid", ".localhost")


def placeholder_address(address: str) -> bool:
    """True for an empty address or one at a reserved example/test domain (RFC 2606)."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if "@" not in address or not domain:
        return True
    return (
        any(domain == p or domain.endswith("." + p) for p in PLACEHOLDER_DOMAINS)
        or domain.endswith(PLACEHOLDER_TLDS)
        or domain in ("localhost", "example", "test", "invalid")
    )


def _publication(settings: Settings) -> list[Problem]:
    pub, found = settings.publication, []
    if placeholder_address(pub.from_email):
        found.append(
            Problem(
                "publication.from_email",
                f"{pub.from_email or 'empty'} is a placeholder, not an address you own",
                "set publication.from_email in digest.toml to an address at your own domain, "
                "with SPF, DKIM and DMARC set up for that domain (docs/sending.md, "
                "Deliverability; docs/guide.md, step 5)",
            )
        )
    if not pub.base_url.lower().startswith("https://"):
        found.append(
            Problem(
                "publication.base_url",
                f"{pub.base_url} is not https (Gmail and Yahoo require https one-click "
                "unsubscribe links)",
                "set publication.base_url (or DIGEST_BASE_URL) to the web app's public https URL",
            )
        )
    if not [k for k in settings.security.secret_keys if k.get_secret_value()]:
        found.append(
            Problem(
                "security.secret_keys",
                "no secret key: unsubscribe and preferences links cannot be signed",
                'set DIGEST_SECRET_KEY to the output of `python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"` (several keys comma-separated, newest first)',
            )
        )
    return found + _weak_secrets(settings)


def _weak_secrets(settings: Settings) -> list[Problem]:
    """Keys and editor passwords too weak to expose (`digest serve` refuses them too)."""
    return [Problem(w.setting, w.message, w.fix) for w in weak_secrets(settings)]


def _credentials(settings: Settings, provider: str) -> list[Problem]:
    """The provider's own checks (its module declares them), then whether it can be made."""
    try:
        entry = spec(provider)
    except ConfigError as exc:
        return [Problem("provider", str(exc), "choose a registered provider")]
    own: list[Problem] = entry.checks(settings)
    if own:
        return own
    try:
        entry.make(settings).close()
    except ConfigError as exc:
        return [Problem(f"{provider}", str(exc), "correct the setting named above")]
    return []


def _period(settings: Settings, engine: Engine) -> Period:
    with engine.connect() as conn:
        found = latest_week_with(latest_published(conn), settings.publication.zone)
    return found or last_complete_week(settings.publication.zone)


def _trial_build(
    settings: Settings, engine: Engine, period: Period, cwd: Path | None
) -> list[Problem]:
    """Templates compile (an empty issue renders every template), and the editions pass."""
    try:
        build_issue([], settings, period, cwd=cwd)
        result = build(settings, period, engine=engine, store=False)
    except RenderError as exc:
        return [
            Problem(
                "editions.templates_dir",
                f"a template does not compile: {exc}",
                "fix the template named above, or remove it to use the bundled one",
            )
        ]
    return _edition_problems(result.editions, period)


def _edition_problems(editions: Sequence[Edition], period: Period) -> list[Problem]:
    """Each distinct failed inbox check of the editions, naming the first edition it failed."""
    found = []
    seen: set[str] = set()
    for edition in editions:
        for check in edition.failures:
            if check.message in seen:
                continue
            seen.add(check.message)
            found.append(
                Problem(
                    f"editions ({period.key} {edition.tier}.{edition.locale})",
                    f"inbox check {check.name}: {check.message}",
                    "fix the signals or templates, then `digest build --force` (before sending)",
                )
            )
    return found


def run_checks(
    settings: Settings,
    engine: Engine,
    provider: str,
    *,
    period: Period | None = None,
    strict: bool = True,
    cwd: Path | None = None,
    built: Sequence[Edition] | None = None,
) -> list[Problem]:
    """Every problem found; with `strict` False (the outbox) they are all warnings.

    `built` are the period's editions as a build just made them (the scheduler's run): their
    check results are used as they are, where `digest check` alone makes a trial build.
    """
    period = period or _period(settings, engine)
    editions = (
        _trial_build(settings, engine, period, cwd)
        if built is None
        else _edition_problems(built, period)
    )
    problems = [*_publication(settings), *_credentials(settings, provider), *editions]
    if strict:
        return problems
    return [Problem(p.setting, p.message, p.fix, "warn") for p in problems]


def failures(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "fail"]
