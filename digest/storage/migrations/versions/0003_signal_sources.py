"""signal sources: each source's own record of a signal, folded into signals.data

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_sources",
        sa.Column("signal_id", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("signal_id", "source", name=op.f("pk_signal_sources")),
    )
    # Signals stored before this revision become their own single source.
    op.execute(
        "INSERT INTO signal_sources (signal_id, source, data, imported_at, position) "
        "SELECT id, COALESCE(source, ''), data, updated_at, 0 FROM signals"
    )


def downgrade() -> None:
    op.drop_table("signal_sources")
