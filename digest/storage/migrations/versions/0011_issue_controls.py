"""issue controls: an editor's hand on one period's issue, and stale frozen editions

`issue_controls` holds, per period, what the editor chose (signals left out, the lead story,
merges, splits out of automatic merges, the note per language); the build applies it.
`issues.stale_at` is set when a change lands after the editions were frozen: `digest build` and
the scheduler rebuild them, `digest send` refuses them until then.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_controls",
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("lead", sa.String(length=200), nullable=True),
        sa.Column("merges", sa.JSON(), nullable=False),
        sa.Column("unmerged", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("period_key", name=op.f("pk_issue_controls")),
    )
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("stale_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("stale_at")
    op.drop_table("issue_controls")
