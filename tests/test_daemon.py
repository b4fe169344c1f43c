"""`monitor run` as a real process: polls on its tick, dispatches, survives dead feeds, stops
cleanly on SIGTERM, and resumes from the database after a restart."""

import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import INCIDENT
from peers import Route, free_port, rss, wait_for, start_monitor_run


def _stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_daemon_polls_alerts_stops_cleanly_and_resumes(feed_server, json_endpoint, write_watchlist,
                                                       tmp_path):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1", link="https://n.example/1")]))
    path = write_watchlist(
        feeds=[{"name": "wire", "url": feed_server.url("/a.xml"), "interval": "1h"},
               {"name": "offline", "url": f"http://127.0.0.1:{free_port()}/rss", "interval": "1s"}],
        channels=[{"name": "hook", "url": json_endpoint.url}],
        routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}],
        first_poll_alerts=True, tick="1s", dispatch={"interval": "1s"},
        fetch={"max_backoff": "2s"})
    database = tmp_path / "monitor.db"

    def offline_errors():
        with sqlite3.connect(database) as connection:
            row = connection.execute("select error_count from feed where name='offline'").fetchone()
        return row[0] if row else 0

    daemon = start_monitor_run(path, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(json_endpoint.posts) == 1)
        assert wait_for(lambda: database.exists() and offline_errors() >= 2)  # keeps retrying
        assert daemon.poll() is None  # a dead feed does not stop the daemon
    finally:
        stderr = _stop(daemon)
    assert "starting: 2 feeds, profiles iraq-syria-militia-attacks, 1 channels, 1 routes" in stderr
    assert "poll feed=wire status=ok new_items=1 matches=1 alerts=1" in stderr
    assert "poll feed=offline status=error" in stderr
    assert "received SIGTERM" in stderr and "stopped cleanly" in stderr

    restarted = start_monitor_run(path, stdout=subprocess.PIPE)
    try:
        assert wait_for(lambda: offline_errors() >= 4)  # ticking again, from the stored state
        time.sleep(1.5)
    finally:
        stderr = _stop(restarted)
    assert "poll feed=wire" not in stderr  # not due: its next poll time survived the restart
    assert len(json_endpoint.posts) == 1
