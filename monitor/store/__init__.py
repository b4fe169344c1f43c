"""Storage: SQLModel tables, the database engine and migrations, and the queries the pipeline uses."""

from .database import open_database, session_scope, utcnow
from .tables import Feed, ItemRow, MatchRow, OutboxRow

__all__ = ["open_database", "session_scope", "utcnow", "Feed", "ItemRow", "MatchRow", "OutboxRow"]
