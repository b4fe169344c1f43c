"""Grouping after the poll: a match awaits grouping while its role is NULL; incidents keep the
time span their attack happened in; a match keeps the layer that decided its class and the
evidence of its headline alone (where a report says the attack was).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:30:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layer', sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=False, server_default='rules'))
        batch_op.add_column(sa.Column('headline', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_index('ix_match_role', ['role'], unique=False)
    # Before this revision every match was handled when stored: none awaits grouping.
    op.execute("UPDATE match SET role = 'stored' WHERE role IS NULL")
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attack_from', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attack_to', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attack_exact', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        # Incidents close a fixed time after their opening: look them up by it.
        batch_op.create_index('ix_incident_opened_at', ['opened_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_opened_at')
        batch_op.drop_column('attack_exact')
        batch_op.drop_column('attack_to')
        batch_op.drop_column('attack_from')
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.drop_index('ix_match_role')
        batch_op.drop_column('headline')
        batch_op.drop_column('layer')
