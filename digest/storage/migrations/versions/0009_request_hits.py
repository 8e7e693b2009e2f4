"""request hits: the sign-up limits counted in the database

The per-client and per-mailbox sign-up limits were counted in each process's memory, so every
extra `digest serve` process (or a restart) granted a fresh allowance.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_hits")),
    )
    op.create_index(
        "ix_request_hits_scope_key_hash_at",
        "request_hits",
        ["scope", "key_hash", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_request_hits_scope_key_hash_at", table_name="request_hits")
    op.drop_table("request_hits")
