"""Storage: SQLModel tables, the database engine and migrations, and the queries the pipeline uses."""

from .database import open_database, session_scope, utcnow
from .tables import Feed, IncidentRow, ItemRow, MatchRow, OpsAlertRow, OutboxRow

__all__ = ["open_database", "session_scope", "utcnow", "Feed", "IncidentRow", "ItemRow", "MatchRow",
           "OpsAlertRow", "OutboxRow"]
