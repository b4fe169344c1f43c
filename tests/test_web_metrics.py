"""/metrics, /healthz and /readyz (monitor/web/health.py) over httpx against the real routes, after
a real poll of local feeds and a real dispatch to local channels. The metrics registry lives as
long as the process, so each test compares values before and after."""

import asyncio
import shutil
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from starlette.applications import Starlette

from conftest import INCIDENT, ORDINARY
from monitor.alerts.deliver import dispatch
from monitor.daemon.watch import ConfigWatcher
from monitor.metrics import FeedCounter
from monitor.pipeline import poll
from monitor.store import open_database
from monitor.web.health import health_routes
from peers import JsonEndpoint, Route, free_port, rss

PROFILE = "iraq-syria-militia-attacks"
HOOK_PASSWORD = "hook-pw-7Qz9xK"
DB_PASSWORD = "db-pw-3Vt8mW"


def _get(runtime, path, last_tick=lambda: None) -> httpx.Response:
    """GET `path` from a Starlette app made of the health routes, through httpx's ASGI transport."""
    app = Starlette(routes=health_routes(lambda: runtime, last_tick))

    async def fetch():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
            return await client.get(path)
    return asyncio.run(fetch())


def _scrape(runtime) -> tuple[dict, str]:
    """/metrics parsed by prometheus-client's own parser: {(sample name, labels): value}, and the text."""
    response = _get(runtime, "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {(sample.name, frozenset(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(response.text) for sample in family.samples}
    return samples, response.text


def _moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def down_endpoint():
    endpoint = JsonEndpoint(status=500)
    yield endpoint
    endpoint.stop()


def test_a_poll_and_a_dispatch_move_the_counters(feed_server, json_endpoint, down_endpoint,
                                                 write_watchlist, make_runtime, clock):
    published = clock.now - timedelta(minutes=5)
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="i1", published=published),
                                              dict(ORDINARY, guid="o1", published=published)]))
    feed_server.routes["/broken.xml"] = Route(b"oops", status=500, content_type="text/plain")
    hook = json_endpoint.url.replace("json://", "json://monitor:${HOOK_PASSWORD}@")
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")},
                                  {"name": "broken", "url": feed_server.url("/broken.xml")}],
                           channels=[{"name": "hook", "url": hook},
                                     {"name": "down", "url": down_endpoint.url}],
                           routes=[{"profile": PROFILE, "channels": ["hook", "down"]}],
                           first_poll_alerts=True, dispatch={"max_attempts": 2, "retry_base": "30s"})
    runtime = make_runtime(path, environ={"HOOK_PASSWORD": HOOK_PASSWORD})
    before, _ = _scrape(runtime)

    outcomes = {outcome.feed_name: outcome for outcome in poll(runtime)}
    assert (outcomes["a"].new_items, outcomes["a"].matches, outcomes["broken"].status) == (2, 1, "error")
    polled, _ = _scrape(runtime)
    assert _moved(before, polled, "monitor_polls_total", feed="a", result="ok") == 1
    assert _moved(before, polled, "monitor_polls_total", feed="broken", result="error") == 1
    assert _moved(before, polled, "monitor_fetch_errors_total", feed="broken", kind="StatusError") == 1
    assert _moved(before, polled, "monitor_items_seen_total", feed="a") == 2
    assert _moved(before, polled, "monitor_items_new_total", feed="a") == 2
    assert _moved(before, polled, "monitor_matches_total", profile=PROFILE, **{"class": "incident"}) == 1
    assert _moved(before, polled, "monitor_poll_duration_seconds_count") == 1
    assert polled[("monitor_outbox_depth", frozenset({("status", "pending")}))] == 2

    dispatch(runtime.config, runtime.engine, runtime.clock)
    sent, text = _scrape(runtime)
    assert len(json_endpoint.posts) == 1
    assert _moved(polled, sent, "monitor_pages_total", channel="hook", kind="alert", result="sent") == 1
    assert _moved(polled, sent, "monitor_pages_total", channel="down", kind="alert", result="failed") == 1
    assert _moved(polled, sent, "monitor_publish_to_page_seconds_count") == 1
    assert _moved(polled, sent, "monitor_publish_to_page_seconds_sum") == 300  # published 5 min before
    assert sent[("monitor_outbox_depth", frozenset({("status", "sent")}))] == 1
    assert sent[("monitor_outbox_depth", frozenset({("status", "pending")}))] == 1
    assert HOOK_PASSWORD not in text and HOOK_PASSWORD[:6] not in text

    clock.advance(minutes=1)  # past the retry backoff: the last attempt fails too
    dispatch(runtime.config, runtime.engine, runtime.clock)
    dead, _ = _scrape(runtime)
    assert _moved(sent, dead, "monitor_pages_total", channel="down", kind="alert", result="dead") == 1
    assert _moved(sent, dead, "monitor_publish_to_page_seconds_count") == 0
    assert dead[("monitor_outbox_depth", frozenset({("status", "dead")}))] == 1


def test_a_feed_counter_refuses_labels_that_do_not_fit():
    """Else a sample with a missing or shifted label would be exported under the wrong series."""
    counter = FeedCounter("t_polls", "Polls", ["feed", "result"], registry=CollectorRegistry())
    counter.inc("desk", "ok")
    for labels in [("desk",), ("desk", "ok", "again"), ("desk", 1)]:
        with pytest.raises(ValueError, match=r"t_polls counts by feed, result: got \("):
            counter.inc(*labels)
    assert counter.counts == {("desk", "ok"): 1}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_config_reloads_and_rejections_are_counted(write_watchlist, make_runtime, clock):
    path = write_watchlist(feeds=[{"name": "a", "url": "http://127.0.0.1:9/a.xml"}])
    runtime = make_runtime(path)
    watcher = ConfigWatcher(runtime.config)
    before, _ = _scrape(runtime)

    def settle(edit):
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        watcher.poll(runtime)
        clock.advance(seconds=2)
        return watcher.poll(runtime)

    assert settle(lambda data: data.update(tick="45s")) is not None
    assert settle(lambda data: data.update(tick="soon")) is None
    after, _ = _scrape(runtime)
    assert _moved(before, after, "monitor_config_reloads_total", result="applied") == 1
    assert _moved(before, after, "monitor_config_reloads_total", result="rejected") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_healthz_answers_503_without_the_database(write_watchlist, make_runtime, tmp_path):
    runtime = make_runtime(write_watchlist())
    ok = _get(runtime, "/healthz")
    assert (ok.status_code, ok.json()) == (200, {"status": "ok", "database": "ok"})

    closed = create_engine(f"postgresql+psycopg://monitor:{DB_PASSWORD}@127.0.0.1:{free_port()}/monitor")
    down = _get(replace(runtime, engine=closed), "/healthz")
    scraped = _get(replace(runtime, engine=closed), "/metrics")  # served still, without the outbox depth
    closed.dispose()
    assert scraped.status_code == 200 and "monitor_polls_total" in scraped.text
    assert "monitor_outbox_depth" not in scraped.text and DB_PASSWORD[:6] not in scraped.text
    assert down.status_code == 503 and down.json()["status"] == "unavailable"
    assert down.json()["database"].startswith("database unreachable: OperationalError")
    assert DB_PASSWORD not in down.text and DB_PASSWORD[:6] not in down.text

    gone = open_database(f"sqlite:///{tmp_path / 'volume' / 'monitor.db'}")
    shutil.rmtree(tmp_path / "volume")  # the volume went away under a running daemon
    gone.dispose()
    vanished = _get(replace(runtime, engine=gone), "/healthz")
    assert vanished.status_code == 503 and "unable to open database file" in vanished.json()["database"]
    gone.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readyz_follows_the_last_tick(write_watchlist, make_runtime, clock):
    runtime = make_runtime(write_watchlist(tick="30s"))

    recent = _get(runtime, "/readyz", lambda: clock.now - timedelta(seconds=20))
    assert recent.status_code == 200 and recent.json()["ready"] is True
    stale = _get(runtime, "/readyz", lambda: clock.now - timedelta(seconds=100))  # limit: 90 s
    assert stale.status_code == 503
    assert stale.json() | {"last_tick": None} == {"ready": False, "last_tick": None, "age_seconds": 100.0,
                                                   "ready_within_seconds": 90.0}
    slow_ticks = replace(runtime, config=runtime.config.model_copy(update={"tick": timedelta(minutes=1)}))
    slow_but_ticking = _get(slow_ticks, "/readyz", lambda: clock.now - timedelta(seconds=100))
    assert slow_but_ticking.status_code == 200  # within 3 x tick

    serving = _get(runtime, "/readyz")  # no daemon in the process: `monitor serve`
    assert serving.status_code == 200 and "monitor serve" in serving.json()["detail"]
    closed = create_engine(f"postgresql+psycopg://monitor:{DB_PASSWORD}@127.0.0.1:{free_port()}/monitor")
    assert _get(replace(runtime, engine=closed), "/readyz").status_code == 503
    closed.dispose()
