"""Per-recipient link values for a send: signed unsubscribe, preferences and view URLs, escaped
per part.

The tokens are `digest.audience.tokens` compact tokens, minted by its `TokenMinter` (one call
per recipient gives all three), so the web app verifies them with `LinkSigner.verify` and
`LinkSigner.verify_view`. The view link names the edition the recipient is sent (period, tier,
language): its half of the signature is prepared once per edition.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from digest.audience.tokens import MissingSecretKey, TokenMinter, ViewScope
from digest.config import Settings
from digest.delivery.provider import EditionMessage
from digest.issues.render import placeholders as ph
from digest.storage.schema import install_meta

FastTokens = TokenMinter
"""The name the senders know the minter by."""


class LinkValues:
    """The placeholder values of one recipient, for the HTML part and for the text part.

    URLs are `{base}/u/{token}`, `{base}/p/{token}` and `{base}/view/{token}`; a token is URL-
    and HTML-safe (base64url, dots, `~`), so only the base needs escaping, once.
    """

    def __init__(self, tokens: TokenMinter, base_url: str) -> None:
        self.tokens = tokens
        self.base = base_url.rstrip("/")
        escaped = html.escape(self.base)
        self._base_html = self.base if escaped == self.base else escaped
        self._scopes: dict[tuple[str, str, str], ViewScope] = {}
        self._last: tuple[EditionMessage, ViewScope] | None = None

    def scope(self, message: EditionMessage) -> ViewScope:
        """The edition's view-token maker, made once per edition (and remembered for the
        edition at hand, since a batch asks once per recipient)."""
        last = self._last
        if last is not None and last[0] is message:
            return last[1]
        key = (message.period_key, message.tier, message.locale)
        found = self._scopes.get(key)
        if found is None:
            found = self._scopes[key] = self.tokens.view_scope(*key)
        self._last = (message, found)
        return found

    def values(
        self, subscriber_id: int, email: str, name: str, fallback_name: str, message: EditionMessage
    ) -> tuple[Mapping[str, str], Mapping[str, str], str]:
        """(HTML values, text values, unsubscribe URL) for one recipient of `message`."""
        unsubscribe, preferences, view = self.tokens.links(
            subscriber_id, email, self.scope(message)
        )
        shown = name.strip() or fallback_name
        text_name = " ".join(shown.split())  # no CR/LF from a name
        base = self.base
        unsubscribe_url = f"{base}/u/{unsubscribe}"
        preferences_url = f"{base}/p/{preferences}"
        view_url = f"{base}/view/{view}"
        text_values = {
            ph.NAME_TEXT: text_name,
            ph.UNSUBSCRIBE_URL_TEXT: unsubscribe_url,
            ph.PREFERENCES_URL_TEXT: preferences_url,
            ph.VIEW_URL_TEXT: view_url,
        }
        if self._base_html is base:  # nothing to escape: the same strings serve both parts
            html_urls = (unsubscribe_url, preferences_url, view_url)
        else:
            base_html = self._base_html
            html_urls = (
                f"{base_html}/u/{unsubscribe}",
                f"{base_html}/p/{preferences}",
                f"{base_html}/view/{view}",
            )
        html_values = {
            ph.NAME_HTML: html.escape(shown),
            ph.UNSUBSCRIBE_URL_HTML: html_urls[0],
            ph.PREFERENCES_URL_HTML: html_urls[1],
            ph.VIEW_URL_HTML: html_urls[2],
        }
        return html_values, text_values, unsubscribe_url


LOCAL_KEY = "local_secret_key"
"""install_meta key of the generated key used when none is configured and nothing leaves."""


def local_secret_key(engine: Engine) -> str:
    """This database's generated signing key, created on first use (race-safe)."""
    with engine.begin() as conn:
        found = conn.execute(
            select(install_meta.c.value).where(install_meta.c.key == LOCAL_KEY)
        ).scalar_one_or_none()
        if found is not None:
            return str(found)
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert(install_meta)
            .values(key=LOCAL_KEY, value=secrets.token_urlsafe(32))
            .on_conflict_do_nothing()
        )
        return str(
            conn.execute(
                select(install_meta.c.value).where(install_meta.c.key == LOCAL_KEY)
            ).scalar_one()
        )


def signing_keys(
    settings: Settings, engine: Engine, *, allow_local: bool
) -> tuple[list[str], str | None]:
    """The keys links are signed with, and a note when a generated local key stands in.

    A real send needs `security.secret_keys` (the web app must verify the links). The outbox
    (nothing leaves the machine) may use a key generated into the database's install_meta, so
    the Quickstart works with no configuration; the note says so, since those links only verify
    against this database.
    """
    keys = [k.get_secret_value() for k in settings.security.secret_keys if k.get_secret_value()]
    if keys:
        return keys, None
    if not allow_local:
        raise MissingSecretKey()
    note = (
        "No secret key configured (security.secret_keys / DIGEST_SECRET_KEY): links are signed "
        f"with a local key generated into this database (install_meta.{LOCAL_KEY}). Fine for the "
        "outbox; set DIGEST_SECRET_KEY before a real send."
    )
    return [local_secret_key(engine)], note
