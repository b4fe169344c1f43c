"""Engine, session and schema migrations (alembic, run to `head` when the database is opened)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

from ..errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_READS_ONLY = "monitor_reads_only"  # execution option: an SQLite connection that begins no transaction
PING_AFTER_IDLE = 5.0  # seconds a pooled PostgreSQL connection may sit unused before it is pinged


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def open_database(url: str, migrate: bool = True) -> Engine:
    """Create the engine (SQLite: WAL, foreign keys, busy timeout) and bring the schema up to date."""
    try:
        parsed = make_url(url)
    except Exception:
        # not the URL itself: it may hold a password
        raise ConfigError("the database URL is not a valid SQLAlchemy URL (scheme://...)",
                          field="database") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
    else:
        engine = create_engine(url)
        event.listen(engine, "connect", _note_checkin)
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", _ping_if_idle)
    if migrate:
        upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _begin_immediate
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection) -> None:
    """Take SQLite's write lock when a transaction begins, not at its first write: a claim that
    reads rows and then updates them can then not interleave with another process or thread
    doing the same (FOR UPDATE, which does this on PostgreSQL, means nothing to SQLite). Reads
    (read_scope) begin nothing: each statement is a transaction of its own, and no write waits."""
    if not connection.get_execution_options().get(_READS_ONLY):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _note_checkin(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
    """A pooled PostgreSQL connection idle for PING_AFTER_IDLE is pinged before use, and replaced
    when the server has dropped it (a restart, an idle timeout): the pool tries a new one. A
    connection handed back moments ago is not: pinging every checkout (pool_pre_ping) cost a
    round trip per transaction, as much as a feed's dedupe lookup itself."""
    if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        # the ping began a transaction (the connection is not in autocommit): ended, or a read
        # (read_scope) could not switch the connection to autocommit ("connection in transaction")
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError(f"the pooled connection no longer answers: {type(exc).__name__}") from exc


MIGRATION_LOCK = 7_401_336_204_518_112  # PostgreSQL advisory lock key: any fixed number, the same everywhere


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate in one transaction that holds a database-wide lock, so that processes starting
    together on a fresh database migrate one after the other (the later ones find it at head)
    instead of creating the same tables at once."""
    settings = AlembicConfig()
    settings.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # on SQLite this is BEGIN IMMEDIATE: the write lock (_begin_immediate)
        if connection.dialect.name == "postgresql":
            # the transaction-level variant is released by the commit or rollback that ends the migration
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        settings.attributes["connection"] = connection
        command.upgrade(settings, revision)
    refresh_statistics(engine)


def refresh_statistics(engine: Engine) -> int | None:
    """ANALYZE the tables the monitor bulk-loads (PostgreSQL). The planner chooses from table
    statistics; a server running without autovacuum (some managed and container set-ups) has none
    for a table the monitor filled, and then scans a million rows where an index reads ten.
    ANALYZE also makes the server plan anew the statements its connections have prepared, which
    keep the plan made when they were first run. Returns the item rows it counted (analyzed_items)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.begin() as connection:
        connection.execute(text("ANALYZE feed, item, match, incident, outbox"))
    return analyzed_items(engine)


_TABLES = ("feed", "feed_entries", "item", "match", "incident", "outbox", "ops_alert")  # all that change
# autovacuum also needs track_counts; VACUUM needs the table's owner (or a superuser), else it
# skips the table with a notice
_ATTENDED = text("SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on'")
_VACUUMABLE = text("""
SELECT table_.relname FROM pg_class AS table_
WHERE table_.oid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS TEXT[])) AS name)
  AND (pg_has_role(table_.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))
ORDER BY table_.relname""")


def vacuum_if_unattended(engine: Engine) -> list[str]:
    """VACUUM (and ANALYZE) the monitor's tables where the PostgreSQL server runs no autovacuum.
    There nothing clears the rows retention deletes, nor the old versions of a feed's row that
    every poll leaves, so their space is never used again and the tables grow however much is
    pruned. Returns the tables vacuumed: none where autovacuum runs, on SQLite, or where the
    database user owns none of them."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
        if connection.execute(_ATTENDED).scalar():
            return []
        tables = list(connection.execute(_VACUUMABLE, {"tables": list(_TABLES)}).scalars())
        if tables:
            connection.execute(text(f"VACUUM (ANALYZE, SKIP_LOCKED) {', '.join(tables)}"))
    return tables


def analyzed_items(engine: Engine) -> int | None:
    """The item rows PostgreSQL's statistics hold (0 if never analyzed); None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'item'::regclass")).scalar()
    return max(0, int(rows or 0))


@contextmanager
def read_scope(engine: Engine) -> Iterator[Connection]:
    """A connection for reads that need no transaction of their own: each statement sees what
    was committed when it began, as in a READ COMMITTED transaction, with no BEGIN and COMMIT
    (round trips on PostgreSQL, the write lock on SQLite). A Core connection, not a Session:
    half the cost per use, which a poll pays per feed."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        else:  # the connections are in autocommit already (_sqlite_pragmas): keep _begin_immediate out
            connection.execution_options(**{_READS_ONLY: True})
        yield connection


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed if the block ends normally, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
