"""The daemon does not wait for its intervals: a feed is fetched when it falls due, and a page is
handed to its channel as soon as the poll that wrote it commits. The intervals here are a minute,
so only the wake-ups can make these pass within seconds."""

import time

import pytest

from conftest import INCIDENT, ORDINARY
from peers import Route, rss, wait_for

SLOW = "60s"  # the tick and dispatch intervals: far longer than any wait below


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_feed_is_fetched_when_it_falls_due_not_at_the_next_tick(feed_server, write_watchlist,
                                                                   daemon):
    feed_server.routes["/a.xml"] = Route(rss([dict(ORDINARY, guid="o1", link="https://n.example/o1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "2s"}],
                           tick=SLOW, dispatch={"interval": SLOW})
    daemon(path)
    assert wait_for(lambda: len(feed_server.request_times("/a.xml")) >= 3, timeout=15)
    first, second, third = feed_server.request_times("/a.xml")[:3]
    assert 1.5 < second - first < 5 and 1.5 < third - second < 5

@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_page_is_sent_when_the_poll_writes_it_not_at_the_next_dispatch(feed_server, json_endpoint,
                                                                         write_watchlist, daemon):
    feed_server.routes["/a.xml"] = Route(rss([dict(ORDINARY, guid="o1", link="https://n.example/o1")]))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml"), "interval": "1s"}],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}],
                           tick=SLOW, dispatch={"interval": SLOW})
    daemon(path)
    assert wait_for(lambda: len(feed_server.request_times("/a.xml")) >= 2, timeout=15)  # past the first dispatch
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="i1", link="https://n.example/i1"),
                                              dict(ORDINARY, guid="o1", link="https://n.example/o1")]))
    published = time.monotonic()
    assert wait_for(lambda: json_endpoint.posts, timeout=20)
    assert time.monotonic() - published < 15
    assert json_endpoint.posts[0]["title"].endswith(INCIDENT["title"])
