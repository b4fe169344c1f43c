"""Fetch failures come as kinds with their facts (monitor/errors.py), not as message text."""

import asyncio

import pytest
from conftest import ORDINARY
from peers import Route, rss
from sqlmodel import select

from monitor.errors import BodyTooLarge, FetchError, StatusError, TooManyRedirects
from monitor.ingest.fetch import fetch_all
from monitor.model import FeedState
from monitor.pipeline import poll
from monitor.settings.config import FetchConfig
from monitor.store.database import session_scope
from monitor.store.tables import Feed


def _fetch(url: str, **settings):
    async def run():
        return [result async for _, result in fetch_all([FeedState("f", url)], FetchConfig(**settings))]
    [result] = asyncio.run(run())
    return result


def test_an_error_status_carries_the_status_and_retry_after(feed_server):
    feed_server.routes["/busy.xml"] = Route(b"busy", status=503, headers={"Retry-After": "120"})
    error = _fetch(feed_server.url("/busy.xml"))
    assert isinstance(error, StatusError) and (error.status, error.retry_after) == (503, 120.0)
    feed_server.routes["/gone.xml"] = Route(b"gone", status=404)
    error = _fetch(feed_server.url("/gone.xml"))
    assert isinstance(error, StatusError) and (error.status, error.retry_after) == (404, None)


def test_a_body_over_the_cap_and_a_redirect_loop_are_their_own_kinds(feed_server):
    feed_server.routes["/big.xml"] = Route(rss([{"title": "x" * 5000}]))
    assert isinstance(_fetch(feed_server.url("/big.xml"), max_bytes=1000), BodyTooLarge)
    feed_server.routes["/loop.xml"] = Route(redirect_to="/loop.xml")
    assert isinstance(_fetch(feed_server.url("/loop.xml"), max_redirects=2), TooManyRedirects)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/refused.xml"])
def test_a_refused_connection_is_a_plain_fetch_error(url):
    error = _fetch(url, connect_timeout=2, total_timeout=5)
    assert type(error) is FetchError and "could not connect to 127.0.0.1:1: Connection refused" in str(error), error


def test_a_reason_phrase_or_validator_that_cannot_be_stored_fails_nothing(feed_server, write_watchlist,
                                                                          make_runtime):
    """A status line's reason and the ETag and Last-Modified headers are the server's bytes: a NUL
    (PostgreSQL refuses it) or a byte aiohttp cannot decode (a surrogate, which no database takes)
    made recording the feed's error, or its state, fail every poll. The error is kept as text can
    be; such validators are not kept (the next GET is plain)."""
    feed_server.routes["/nul.xml"] = Route(b"no", status=500, reason="Bad\x00 gateway")
    feed_server.routes["/latin.xml"] = Route(b"no", status=500, reason="Mauvaise requ\xeate")
    feed_server.routes["/etag.xml"] = Route(rss([dict(ORDINARY, guid="e")]), etag='"\xe9tag"',
                                            headers={"Last-Modified": "Tue, 01 D\xe9c 2026 10:00:00 GMT"})
    names = ("nul", "latin", "etag")
    runtime = make_runtime(write_watchlist(feeds=[{"name": name, "url": feed_server.url(f"/{name}.xml")}
                                                  for name in names]))
    polls = [poll(runtime) for _ in range(2)]
    with session_scope(runtime.engine) as session:
        feeds = {feed.name: feed for feed in session.exec(select(Feed))}
    assert [sorted((o.feed_name, o.status, o.new_items) for o in outcomes) for outcomes in polls] == \
        [[("etag", "ok", 1), ("latin", "error", 0), ("nul", "error", 0)],
         [("etag", "ok", 0), ("latin", "error", 0), ("nul", "error", 0)]]
    assert (feeds["nul"].last_error, feeds["latin"].last_error) == \
        ("HTTP 500 Bad gateway", "HTTP 500 Mauvaise requ\ufffdte")
    assert (feeds["etag"].etag, feeds["etag"].last_modified, feeds["etag"].last_status) == (None, None, "ok")
    [_, second] = [headers for path, headers in feed_server.requests if path == "/etag.xml"]
    assert "If-None-Match" not in second and "If-Modified-Since" not in second  # a plain GET
