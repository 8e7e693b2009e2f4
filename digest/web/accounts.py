"""Editor accounts and the editor sessions, both kept in the database.

Accounts exist so an approval names the person who gave it (one shared password recorded every
approval as "editor"). Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's
recommended profile), never stored or logged in clear.

Sessions are held server-side because a signed cookie alone cannot be taken back: logout left a
copied cookie working for `web.session_hours`, and anyone who recovered a weak key offline could
mint one. Here the cookie carries a random id, the database holds only its SHA-256, and a
session lasts exactly as long as its row: logout deletes it, a password change or removing the
account deletes all of the account's. The bootstrap login (`web.editor_password` or
`web.editor_token`, recorded as "editor") has no account row, so its sessions carry a tag of the
configured secret instead and stop matching when that secret is changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from digest.storage.schema import editor_accounts, editor_sessions
from digest.strength import KEY_COMMAND, PASSWORD_MIN

BOOTSTRAP = "editor"
"""The name the shared bootstrap login records; no account may take it."""
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_RESERVED = {BOOTSTRAP, "cli"}

_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs what a wrong password costs and the
# login's timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """An account cannot be added, changed or removed; the message says why and what to do."""


@dataclass(frozen=True)
class Account:
    name: str
    created_at: dt.datetime
    password_changed_at: dt.datetime
    sessions: int


@dataclass(frozen=True)
class Session:
    """Who a live session belongs to: `account_id` is None for the bootstrap login."""

    editor: str
    account_id: int | None
    credential: str | None


def check_name(name: str) -> str:
    """The account name as stored (lower case), or AccountError saying what a name may be."""
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise AccountError(
            f"{name!r} is not a usable editor name: 1-64 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    if name in _RESERVED:
        raise AccountError(f"{name!r} is reserved (the shared bootstrap login records it)")
    return name


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(
            f"the password is shorter than {PASSWORD_MIN} characters; a good one: `{KEY_COMMAND}`"
        )


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timezone-aware columns back naive (in UTC as stored); PostgreSQL aware."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- accounts ---------------------------------------------------------------------------------


def add_editor(engine: Engine, name: str, password: str, now: dt.datetime) -> str:
    """Create an account; AccountError when the name is taken or either value is unusable."""
    name = check_name(name)
    check_password(password)
    hashed = _hasher.hash(password)
    with engine.begin() as conn:
        if conn.execute(select(editor_accounts.c.id).where(editor_accounts.c.name == name)).first():
            raise AccountError(
                f"{name} already has an account: `digest editors password {name}` changes it"
            )
        conn.execute(
            insert(editor_accounts).values(
                name=name, password_hash=hashed, created_at=now, password_changed_at=now
            )
        )
    return name


def _account_id(conn: Connection, name: str) -> int:
    found = conn.execute(
        select(editor_accounts.c.id).where(editor_accounts.c.name == name.strip().lower())
    ).scalar()
    if found is None:
        raise AccountError(f"no editor named {name!r}: `digest editors list` shows them")
    return int(found)


def set_password(engine: Engine, name: str, password: str, now: dt.datetime) -> int:
    """Change an account's password and end every session it has; returns how many ended."""
    check_password(password)
    hashed = _hasher.hash(password)
    with engine.begin() as conn:
        account = _account_id(conn, name)
        conn.execute(
            update(editor_accounts)
            .where(editor_accounts.c.id == account)
            .values(password_hash=hashed, password_changed_at=now)
        )
        ended = conn.execute(delete(editor_sessions).where(editor_sessions.c.account_id == account))
    return int(ended.rowcount or 0)


def remove_editor(engine: Engine, name: str) -> int:
    """Delete an account and its sessions; returns how many sessions ended. Past approvals keep
    the name they were recorded under."""
    with engine.begin() as conn:
        account = _account_id(conn, name)
        ended = conn.execute(delete(editor_sessions).where(editor_sessions.c.account_id == account))
        conn.execute(delete(editor_accounts).where(editor_accounts.c.id == account))
    return int(ended.rowcount or 0)


def list_editors(engine: Engine, now: dt.datetime) -> list[Account]:
    """Every account by name, with its live sessions counted."""
    live = (
        select(editor_sessions.c.account_id, func.count().label("n"))
        .where(editor_sessions.c.expires_at > now)
        .group_by(editor_sessions.c.account_id)
        .subquery()
    )
    query = (
        select(editor_accounts, func.coalesce(live.c.n, 0).label("sessions"))
        .outerjoin(live, live.c.account_id == editor_accounts.c.id)
        .order_by(editor_accounts.c.name)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Account(r.name, _aware(r.created_at), _aware(r.password_changed_at), int(r.sessions))
        for r in rows
    ]


def has_accounts(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(editor_accounts.c.id).limit(1)).first() is not None


def is_editor(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            select(editor_accounts.c.id).where(editor_accounts.c.name == name.strip().lower())
        ).first()
    return found is not None


def verify(engine: Engine, name: str, password: str) -> tuple[int, str] | None:
    """(account id, name) when `password` is this account's, else None, in about the same time
    whether or not the name exists. Slow by design (Argon2): call it off the event loop."""
    name = name.strip().lower()
    with engine.connect() as conn:
        row = conn.execute(
            select(editor_accounts.c.id, editor_accounts.c.password_hash).where(
                editor_accounts.c.name == name
            )
        ).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return (int(row.id), name) if row else None


# --- sessions ---------------------------------------------------------------------------------


def credential_tag(key: str, secret: str) -> str:
    """A tag of a configured bootstrap secret, stored on its sessions instead of the secret."""
    return hmac.new(
        key.encode(), b"digest.editor.bootstrap\0" + secret.encode(), "sha256"
    ).hexdigest()


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(
    engine: Engine,
    session: Session,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> str:
    """Record a new session and return its random id (for the cookie); expired rows go too."""
    session_id = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(editor_sessions).where(editor_sessions.c.expires_at <= now))
        conn.execute(
            insert(editor_sessions).values(
                id_hash=_hash_id(session_id),
                editor=session.editor,
                account_id=session.account_id,
                credential=session.credential,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return session_id


def read_session(engine: Engine, session_id: str, now: dt.datetime) -> Session | None:
    """The live session with this id, or None (ended, expired or never issued)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                editor_sessions.c.editor,
                editor_sessions.c.account_id,
                editor_sessions.c.credential,
                editor_sessions.c.expires_at,
            ).where(editor_sessions.c.id_hash == _hash_id(session_id))
        ).first()
    if row is None or _aware(row.expires_at) <= now:
        return None
    return Session(row.editor, row.account_id, row.credential)


def end_session(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(editor_sessions).where(editor_sessions.c.id_hash == _hash_id(session_id))
        )
