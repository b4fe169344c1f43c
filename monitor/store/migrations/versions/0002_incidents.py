"""incidents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 11:48:19.772848
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sources', sa.Integer(), nullable=False),
    sa.Column('updates', sa.Integer(), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('entities', sa.JSON(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_last_at'), ['last_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_profile'), ['profile'], unique=False)

    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_match_incident_id'), ['incident_id'], unique=False)
        batch_op.create_foreign_key('fk_match_incident', 'incident', ['incident_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.drop_constraint('fk_match_incident', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_match_incident_id'))
        batch_op.drop_column('role')
        batch_op.drop_column('incident_id')

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_profile'))
        batch_op.drop_index(batch_op.f('ix_incident_last_at'))

    op.drop_table('incident')
