"""A running daemon takes up watchlist edits without a restart; a bad edit is rejected with the
`monitor check` message, the last good config keeps polling, and the admin is told once."""

import logging
from datetime import timedelta

import pytest
import yaml

from conftest import INCIDENT, INCIDENT_2
from monitor.settings.config import load_config
from monitor.errors import ConfigError
from peers import Route, rss, wait_for

WATCH_EVERY = timedelta(seconds=0.2)


def _requests(feed_server, path):
    return sum(1 for requested, _ in feed_server.requests if requested == path)


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_valid_edit_takes_effect_without_restart(feed_server, json_endpoint, write_watchlist, daemon):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="a1", link="https://n.example/a1")]))
    feed_server.routes["/b.xml"] = Route(rss([dict(INCIDENT_2, guid="b1", link="https://n.example/b1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           first_poll_alerts=True, tick="1s", dispatch={"interval": "1s"})
    running = daemon(path, watch_every=WATCH_EVERY)
    assert wait_for(lambda: _requests(feed_server, "/a.xml") >= 1)

    def add_feed_and_route(data):
        data["feeds"].append({"name": "b", "url": feed_server.url("/b.xml"), "interval": "1s"})
        data["routes"] = [{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]},
                          {"profile": "iraq-syria-militia-attacks", "min_class": "related",
                           "channels": ["hook"], "digest": "30 8 * * mon-fri", "timezone": "Europe/Berlin"}]
    _edit(path, add_feed_and_route)

    assert wait_for(lambda: _requests(feed_server, "/b.xml") >= 1)
    assert wait_for(lambda: len(json_endpoint.posts) == 1)  # b's incident, through the new route
    assert json_endpoint.posts[0]["title"].endswith(INCIDENT_2["title"])
    assert [f.name for f in running.runtime.config.feeds] == ["a", "b"]
    digest = running.scheduler.get_job("digest:1")  # the new digest route runs on its schedule
    assert digest and "hour='8', minute='30'" in str(digest.trigger) and str(digest.trigger.timezone) == "Europe/Berlin"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_invalid_edit_is_rejected_and_the_admin_told_once(feed_server, json_endpoint, write_watchlist,
                                                          daemon, caplog):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="a1")]))
    feed_server.routes["/b.xml"] = Route(rss([dict(INCIDENT_2, guid="b1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}],
                           channels=[{"name": "admin", "url": json_endpoint.url}],
                           admin_channel="admin", tick="1s", dispatch={"interval": "1s"})
    caplog.set_level(logging.INFO, logger="monitor")
    running = daemon(path, watch_every=WATCH_EVERY)
    good = running.runtime.config
    assert wait_for(lambda: _requests(feed_server, "/a.xml") >= 1)

    _edit(path, lambda data: data["feeds"].append({"name": "b", "url": "ftp://nowhere", "interval": "1s"}))
    with pytest.raises(ConfigError) as check_error:  # what `monitor check` says about this file
        load_config(path)
    expected = str(check_error.value)
    assert expected.startswith(f"{path}:") and "feeds[1].url" in expected

    assert wait_for(lambda: len(json_endpoint.posts) == 1)
    polled = _requests(feed_server, "/a.xml")
    assert wait_for(lambda: _requests(feed_server, "/a.xml") >= polled + 2)  # still polling
    assert running.runtime.config is good
    assert json_endpoint.posts[0]["title"] == "[OPS] config edit rejected"
    assert expected in json_endpoint.posts[0]["message"]
    rejected = [r.getMessage() for r in caplog.records if r.name == "monitor.ops" and "rejected" in r.getMessage()]
    assert len(rejected) == 1 and expected in rejected[0]

    _edit(path, lambda data: data["feeds"][1].update(url=feed_server.url("/b.xml"), interval="soon"))
    assert wait_for(lambda: len(json_endpoint.posts) == 2)
    assert "feeds[1].interval" in json_endpoint.posts[1]["message"]

    _edit(path, lambda data: data["feeds"][1].update(url=feed_server.url("/b.xml"), interval="1s"))
    assert wait_for(lambda: [f.name for f in running.runtime.config.feeds] == ["a", "b"])
    assert wait_for(lambda: _requests(feed_server, "/b.xml") >= 1)
    assert len(json_endpoint.posts) == 2
