"""Several processes opening one fresh database at the same moment all start, and the schema ends
at head: the migrations run one process after the other (an advisory lock on PostgreSQL, BEGIN
IMMEDIATE on SQLite), not side by side creating the same tables."""

import os
import subprocess
import sys

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor.store.database import MIGRATIONS

PROCESSES = 4
ROUNDS = 3  # fresh PostgreSQL databases (without the lock, every round of every run tried failed)

# One interpreter imports the package once, then forks the processes; they block on a pipe until
# the parent closes it, so they all open the database at the same moment. The exit code is the
# number of processes that failed; their tracebacks go to stderr.
_OPEN_TOGETHER = """
import os, sys, traceback
from monitor.store import open_database

def open_together(url, processes):
    read, write = os.pipe()
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            os.close(write)
            os.read(read, 1)
            try:
                open_database(url).dispose()
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        children.append(pid)
    os.close(read)
    os.close(write)
    return sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in children)

processes, urls = int(sys.argv[1]), sys.argv[2:]
sys.exit(sum(open_together(url, processes) for url in urls))
"""


def _open_together(urls: list[str], processes: int = PROCESSES) -> None:
    """Open each database from `processes` processes at once (one database after the other)."""
    done = subprocess.run([sys.executable, "-c", _OPEN_TOGETHER, str(processes), *urls],
                          check=False, capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.splitlines() if "Error" in line] or done.stderr[-2000:]
    assert done.returncode == 0, f"{done.returncode} processes failed: {errors}"


def _assert_at_head(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    assert current == ScriptDirectory(str(MIGRATIONS)).get_current_head()


@pytest.fixture
def fresh_postgresql():
    """URLs of ROUNDS PostgreSQL databases of this test's own (the test database's name + `_2`,
    `_3`, ...), dropped and created empty; dropped again afterwards."""
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base:
        pytest.skip("MONITOR_TEST_DATABASE_URL is not set")
    base_url = make_url(base)
    names = [f"{base_url.database}_{n}" for n in range(2, ROUNDS + 2)]
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")

    def drop(connection, name):
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    with admin.connect() as connection:
        for name in names:
            drop(connection, name)
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield [base_url.set(database=name).render_as_string(hide_password=False) for name in names]
    with admin.connect() as connection:
        for name in names:
            drop(connection, name)
    admin.dispose()


def test_processes_starting_together_on_fresh_postgresql_databases(fresh_postgresql):
    _open_together(fresh_postgresql)
    for url in fresh_postgresql:
        _assert_at_head(url)


def test_processes_starting_together_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    _open_together([url])
    _assert_at_head(url)
