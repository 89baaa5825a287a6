"""tenants.positions_snapshot and positions_read_at: a stopped bot's positions, for its user's view

Revision ID: 0005_positions_snapshot
Revises: 0004_isolation_bot_uids
Create Date: 2026-12-07 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_positions_snapshot"
down_revision = "0004_isolation_bot_uids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("positions_snapshot", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("positions_read_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("positions_read_at")
        batch_op.drop_column("positions_snapshot")
