"""issue accounting and signal readings

`issues.accounting`: what the build did with every signal of the period (shown where, merged
into what, excluded, why missing), frozen with the editions so the archive never groups again.
`signal_readings`: each earlier reading of a signal (its id, published, confidence), since the
`signals` row keeps only the newest: a later week's re-publication shows what changed.

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("issues", sa.Column("accounting", sa.JSON(), nullable=True))
    op.create_table(
        "signal_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("signal_id", sa.String(length=200), nullable=False),
        sa.Column("published", sa.Date(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_readings")),
    )
    op.create_index(
        "ix_signal_readings_signal_id_published",
        "signal_readings",
        ["signal_id", "published"],
    )
    # Signals stored before this revision: their one known reading.
    op.execute(
        "INSERT INTO signal_readings (signal_id, published, confidence, tier, recorded_at) "
        "SELECT id, published, confidence, tier, updated_at FROM signals"
    )


def downgrade() -> None:
    op.drop_index("ix_signal_readings_signal_id_published", table_name="signal_readings")
    op.drop_table("signal_readings")
    op.drop_column("issues", "accounting")
