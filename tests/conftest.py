import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from peers import FeedServer, JsonEndpoint, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "config" / "profiles"
SHARED = ROOT.parent / "shared"

INCIDENT = {"title": "Rocket attack hits US base in eastern Syria, no casualties",
            "text": "Several rockets struck a base housing US troops near Deir ez-Zor on Wednesday, "
                    "a coalition spokesman said."}
INCIDENT_2 = {"title": "Drone attack on Ain al-Asad air base in Iraq wounds two US troops",
              "text": "An explosive-laden drone hit the base in Anbar province overnight."}
ORDINARY = {"title": "Houston Rockets win in overtime", "text": "The team beat Denver 120-118."}


def pytest_configure(config):
    """Under pytest-xdist (the README's command runs one worker per core) each worker gets a
    PostgreSQL database of its own beside MONITOR_TEST_DATABASE_URL's (`test` -> `test_gw0`),
    created empty, since the tests wipe the database they use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not worker or not base:
        return
    base_url = make_url(base)
    name = f"{base_url.database}_{worker}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    os.environ["MONITOR_TEST_DATABASE_URL"] = base_url.set(database=name).render_as_string(hide_password=False)


class Clock:
    """A settable clock for Runtime(clock=...)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


def _database_params():
    params = ["sqlite"]
    if os.environ.get("MONITOR_TEST_DATABASE_URL"):
        params.append("postgresql")
    return params


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, or the PostgreSQL test database wiped clean."""
    return fresh_database(request.param, tmp_path)


def fresh_database(kind: str, folder: Path) -> str:
    """A SQLite file in `folder`, or the PostgreSQL test database wiped clean."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'monitor.db'}"
    url = os.environ["MONITOR_TEST_DATABASE_URL"]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def feed_server():
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def json_endpoint():
    endpoint = JsonEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def write_watchlist(tmp_path, database_url, monkeypatch):
    """Write a watchlist YAML in tmp_path; returns its path. MONITOR_DATABASE_URL is cleared."""
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)

    def write(feeds=(), channels=(), routes=(), **settings) -> Path:
        watchlist = {"database": database_url, "profiles_dir": str(PROFILES),
                     "max_item_age": "36500d",  # test news is dated 2024, the fake clock 2026
                     "feeds": list(feeds), "channels": list(channels), "routes": list(routes)}
        watchlist.update(settings)
        path = tmp_path / "monitor.yaml"
        path.write_text(yaml.safe_dump(watchlist, sort_keys=False))
        return path

    return write


@pytest.fixture
def make_runtime(clock):
    """Build a Runtime from a watchlist path (fake clock); engines are disposed afterwards."""
    from monitor.settings.config import load_config
    from monitor.pipeline import Runtime
    from monitor.store import open_database

    engines = []

    def make(path: Path, environ: dict | None = None):
        config = load_config(path, environ=environ)
        engine = open_database(config.database)
        engines.append(engine)
        return Runtime(config, engine, clock=clock)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def daemon():
    """Start a Daemon for a watchlist in a thread (real clock); stopped and joined afterwards.
    Keyword arguments go to Daemon (e.g. watch_every)."""
    from monitor.daemon.scheduler import Daemon
    from monitor.pipeline import Runtime
    from monitor.settings.config import load_config
    from monitor.store import open_database

    started = []

    def start(path, **settings):
        config = load_config(path)
        engine = open_database(config.database)
        running = Daemon(Runtime(config, engine), **settings)
        thread = threading.Thread(target=running.run, daemon=True)
        thread.start()
        started.append((running, thread, engine))
        return running

    yield start
    for running, thread, engine in started:
        running.shutdown()
        thread.join(timeout=20)
        assert not thread.is_alive()
        engine.dispose()
