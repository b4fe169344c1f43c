"""Retention: a feed row keeps short digests of the keys and links its last poll served, so that
items a feed still carries are never deleted (they would come back as new).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_feed', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_column('in_feed')
