"""bot unix users: the user id each tenant's bot runs as, kept with retained data too

Revision ID: 0004_isolation_bot_uids
Revises: 0003_broker_withdrawals
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A migration is a frozen snapshot of the schema at its revision: it spells out its own tables and
# columns and imports no product code (which changes later), so its definitions repeat on purpose.

revision = "0004_isolation_bot_uids"
down_revision = "0003_broker_withdrawals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_tenants_uid", ["uid"])
    with op.batch_alter_table("retained_data", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_retained_data_uid", ["uid"])


def downgrade() -> None:
    with op.batch_alter_table("retained_data", schema=None) as batch_op:
        batch_op.drop_constraint("uq_retained_data_uid", type_="unique")
        batch_op.drop_column("uid")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tenants_uid", type_="unique")
        batch_op.drop_column("uid")
