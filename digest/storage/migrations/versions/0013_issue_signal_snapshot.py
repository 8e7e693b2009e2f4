"""issue signal snapshot

`issues.signals`: each signal of the issue as its build showed it (a merged story with its empty
fields filled from the other records), keyed by id and frozen with the editions, so the archive
and a reader's `/view/<token>` show what was sent even after a signal is re-ingested, changed or
removed. NULL for issues frozen before this revision: their pages read the signal store.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("issues", sa.Column("signals", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("issues", "signals")
