"""Stopping and slow feeds (hardening): a stop always ends within STOP_WITHIN, whatever runs; an
abandoned fetch gives its claim back at once; a claim whose worker died is taken over at once;
a slow feed holds up only its own tick."""

import logging
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest
from conftest import INCIDENT
from peers import Route, rss, wait_for
from sqlmodel import Session, select

from monitor.daemon.scheduler import STOP_WITHIN, Daemon
from monitor.pipeline import Runtime, poll
from monitor.settings.config import load_config
from monitor.store import Feed, open_database
from monitor.store.feeds import claim_feeds, sync_feeds


def _feed_row(engine, name):
    with Session(engine) as session:
        return session.exec(select(Feed).where(Feed.name == name)).one()


def _fetches(server, path):
    return sum(1 for requested, _ in server.requests if requested == path)


def _start(daemon: Daemon) -> threading.Thread:
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    return thread


def _stop_within_bound(daemon: Daemon, thread: threading.Thread) -> float:
    started = time.monotonic()
    daemon.shutdown()
    thread.join(STOP_WITHIN + 5)
    assert not thread.is_alive(), "the daemon did not stop"
    return time.monotonic() - started


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the daemon, not the store
def test_a_stop_abandons_a_slow_fetch_and_gives_its_claim_back(feed_server, write_watchlist, tmp_path):
    feed_server.routes["/slow.xml"] = Route(rss([dict(INCIDENT, guid="1")]), delay=30)
    path = write_watchlist(feeds=[{"name": "slow", "url": feed_server.url("/slow.xml"), "interval": "1h"}],
                           tick="1s", fetch={"total_timeout": 60, "read_timeout": 60})
    config = load_config(path, environ={})
    engine = open_database(config.database)
    daemon = Daemon(Runtime(config, engine))
    thread = _start(daemon)
    assert wait_for(lambda: _fetches(feed_server, "/slow.xml") == 1)
    due_before = _feed_row(engine, "slow").due_before_claim

    assert _stop_within_bound(daemon, thread) < 5  # not the 30 s the feed would take
    row = _feed_row(engine, "slow")
    assert row.claimed_by is None and row.next_due_at == due_before  # due again, not in 10 min
    engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the daemon, not the store
def test_a_stop_during_config_reloads_never_hangs(feed_server, write_watchlist):
    """SIGTERM while a reload is changing the jobs used to deadlock (the scheduler waited for the
    reload inside its lock, the reload waited for the lock). Reload continuously and stop at
    different moments of it."""
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1h"}],
                           tick="1s")
    config = load_config(path, environ={})
    engine = open_database(config.database)
    for attempt in range(2):
        daemon = Daemon(Runtime(config, engine), watch_every=timedelta(seconds=0.05))
        thread = _start(daemon)
        text = path.read_text()
        for version in range(2):  # edits the watcher takes up (once stable for 1 s) while we stop
            path.write_text(text.replace('interval: 1h', f'interval: {2 + version}h'))
            time.sleep(1.1 + 0.2 * attempt)
        assert _stop_within_bound(daemon, thread) < STOP_WITHIN
        path.write_text(text)
    engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the daemon, not the store
def test_a_slow_feed_holds_up_only_its_own_tick(feed_server, write_watchlist):
    feed_server.routes["/slow.xml"] = Route(rss([dict(INCIDENT, guid="1")]), delay=20)
    feed_server.routes["/fast.xml"] = Route(rss([dict(INCIDENT, guid="2")]), etag='"v1"')
    path = write_watchlist(feeds=[{"name": "slow", "url": feed_server.url("/slow.xml"), "interval": "1h"},
                                  {"name": "fast", "url": feed_server.url("/fast.xml"), "interval": "1s"}],
                           tick="1s", fetch={"total_timeout": 60, "read_timeout": 60})
    config = load_config(path, environ={})
    engine = open_database(config.database)
    daemon = Daemon(Runtime(config, engine))
    thread = _start(daemon)
    try:
        assert wait_for(lambda: _fetches(feed_server, "/slow.xml") == 1)
        start = _fetches(feed_server, "/fast.xml")
        time.sleep(8)
        # a tick per second; one that waited for the slow feed would not poll it again for 20 s
        assert _fetches(feed_server, "/fast.xml") - start >= 2
    finally:
        _stop_within_bound(daemon, thread)
        engine.dispose()


_DIE_WHILE_POLLING = textwrap.dedent("""
    import os, sys
    from monitor.settings.config import load_config
    from monitor.store import open_database
    from monitor.store.feeds import claim_feeds, sync_feeds
    from monitor.store import utcnow
    from pathlib import Path
    config = load_config(Path(sys.argv[1]), environ={})
    engine = open_database(config.database)
    sync_feeds(engine, [(f.name, f.url) for f in config.feeds], utcnow())
    from monitor.store.workers import worker_id
    claimed = claim_feeds(engine, [f.name for f in config.feeds], utcnow(), worker=worker_id())
    print(len(claimed), flush=True)
    os._exit(9)  # killed mid-poll: no release, no error recorded
""")


def test_a_claim_whose_worker_died_is_taken_over_at_once(feed_server, write_watchlist, make_runtime):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1h"}])
    died = subprocess.run([sys.executable, "-c", _DIE_WHILE_POLLING, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert died.stdout.strip() == "1", died.stderr
    runtime = make_runtime(path)
    runtime.clock = lambda: _feed_row(runtime.engine, "a").due_before_claim + timedelta(seconds=1)
    assert _feed_row(runtime.engine, "a").claimed_by  # the dead worker's claim, lease 10 min ahead

    [outcome] = poll(runtime, due_only=True)  # not 10 minutes later: at once
    assert outcome.status == "ok" and _feed_row(runtime.engine, "a").claimed_by is None


def test_a_live_workers_claim_is_respected(feed_server, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    runtime = make_runtime(write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")}]))
    sync_feeds(runtime.engine, [("a", feed_server.url("/a.xml"))], clock())
    [_] = claim_feeds(runtime.engine, ["a"], clock(), worker="elsewhere.example:1:abcd:ef01")
    assert poll(runtime, due_only=True) == []  # another host's claim holds until its lease ends


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failed_store_releases_the_claim(feed_server, write_watchlist, make_runtime, clock):
    """A feed whose poll fails part-way (here the database refuses the error record too) is given
    back at once instead of staying claimed for the lease."""
    feed_server.routes["/a.xml"] = Route(b"not a feed at all", content_type="text/html")
    runtime = make_runtime(write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")}]))
    sync_feeds(runtime.engine, [("a", feed_server.url("/a.xml"))], clock())
    due = _feed_row(runtime.engine, "a").next_due_at
    with runtime.engine.begin() as connection:  # the error record cannot be written
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE UPDATE OF error_count ON feed "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    with pytest.raises(Exception, match="disk I/O error"):
        poll(runtime, due_only=True)
    row = _feed_row(runtime.engine, "a")
    assert row.claimed_by is None and row.next_due_at == due


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_outage_logs_one_traceback_then_a_summary_and_the_recovery(
        feed_server, write_watchlist, caplog):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}],
                           tick="0.3s")
    config = load_config(path, environ={})
    engine = open_database(config.database)
    sync_feeds(engine, [("a", feed_server.url("/a.xml"))], _now())
    with engine.begin() as connection:  # every claim fails, as when the disk is gone
        connection.exec_driver_sql("CREATE TRIGGER outage BEFORE UPDATE ON feed "
                                   "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    daemon = Daemon(Runtime(config, engine), summary_every=1.0)
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        thread = _start(daemon)
        time.sleep(3.2)  # about ten failing ticks
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER outage")
        assert wait_for(lambda: any("works again" in r.getMessage() for r in caplog.records))
        _stop_within_bound(daemon, thread)
    ticks = [r for r in caplog.records if r.getMessage().startswith("poll tick")]
    assert len([r for r in ticks if r.exc_info]) == 1  # one traceback, not one per tick
    summaries = [r.getMessage() for r in ticks if "still failing" in r.getMessage()]
    assert 1 <= len(summaries) <= 4 and "disk I/O error" in summaries[0]
    assert any("works again after" in r.getMessage() for r in ticks)
    engine.dispose()


def _now():
    from monitor.store import utcnow
    return utcnow()
