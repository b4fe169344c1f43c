"""ops_alert: what the operations alerts have reported (monitor/ops.py)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:20:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ops_alert',
    sa.Column('feed', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('feed', 'kind')
    )


def downgrade() -> None:
    op.drop_table('ops_alert')
