"""Alembic environment: runs on the connection that monitor.store.database.upgrade passes in."""

from alembic import context
from sqlmodel import SQLModel

from monitor.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `monitor.store.database.upgrade`")
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
