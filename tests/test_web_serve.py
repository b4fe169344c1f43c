"""Serving: `monitor run` serves the dashboard beside the daemon and stops it within the daemon's
bound; `monitor serve` serves it alone, as a real process."""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
from conftest import INCIDENT
from peers import Route, free_port, rss, wait_for

from monitor.daemon.scheduler import STOP_WITHIN, Daemon
from monitor.pipeline import Runtime
from monitor.settings.config import WebConfig, load_config
from monitor.store import open_database
from monitor.web.server import listen


def _no_profiles(tmp_path) -> str:
    """An empty profiles folder: these tests look at serving, not scoring (loading one takes a second)."""
    (tmp_path / "profiles").mkdir(exist_ok=True)
    return str(tmp_path / "profiles")


def _feeds(feed_server):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="a0", link="https://news.example/a")]))
    return [{"name": "a", "url": feed_server.url("/a.xml")}]


def real_clock_runtime(path) -> Runtime:
    """The daemon schedules its jobs by the runtime's clock: a real one here."""
    config = load_config(path)
    return Runtime(config, open_database(config.database))


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_the_daemon_serves_the_dashboard_and_stops_it_within_its_bound(feed_server, write_watchlist,
                                                                       tmp_path):
    port = free_port()
    runtime = real_clock_runtime(write_watchlist(feeds=_feeds(feed_server), tick="1s",
                                                 web={"listen": f"127.0.0.1:{port}"},
                                                 profiles_dir=_no_profiles(tmp_path)))
    daemon = Daemon(runtime)
    returned = []
    thread = threading.Thread(target=lambda: returned.append(daemon.run()))
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: (r := _get(f"{base}/readyz")) is not None and r.json().get("last_tick"), 20)
        assert daemon.last_tick_at is not None
        feeds = httpx.get(f"{base}/api/v1/feeds").json()["feeds"]
        assert [(f["name"], f["items_seen"]) for f in feeds] == [("a", 1)]
        assert "a" in httpx.get(f"{base}/feeds").text
    finally:
        started = time.monotonic()
        daemon.shutdown()
        thread.join(STOP_WITHIN + 2)
    assert returned == [True] and time.monotonic() - started < STOP_WITHIN
    assert _get(f"{base}/healthz") is None  # the port is closed


def test_a_port_in_use_is_logged_and_the_daemon_keeps_polling(feed_server, write_watchlist, caplog, tmp_path):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    runtime = real_clock_runtime(write_watchlist(feeds=_feeds(feed_server),
                                                 web={"listen": f"127.0.0.1:{port}"},
                                                 profiles_dir=_no_profiles(tmp_path)))
    daemon = Daemon(runtime)
    caplog.set_level(logging.INFO, logger="monitor")
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        assert wait_for(lambda: daemon.last_tick_at is not None, 20)
    finally:
        daemon.shutdown()
        thread.join(STOP_WITHIN + 2)
        taken.close()
    assert re.search(rf"web: cannot listen on 127.0.0.1:{port}: Address already in use.*; the daemon runs "
                     r"without the dashboard", caplog.text)


def test_monitor_serve_serves_alone_and_stops_on_sigterm(feed_server, write_watchlist, tmp_path):
    port = free_port()
    path = write_watchlist(feeds=_feeds(feed_server), web={"listen": f"127.0.0.1:{port}"},
                           profiles_dir=_no_profiles(tmp_path))
    environment = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL")}
    process = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path)],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") is not None, 20)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready["last_tick"] is None and ready["database"] == "ok"  # no daemon in this process
        assert httpx.get(f"http://127.0.0.1:{port}/incidents").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/feeds").json() == {
            "feeds": [dict(name="a", url=feed_server.url("/a.xml"), status="never polled", failing=False,
                           last_success_at=None, last_error=None, last_error_at=None, error_count=0,
                           backoff_seconds=None, next_due_at=None, items_seen=0, silent_for_seconds=None)],
            "next_cursor": None}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=STOP_WITHIN)
    assert process.returncode == 0, stderr
    assert f"serving the dashboard and API on http://127.0.0.1:{port}/ (no token: loopback only)" in stderr


def test_the_listening_socket_says_tcp_so_answers_are_not_held_back():
    """asyncio sets TCP_NODELAY only on accepted sockets whose protocol is IPPROTO_TCP; left 0,
    each small answer on a kept-alive connection waited 40 ms for the client's delayed ACK."""
    sock = listen(WebConfig(listen=f"127.0.0.1:{free_port()}"))
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
