"""A feed's digests of what it served (0008's feed.in_feed) move to a table of their own,
feed_entries: every claim, release and 304 rewrites the feed row, and on SQLite an UPDATE
rewrites the whole row, a few kilobytes of digests included, for each of thousands of feeds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:30:00.000000
"""
import sqlite3

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_entries',
                    sa.Column('feed_id', sa.Integer(), sa.ForeignKey('feed.id'), primary_key=True),
                    sa.Column('marks', sa.JSON(), nullable=False))
    op.execute("INSERT INTO feed_entries (feed_id, marks) SELECT id, in_feed FROM feed "
               "WHERE in_feed IS NOT NULL AND CAST(in_feed AS TEXT) <> 'null'")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column('feed', 'in_feed')
    elif sqlite3.sqlite_version_info < (3, 35):
        # No DROP COLUMN before SQLite 3.35, and a batch rebuild of feed would drop a table other
        # rows refer to (foreign keys are on): the column stays, empty and unused.
        op.execute("UPDATE feed SET in_feed = NULL")
    else:
        _drop_and_repack()


def _drop_and_repack() -> None:
    """SQLite: drop the column and write the feed rows again. Dropping a column leaves each row
    where it was, one to a page when the digests filled it, and every claim then writes thousands
    of pages; rows written anew share pages. The foreign keys to feed (no ON DELETE action) are
    checked at commit, when every row is back."""
    columns = ", ".join(f'"{column["name"]}"' for column in sa.inspect(op.get_bind()).get_columns("feed")
                        if column["name"] != "in_feed")
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f"CREATE TEMP TABLE feed_rows AS SELECT {columns} FROM feed")
    op.execute("DELETE FROM feed")
    op.drop_column('feed', 'in_feed')
    op.execute(f"INSERT INTO feed ({columns}) SELECT {columns} FROM feed_rows ORDER BY id")
    op.execute("DROP TABLE feed_rows")


def downgrade() -> None:
    if not any(column["name"] == "in_feed" for column in sa.inspect(op.get_bind()).get_columns("feed")):
        op.add_column('feed', sa.Column('in_feed', sa.JSON(), nullable=True))
    op.execute("UPDATE feed SET in_feed = (SELECT marks FROM feed_entries WHERE feed_entries.feed_id = feed.id)")
    op.drop_table('feed_entries')
