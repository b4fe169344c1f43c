"""Operations alerts: a failing feed and a silent feed each page the admin channel once, and once
more when they recover; a restart does not repeat them; no admin channel means the log."""

import logging
from datetime import datetime, timedelta, timezone

import pytest

from conftest import INCIDENT
from monitor.settings.config import OpsConfig
from monitor.daemon.health import (FeedHealth, Watch, check_feeds, failing_transition, silent_transition, usual_gap)
from monitor.alerts.deliver import dispatch
from monitor.pipeline import poll
from peers import Route, rss

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
OPS = OpsConfig(feed_failing_after="2h", silent_factor=10, silent_minimum="1h")
HOUR = timedelta(hours=1)


# ---- the pure decisions -----------------------------------------------------------------------

@pytest.mark.parametrize("health, watch, action", [
    (FeedHealth("f", "ok"), None, None),
    (FeedHealth("f", "error", last_error_at=NOW - HOUR), None, "watch"),
    (FeedHealth("f", "error", last_error_at=NOW - 3 * HOUR), None, "raise"),  # first seen late
    (FeedHealth("f", "error"), Watch(NOW - HOUR), None),
    (FeedHealth("f", "error"), Watch(NOW - 2 * HOUR), "raise"),
    (FeedHealth("f", "error"), Watch(NOW - 5 * HOUR, reported_at=NOW - HOUR), None),
    (FeedHealth("f", "ok", last_success_at=NOW), Watch(NOW - HOUR), "forget"),
    (FeedHealth("f", "not-modified", last_success_at=NOW), Watch(NOW - 5 * HOUR, NOW - HOUR), "clear"),
])
def test_failing_transitions(health, watch, action):
    transition = failing_transition(health, watch, NOW, OPS)
    assert (transition.action if transition else None) == action


@pytest.mark.parametrize("health, watch, action", [
    (FeedHealth("f", "ok", last_new_item_at=NOW - 9 * HOUR, usual_gap=HOUR), None, None),
    (FeedHealth("f", "ok", last_new_item_at=NOW - 10 * HOUR, usual_gap=HOUR), None, "raise"),
    (FeedHealth("f", "ok", last_new_item_at=NOW - 90 * HOUR, usual_gap=None), None, None),  # no cadence yet
    (FeedHealth("f", "error", last_new_item_at=NOW - 90 * HOUR, usual_gap=HOUR), None, None),  # failing instead
    (FeedHealth("f", "ok", last_new_item_at=NOW - 2 * HOUR, usual_gap=timedelta(minutes=1)), None, "raise"),
    (FeedHealth("f", "ok", last_new_item_at=NOW - 50 * HOUR, usual_gap=HOUR), Watch(NOW - 50 * HOUR, NOW), None),
    (FeedHealth("f", "error", last_new_item_at=NOW, usual_gap=HOUR), Watch(NOW - 50 * HOUR, NOW), "clear"),
])
def test_silent_transitions(health, watch, action):
    transition = silent_transition(health, watch, NOW, OPS)
    assert (transition.action if transition else None) == action


def test_usual_gap_is_the_median_of_distinct_times():
    times = [NOW, NOW, NOW + HOUR, NOW + 2 * HOUR, NOW + 3 * HOUR, NOW + 30 * HOUR]
    assert usual_gap(times) == HOUR
    assert usual_gap(times[:3]) is None  # too few gaps to know the cadence


# ---- with a real feed server and a real json:// admin channel --------------------------------

def _watchlist(write_watchlist, feed_server, json_endpoint, **settings):
    return write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/wire.xml"), "interval": "10m"}],
                           channels=[{"name": "admin", "url": json_endpoint.url}],
                           admin_channel="admin", **settings)


def _titles(json_endpoint):
    return [post["title"] for post in json_endpoint.posts]


def check(runtime) -> list[str]:
    """The daemon's ops job, then its dispatcher; returns the actions taken."""
    actions = [transition.action for transition in check_feeds(runtime)]
    dispatch(runtime.config, runtime.engine, runtime.clock)
    return actions


def test_failing_feed_alerts_once_and_once_on_recovery(feed_server, json_endpoint, write_watchlist,
                                                       make_runtime, clock):
    feed_server.routes["/wire.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    path = _watchlist(write_watchlist, feed_server, json_endpoint, ops={"feed_failing_after": "2h"})
    runtime = make_runtime(path)

    def poll_and_check(**advance):
        clock.advance(**advance)
        poll(runtime)
        return [action for action in check(runtime) if action != "watch"]

    assert poll_and_check(minutes=0) == []
    feed_server.routes["/wire.xml"] = Route(b"down", status=503)
    for _ in range(4):  # failing for 1h30: not yet
        poll_and_check(minutes=30)
    assert json_endpoint.posts == []
    assert poll_and_check(minutes=30) == ["raise"]
    assert _titles(json_endpoint) == ["[OPS] feed wire failing for 2h"]
    assert "503" in json_endpoint.posts[0]["message"]
    poll_and_check(minutes=30)
    assert check(make_runtime(path)) == []  # a restart does not repeat it
    assert len(json_endpoint.posts) == 1

    feed_server.routes["/wire.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    assert poll_and_check(minutes=30) == ["clear"]
    poll_and_check(minutes=30)
    assert _titles(json_endpoint) == ["[OPS] feed wire failing for 2h", "[OPS] feed wire recovered"]


def test_silent_feed_alerts_once_and_once_when_it_speaks_again(feed_server, json_endpoint,
                                                               write_watchlist, make_runtime, clock):
    hourly = [dict(INCIDENT, guid=str(n), published=clock.now - n * HOUR) for n in range(6)]
    feed_server.routes["/wire.xml"] = Route(rss(hourly))
    path = _watchlist(write_watchlist, feed_server, json_endpoint,
                      ops={"silent_factor": 10, "silent_minimum": "2h"})
    runtime = make_runtime(path)
    poll(runtime)
    for _ in range(9):  # nine hours of the same items: quiet, but within 10 x its hourly cadence
        clock.advance(hours=1)
        poll(runtime)
        assert check(runtime) == []
    clock.advance(hours=1, minutes=1)
    poll(runtime)
    assert check(runtime) == ["raise"]
    clock.advance(hours=5)
    poll(runtime)
    assert check(runtime) == []
    assert _titles(json_endpoint) == ["[OPS] feed wire silent for 10h 1m"]
    assert "every 1h" in json_endpoint.posts[0]["message"]

    feed_server.routes["/wire.xml"] = Route(rss([dict(INCIDENT, guid="new", published=clock.now)] + hourly))
    clock.advance(minutes=10)
    poll(runtime)
    assert check(runtime) == ["clear"]
    assert check(runtime) == []
    assert _titles(json_endpoint)[1] == "[OPS] feed wire speaks again"
    assert len(json_endpoint.posts) == 2


def test_admin_channel_down_the_alert_waits_in_the_outbox(feed_server, json_endpoint, write_watchlist,
                                                          make_runtime, clock):
    feed_server.routes["/wire.xml"] = Route(b"down", status=500)
    path = _watchlist(write_watchlist, feed_server, json_endpoint, ops={"feed_failing_after": "1h"})
    runtime = make_runtime(path)
    poll(runtime)
    check(runtime)
    clock.advance(hours=2)
    json_endpoint.status = 500
    assert check(runtime) == ["raise"]  # queued, not delivered
    assert json_endpoint.posts == []
    json_endpoint.status = 200
    for _ in range(3):
        clock.advance(minutes=5)  # past the dispatcher's retry backoff
        assert check(runtime) == []
    assert _titles(json_endpoint) == ["[OPS] feed wire failing for 2h"]


def test_without_admin_channel_ops_alerts_go_to_the_log(feed_server, write_watchlist, make_runtime,
                                                        clock, caplog):
    feed_server.routes["/wire.xml"] = Route(b"down", status=500)
    path = write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/wire.xml")}])
    runtime = make_runtime(path)
    poll(runtime)
    check(runtime)
    clock.advance(hours=3)
    with caplog.at_level(logging.WARNING, logger="monitor"):
        check(runtime)
        check(runtime)
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert len(alerts) == 1 and "[OPS] feed wire failing for 3h" in alerts[0]


def test_a_feed_removed_from_the_watchlist_is_forgotten(feed_server, json_endpoint, write_watchlist,
                                                        make_runtime, clock):
    feed_server.routes["/wire.xml"] = Route(b"down", status=500)
    path = _watchlist(write_watchlist, feed_server, json_endpoint, ops={"feed_failing_after": "1h"})
    runtime = make_runtime(path)
    poll(runtime)
    check(runtime)
    clock.advance(hours=2)
    check(runtime)
    path = write_watchlist(channels=[{"name": "admin", "url": json_endpoint.url}], admin_channel="admin")
    assert check(make_runtime(path)) == []
    assert _titles(json_endpoint) == ["[OPS] feed wire failing for 2h"]  # no "recovered" for a removed feed
