"""signing broker: withdrawal addresses users registered, and the outflow the broker let through

Revision ID: 0003_broker_withdrawals
Revises: 0002
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A migration is a frozen snapshot of the schema at its revision: it spells out its own tables and
# columns and imports no product code (which changes later), so its definitions repeat on purpose.

revision = "0003_broker_withdrawals"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withdrawal_addresses",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usable_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "chain"),
    )
    op.create_table(
        "broker_outflows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.String(length=48), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("broker_outflows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_broker_outflows_tenant_asset_at", ["tenant_id", "asset", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("broker_outflows", schema=None) as batch_op:
        batch_op.drop_index("ix_broker_outflows_tenant_asset_at")
    op.drop_table("broker_outflows")
    op.drop_table("withdrawal_addresses")
