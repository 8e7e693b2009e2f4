"""The database schema, in SQLAlchemy Core (set-based SQL keeps bulk sends and imports fast).

Laid out whole from the start so later stages (issues and editions, the audience, the delivery
ledger, provider events) fit without a rewrite. Changes go through Alembic revisions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Key/value facts about this installation (e.g. the suppression-hash salt).
install_meta = Table(
    "install_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

signals = Table(
    "signals",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("published", Date, nullable=True, index=True),
    Column("market_class", String(200), nullable=True),
    Column("tier", String(8), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("internal", Boolean, nullable=False, default=False),
    Column("source", Text, nullable=True),
    Column("data", JSON, nullable=False),  # the whole normalized record
    Column("content_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Each source's own record of a signal; `signals.data` is these folded in import order, so
# re-importing one source changes only what that source says (digest.signals.merging).
signal_sources = Table(
    "signal_sources",
    metadata,
    Column("signal_id", String(200), primary_key=True),
    Column("source", String(1000), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("position", Integer, nullable=False),  # order within one import batch
)

# Each reading of a signal as imported (id, published, confidence): `signals` keeps only the
# newest, so a signal re-published in a later week is compared with these (continuity).
signal_readings = Table(
    "signal_readings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signal_id", String(200), nullable=False),
    Column("published", Date, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("tier", String(8), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_signal_readings_signal_id_published", "signal_id", "published"),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period_key", String(32), nullable=False, unique=True),  # e.g. 2026-W47
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),  # inclusive
    Column(
        "status", String(32), nullable=False
    ),  # building, awaiting_approval, approved, sending, sent
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("built_at", DateTime(timezone=True), nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("approved_by", String(200), nullable=True),
    Column("send_started_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # Set when an editor's change lands after the editions were frozen; a rebuild clears it.
    Column("stale_at", DateTime(timezone=True), nullable=True),
    # What the build did with each signal of the period (digest.issues.accounting), frozen
    # with the editions; NULL before the first build of a version that records it.
    Column("accounting", JSON, nullable=True),
    # The signals as the build showed them (merged stories filled), by id, frozen with the
    # editions: what the archive and a reader's view render, whatever is re-ingested later.
    # NULL for issues frozen before it was recorded.
    Column("signals", JSON, nullable=True),
)

# An editor's hand on one period's issue (`digest issue …`, the editor's issue page), applied at
# build. Keyed by period, not issue: controls may be set before the first build.
issue_controls = Table(
    "issue_controls",
    metadata,
    Column("period_key", String(32), primary_key=True),
    Column("excluded", JSON, nullable=False),  # sorted signal ids left out of every edition
    Column("lead", String(200), nullable=True),  # the lead story's signal id
    Column("merges", JSON, nullable=False),  # {dropped id: kept id}, merges made by hand
    Column("unmerged", JSON, nullable=False),  # sorted ids split out of automatic merges
    Column("notes", JSON, nullable=False),  # {"en"|"zh": Markdown}, at most 600 characters each
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(200), nullable=False),
)

editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column("tier", String(32), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("interests_key", String(500), nullable=False, default=""),  # "" = all classes
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("signal_ids", JSON, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("issue_id", "tier", "locale", "interests_key", name="uq_editions_key"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalized, lower-cased
    Column("email_hash", String(64), nullable=False),  # keyed hash: joins `suppressions`
    Column("name", Text, nullable=False, default=""),
    Column("tier", String(32), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("interests", String(1000), nullable=False),  # sorted, ";"-joined; "" = all
    Column("status", String(16), nullable=False),  # active, unsubscribed, bounced, complained
    Column("consent_source", String(200), nullable=True),
    Column("consent_at", DateTime(timezone=True), nullable=True),
    Column("status_changed_at", DateTime(timezone=True), nullable=True),
    Column("status_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_subscribers_selection", "status", "tier", "locale", "interests", "id"),
)

# Addresses never to mail again, as a keyed hash so it survives `forget`.
suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),  # unsubscribed, bounced, complained, forgotten
    Column("created_at", DateTime(timezone=True), nullable=False),  # the first; reason is its
    Column("latest_at", DateTime(timezone=True), nullable=True),  # the latest; NULL = created_at
)

# Confirmation links already used: each works once. A row outlives its link's expiry by nothing:
# older rows are pruned, since an expired link is refused anyway.
confirmations_used = Table(
    "confirmations_used",
    metadata,
    Column("link_key", String(64), primary_key=True),  # hash of the link's own claims
    Column("used_at", DateTime(timezone=True), nullable=False, index=True),
)

# The delivery ledger: one row per (issue, subscriber), created before anything is sent.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, nullable=False),
    Column("edition_id", ForeignKey("editions.id"), nullable=True),
    Column("state", String(16), nullable=False),  # queued, sending, accepted, failed, uncertain
    Column("provider", String(32), nullable=True),
    Column("message_id", String(200), nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(100), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # a claim's lease heartbeat
    # Set when the row is handed to the provider; a dead claim's rows without it are re-queued.
    Column("handed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_subscriber"),
    Index("ix_deliveries_issue_state", "issue_id", "state"),
    Index(  # claiming a batch: queued rows only (a row leaves it once, when it is claimed)
        "ix_deliveries_claim",
        "issue_id",
        "edition_id",
        "id",
        sqlite_where=text("state = 'queued'"),
        postgresql_where=text("state = 'queued'"),
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_event_id", String(200), nullable=True, unique=True),  # sg_event_id
    Column("delivery_id", Integer, nullable=True, index=True),
    Column("subscriber_id", Integer, nullable=True, index=True),
    Column("event", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=False),
)

# Webhook events refused one by one (an id out of range, a missing kind, ...), kept with the
# reason so an operator sees them in `digest stats`; `data` is the raw event as ASCII JSON text
# (it may hold what the `events` columns cannot: NUL, lone surrogates, huge numbers).
rejected_events = Table(
    "rejected_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("provider_event_id", String(200), nullable=True),  # sg_event_id when readable
    Column("reason", Text, nullable=False),
    Column("data", Text, nullable=False),
)

# What the scheduler did: every fire, skip (missed beyond the grace), error and pipeline result.
# `digest schedule list` reads it; a duplicate fire shows up here as a second, harmless row.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(200), nullable=False),
    Column("kind", String(32), nullable=False),  # weekly, approval, bucket, manual
    Column("period_key", String(32), nullable=True),
    Column("zone", String(64), nullable=True),  # local-time bucket, else NULL
    Column("event", String(16), nullable=False),  # fired, executed, missed, error, result
    Column("outcome", String(32), nullable=True),  # sent, built, awaiting_approval, skipped, ...
    Column("scheduled_for", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("holder", String(200), nullable=False, default=""),  # host:pid of the scheduler
    Index("ix_schedule_runs_period", "period_key", "recorded_at"),
    Index("ix_schedule_runs_recorded", "recorded_at"),
)

# Editors with their own login, so an approval names a person (`digest editors add`).
editor_accounts = Table(
    "editor_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),  # Argon2id, the whole encoded string
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)

# Editor sessions held server-side: the cookie carries a random id whose hash is the key here, so
# logging out, a password change or removing the account ends a session for good.
editor_sessions = Table(
    "editor_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie's random id
    Column("editor", String(64), nullable=False),  # the name approvals are recorded under
    Column(
        "account_id",
        ForeignKey("editor_accounts.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),  # NULL for the bootstrap login (web.editor_password / web.editor_token)
    Column("credential", String(64), nullable=True),  # bootstrap: which configured secret
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# Failed editor logins per client address and per account (keys hashed), shared by every web
# process: enough failures lock the key out for a wait that doubles.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("lockouts", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False, index=True),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

# Sign-up requests per client address and confirmation emails per mailbox (keys hashed), one row
# per request allowed within its limit's window, shared by every web process and kept across
# restarts.
request_hits = Table(
    "request_hits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_request_hits_scope_key_hash_at", "scope", "key_hash", "at"),
)
