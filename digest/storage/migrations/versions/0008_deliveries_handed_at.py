"""deliveries: when a claimed row was handed to the provider

A claimed row that was never handed to the provider was certainly not sent: after a crash it
goes back to the queue instead of becoming `uncertain`. Only rows handed and not yet recorded
(what was in flight) can be uncertain.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("handed_at")
