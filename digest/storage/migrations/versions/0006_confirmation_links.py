"""confirmation links: each works once, and never overrides a later opt-out

`confirmations_used` records the links already used; `suppressions.latest_at` records the latest
opt-out of an address already suppressed (`created_at` keeps the first), so a link issued before
it is refused.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "confirmations_used",
        sa.Column("link_key", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_key", name=op.f("pk_confirmations_used")),
    )
    op.create_index(
        op.f("ix_confirmations_used_used_at"), "confirmations_used", ["used_at"], unique=False
    )
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("latest_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("latest_at")
    op.drop_index(op.f("ix_confirmations_used_used_at"), table_name="confirmations_used")
    op.drop_table("confirmations_used")
