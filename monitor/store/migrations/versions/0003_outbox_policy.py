"""outbox: two-phase sending, held rows and digests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('match_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default='alert'))
        batch_op.add_column(sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False,
                                      server_default='text'))
        batch_op.add_column(sa.Column('hold', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('entries', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('merged_into', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_outbox_merged_into', 'outbox', ['merged_into'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint('fk_outbox_merged_into', type_='foreignkey')
        batch_op.drop_column('merged_into')
        batch_op.drop_column('entries')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('hold')
        batch_op.drop_column('format')
        batch_op.drop_column('kind')
        batch_op.alter_column('match_id', existing_type=sa.Integer(), nullable=False)
