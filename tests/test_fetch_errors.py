"""Fetch failures come as kinds with their facts (monitor/errors.py), not as message text."""

import asyncio

import pytest

from monitor.settings.config import FetchConfig
from monitor.model import FeedState
from monitor.errors import BodyTooLarge, FetchError, StatusError, TooManyRedirects
from monitor.ingest.fetch import fetch_all
from peers import Route, rss


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
