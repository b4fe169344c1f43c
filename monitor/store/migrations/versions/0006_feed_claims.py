"""Feed claims name their worker: a claim whose worker is gone, or whose poll failed, is released
at once instead of holding the feed for the lease.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:15:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column('due_before_claim', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_column('due_before_claim')
        batch_op.drop_column('claimed_by')
