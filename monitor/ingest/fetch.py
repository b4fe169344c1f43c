"""Fetch feed bytes over HTTP with httpx: timeouts, size cap, redirects, conditional GET.

feedparser never fetches by itself; it only parses what this module returns. Many feeds are
fetched at once, bounded by `FetchConfig.concurrency`, and each has its own total deadline, so
one slow feed holds up nobody.

Two guards against hostile servers, each in a small function of its own:
- `decoder`: the body is read raw and its Content-Encoding (gzip, deflate, at most two layers)
  undone here, zlib producing at most 64 KiB per call, so the byte cap bounds memory even for a
  gzip bomb inside a gzip bomb (httpx decodes each network chunk in full before anyone counts).
- `refuse_private_peers`: with `fetch.allow_private: false`, a host that resolves to a loopback,
  private, link-local or cloud-metadata address is not connected to, and a connection that
  reached one anyway (DNS changed in between) is closed before a request is sent on it; on the
  first request and on every redirect hop.
Redirects are followed here, not by httpx, which would read and decode each redirect's body.
"""

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
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
MAX_ENCODINGS = 2  # Content-Encoding layers undone; "gzip, gzip" is the most a real server sends
_PIECE = 64 * 1024  # the most bytes one zlib call may produce
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}


def make_client(settings: FetchConfig) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=False,  # followed in _get, bodies unread
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
    extensions = {} if settings.allow_private else {"trace": refuse_private_peers()}
    url = feed.url
    for _ in range(settings.max_redirects + 1):
        async with client.stream("GET", url, headers=headers, extensions=extensions) as response:
            if not response.has_redirect_location:
                return await _read(feed, response, settings)
            url = _redirect_target(response)  # the redirect's body is never read
    raise TooManyRedirects(f"more than {settings.max_redirects} redirects")


def _redirect_target(response: httpx.Response) -> httpx.URL:
    try:
        url = response.url.join(response.headers["Location"])
    except httpx.InvalidURL as exc:
        raise FetchError(f"redirect to an invalid URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise FetchError(f"redirect to a {url.scheme or 'schemeless'} URL, not http(s)")
    return url


async def _read(feed: FeedState, response: httpx.Response, settings: FetchConfig) -> FetchResult:
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
    return _result(feed, response, await _read_capped(response, settings.max_bytes))


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body with its Content-Encoding undone. BodyTooLarge as soon as it passes `limit`
    bytes, on the wire or decoded: no more than `limit` bytes (and one piece) are ever held."""
    encoding = response.headers.get("Content-Encoding")
    decode = decoder(encoding)
    pieces, received, size = [], 0, 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"body exceeds the {limit}-byte cap")
        for piece in decode(chunk):
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(f"body exceeds the {limit}-byte cap once decompressed "
                                   f"(Content-Encoding: {encoding})")
            pieces.append(piece)
    return b"".join(pieces)


def decoder(content_encoding: str | None) -> Callable[[bytes], Iterator[bytes]]:
    """A function that undoes `content_encoding` ("gzip", "deflate", "gzip, gzip", "identity")
    one network chunk at a time, yielding pieces of at most 64 KiB: a caller that stops
    iterating at its cap never holds more. More than MAX_ENCODINGS layers, or an encoding other
    than gzip, deflate and identity, is a FetchError."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",")]
    names = [n for n in names if n and n != "identity"]
    unknown = [n for n in names if n not in _WBITS]
    if unknown:
        raise FetchError(f"unsupported Content-Encoding {unknown[0]!r} (gzip and deflate are read)")
    if len(names) > MAX_ENCODINGS:
        raise FetchError(f"Content-Encoding {content_encoding!r} stacks {len(names)} layers; "
                         f"at most {MAX_ENCODINGS} are undone")
    layers = [_Inflater(name) for name in reversed(names)]  # the last applied comes off first

    def decode(data: bytes, depth: int = 0) -> Iterator[bytes]:
        if depth == len(layers):
            yield data
            return
        for piece in layers[depth].pieces(data):
            yield from decode(piece, depth + 1)

    return decode


class _Inflater:
    """One gzip or deflate layer. Each zlib call yields at most _PIECE bytes; the input it has
    not got to waits in `unconsumed_tail`, so the expansion ratio never reaches memory."""

    def __init__(self, name: str):
        self.name = name
        self._zlib = zlib.decompressobj(_WBITS[name])
        self._first = True

    def pieces(self, data: bytes) -> Iterator[bytes]:
        while not self._zlib.eof:  # bytes after the end of the stream are ignored, as httpx did
            piece = self._inflate(data)
            if piece:
                yield piece
            data = self._zlib.unconsumed_tail
            if not data and len(piece) < _PIECE:  # a full piece may leave output inside zlib
                return

    def _inflate(self, data: bytes) -> bytes:
        first, self._first = self._first, False
        try:
            return self._zlib.decompress(data, _PIECE)
        except zlib.error as exc:
            if first and self.name == "deflate":  # raw deflate, sent without the zlib header
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._inflate(data)
            raise FetchError(f"the {self.name}-encoded body is corrupt ({exc})") from None


def refuse_private_peers() -> Callable:
    """An httpcore `trace` hook (one per feed) that refuses a private address on every new
    connection, so on the first request and on every redirect hop: before connecting, when the
    host resolves to one (no connection is made, so closed and open ports look alike); after
    connecting, when the address reached is one (whatever DNS says by then: the address checked
    is the one connected to). No request is ever sent to it."""
    host = None

    async def trace(event: str, info: dict) -> None:
        nonlocal host
        if event == "connection.connect_tcp.started":
            host = info["host"]
            for address in await _resolve(host, info["port"]):
                _refuse_if_private(host, address)
        elif event == "connection.connect_tcp.complete":
            stream = info["return_value"]
            peer = stream.get_extra_info("server_addr")
            try:
                _refuse_if_private(host, str(peer[0]) if peer else None)
            except FetchError:
                await stream.aclose()
                raise

    return trace


async def _resolve(host: str, port: int) -> list[str]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []  # connecting fails the same way, with its own message
    return [sockaddr[0] for *_, sockaddr in found]


def _refuse_if_private(host: str | None, address: str | None) -> None:
    kind = private_address_kind(address) if address else "unknown"
    if kind:
        address = address or "an address that could not be read"
        where = f"{address} is" if host == address else f"{host} resolves to {address},"
        what = "a private address" if kind == "private" else f"a private address ({kind})"
        raise FetchError(f"refused: {where} {what}; set fetch.allow_private: true to fetch "
                         f"feeds at private addresses")


def private_address_kind(address: str) -> str | None:
    """What makes an IP address non-public ("loopback", "private", "link-local", "cloud
    metadata", ...), or None when it is a public address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:127.0.0.1 reaches 127.0.0.1
        ip = ip.ipv4_mapped
    for kind, applies in (("cloud metadata", ip in _METADATA), ("loopback", ip.is_loopback),
                          ("link-local", ip.is_link_local), ("unspecified", ip.is_unspecified),
                          ("private", ip.is_private), ("multicast", ip.is_multicast),
                          ("reserved", not ip.is_global)):
        if applies:
            return kind
    return None


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
    """Fetch concurrently (bounded); yield each feed's result or error as soon as it is ready.
    Fetches running plus results not yet taken stay under twice `concurrency`: a slow taker slows
    the fetching down instead of piling up bodies (a first poll of thousands of feeds would
    otherwise hold every body until its end)."""
    waiting = iter(feeds)
    ready: asyncio.Queue = asyncio.Queue()
    room = asyncio.Semaphore(2 * settings.concurrency)

    async def fetcher(client: httpx.AsyncClient) -> None:
        while True:
            await room.acquire()
            feed = next(waiting, None)  # shared: each feed is taken by one fetcher
            if feed is None:
                room.release()
                return
            await ready.put((feed, await _fetch_one(client, feed, settings)))

    async with make_client(settings) as client:
        running = asyncio.gather(*(fetcher(client) for _ in range(settings.concurrency)))
        running.add_done_callback(lambda _: ready.put_nowait(None))
        try:
            while (answered := await ready.get()) is not None:
                room.release()
                yield answered
            running.result()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def _fetch_one(client: httpx.AsyncClient, feed: FeedState, settings: FetchConfig
                     ) -> FetchResult | FetchError:
    try:
        return await fetch_feed(client, feed, settings)
    except FetchError as exc:
        return exc
    except Exception as exc:  # e.g. httpx.InvalidURL: one feed must not stop the others
        return FetchError(f"{type(exc).__name__}: {exc}")
