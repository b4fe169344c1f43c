"""Scale: a feed row says whether the watchlist still holds it (claims and health checks filter
on it instead of binding one parameter per feed); grouping finds a profile's recent incidents
through (profile, opened_at); a feed's newest items are found through (feed_id, id).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.add_column(sa.Column('watched', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_index('ix_feed_watched_due', 'feed', ['watched', 'next_due_at'])
    op.create_index('ix_incident_profile_opened', 'incident', ['profile', 'opened_at'])
    op.create_index('ix_item_feed_newest', 'item', ['feed_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_item_feed_newest', table_name='item')
    op.drop_index('ix_incident_profile_opened', table_name='incident')
    op.drop_index('ix_feed_watched_due', table_name='feed')
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_column('watched')
