"""deliveries: an index for claiming one edition's queued rows in id order

A send claims `WHERE issue_id = ? AND edition_id = ? AND state = 'queued' ORDER BY id LIMIT n`
a thousand times per million recipients; with only (issue_id, state) each claim walked past
every other edition's queued rows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_claim", "deliveries", ["issue_id", "edition_id", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
