"""Fetch feed bytes over HTTP with httpx: timeouts, size cap, redirect limit, conditional GET.

feedparser never fetches by itself; it only parses what this module returns. Many feeds are
fetched at once, bounded by `FetchConfig.concurrency`, and each has its own total deadline, so
one slow feed holds up nobody.
"""

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from ..errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    StatusError,
    TooManyRedirects,
)
from ..model import FeedState, FetchResult
from ..settings.config import FetchConfig

_RETRYABLE_WITH_HINT = {429, 503}


def make_client(settings: FetchConfig) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, max_redirects=settings.max_redirects,
        headers={"User-Agent": settings.user_agent,
                 "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                           "text/xml;q=0.9, application/feed+json;q=0.8, */*;q=0.5",
                 "Accept-Encoding": "gzip, deflate"},
        trust_env=False)


async def fetch_feed(client: httpx.AsyncClient, feed: FeedState, settings: FetchConfig) -> FetchResult:
    """One conditional GET. Raises FetchError with a short reason on any failure."""
    try:
        async with asyncio.timeout(settings.total_timeout):
            return await _get(client, feed, settings)
    except TimeoutError:
        raise FetchTimeout(f"timed out after {settings.total_timeout:g}s") from None
    except httpx.TooManyRedirects:
        raise TooManyRedirects(f"more than {settings.max_redirects} redirects") from None
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


async def _get(client: httpx.AsyncClient, feed: FeedState, settings: FetchConfig) -> FetchResult:
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    async with client.stream("GET", feed.url, headers=headers) as response:
        if response.status_code == 304:
            return _result(feed, response, None)
        if response.status_code >= 400:
            retry_after = None
            if response.status_code in _RETRYABLE_WITH_HINT:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise StatusError(f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                              response.status_code, retry_after)
        if response.status_code != 200:
            raise StatusError(f"unexpected HTTP {response.status_code}", response.status_code)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > settings.max_bytes:
            raise BodyTooLarge(f"body of {int(declared)} bytes exceeds the {settings.max_bytes}-byte cap")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decompressed: the cap also stops gzip bombs
            size += len(chunk)
            if size > settings.max_bytes:
                raise BodyTooLarge(f"body exceeds the {settings.max_bytes}-byte cap")
            chunks.append(chunk)
        return _result(feed, response, b"".join(chunks))


def _result(feed: FeedState, response: httpx.Response, body: bytes | None) -> FetchResult:
    return FetchResult(
        feed_name=feed.name, status=response.status_code, body=body,
        etag=response.headers.get("ETag") or feed.etag,
        last_modified=response.headers.get("Last-Modified") or feed.last_modified,
        content_type=response.headers.get("Content-Type"), final_url=str(response.url))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


async def fetch_all(feeds: Iterable[FeedState], settings: FetchConfig
                    ) -> AsyncIterator[tuple[FeedState, FetchResult | FetchError]]:
    """Fetch concurrently (bounded); yield each feed's result or error as soon as it is ready."""
    limit = asyncio.Semaphore(settings.concurrency)

    async def one(client, feed):
        async with limit:
            try:
                return feed, await fetch_feed(client, feed, settings)
            except FetchError as exc:
                return feed, exc
            except Exception as exc:  # e.g. httpx.InvalidURL: one feed must not stop the others
                return feed, FetchError(f"{type(exc).__name__}: {exc}")

    async with make_client(settings) as client:
        tasks = [asyncio.create_task(one(client, feed)) for feed in feeds]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:
            for task in tasks:
                task.cancel()
