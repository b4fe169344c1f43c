"""A feed's digests of its entries' keys with their titles move out of feed_entries.marks into a
text column of their own, titled: every claim reads them for each feed it claims, and reading
them out of a JSON column made PostgreSQL parse the whole document, about 2 KB a feed (13 of a
500-feed claim's 34 ms). The keys and links, which only retention reads, stay in marks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:15:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('titled', sa.Text(), nullable=False, server_default=''))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE feed_entries SET titled = COALESCE(marks->>'titled', ''), "
                   "marks = CAST(CAST(marks AS JSONB) - 'titled' AS JSON) "
                   "WHERE json_typeof(marks) = 'object'")
    else:
        op.execute("UPDATE feed_entries SET titled = COALESCE(json_extract(marks, '$.titled'), ''), "
                   "marks = json_remove(marks, '$.titled')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE feed_entries SET marks = CAST(jsonb_set(CAST(marks AS JSONB), '{titled}', "
                   "CAST(titled AS JSONB)) AS JSON) WHERE titled <> ''")
    else:
        op.execute("UPDATE feed_entries SET marks = json_set(marks, '$.titled', json(titled)) WHERE titled <> ''")
    with op.batch_alter_table('feed_entries', schema=None) as batch_op:
        batch_op.drop_column('titled')
