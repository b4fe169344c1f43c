"""Fetch feed bytes over HTTP with aiohttp: timeouts, size cap, redirects, conditional GET.

feedparser never fetches by itself; it only parses what this module returns. Many feeds are
fetched at once, bounded by `FetchConfig.concurrency`, and each has its own total deadline, so
one slow feed holds up nobody. aiohttp rather than httpx because a request costs a seventh of
the CPU (bench/README.md, "Second scale session"): at tens of thousands of feeds the client was
most of a poll's cost.

Two guards against hostile servers, each in a small function of its own:
- `decoder`: the body is read raw and its Content-Encoding (gzip, deflate, at most two layers)
  undone here, zlib producing at most 64 KiB per call, so the byte cap bounds memory even for a
  gzip bomb inside a gzip bomb.
- `PublicOnlyResolver`: with `fetch.allow_private: false`, a host that resolves to a loopback,
  private, link-local or cloud-metadata address is not connected to; on the first request and
  on every redirect hop. aiohttp connects to the addresses the resolver returns, so the address
  checked is the address reached (a DNS answer that changes in between cannot slip past). An
  IP-address host is checked before its request.
Redirects are followed here, not by aiohttp, so that each hop is checked and no redirect's body
is read.
"""

import asyncio
import ipaddress
import os
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import aiohttp
from yarl import URL

from ..errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    StatusError,
    TooManyRedirects,
)
from ..model import FeedState, FetchResult
from ..settings.config import FetchConfig
from ..text import storable

_RETRYABLE_WITH_HINT = {429, 503}
_REDIRECTS = {301, 302, 303, 307, 308}
MAX_ENCODINGS = 2  # Content-Encoding layers undone; "gzip, gzip" is the most a real server sends
MAX_HEADER_LINE = 16 * 1024  # aiohttp's 8 KiB refuses some real servers' cookie headers
_PIECE = 64 * 1024  # the most bytes one zlib call may produce
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
               "application/feed+json;q=0.8, */*;q=0.5")


def make_client(settings: FetchConfig, accept: str = FEED_ACCEPT) -> aiohttp.ClientSession:
    """One poll's HTTP client (call inside the event loop; close it, e.g. `async with`)."""
    resolver = None if settings.allow_private else PublicOnlyResolver()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.concurrency, resolver=resolver),
        timeout=aiohttp.ClientTimeout(connect=settings.connect_timeout, sock_read=settings.read_timeout),
        headers={"User-Agent": settings.user_agent, "Accept": accept,
                 "Accept-Encoding": "gzip, deflate"},
        auto_decompress=False,  # undone in _read_capped, under the byte cap
        max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE)


async def fetch_feed(client: aiohttp.ClientSession, feed: FeedState, settings: FetchConfig,
                     check_redirect: Callable[[URL], Awaitable[None]] | None = None) -> FetchResult:
    """One conditional GET. Raises FetchError with a short reason on any failure. Each redirect's
    target is given to `check_redirect` before it is asked, which may refuse it by raising
    FetchError."""
    try:
        async with asyncio.timeout(settings.total_timeout):
            return await _get(client, feed, settings, check_redirect)
    except aiohttp.ServerTimeoutError as exc:  # connect or read: also a TimeoutError
        raise FetchTimeout(f"timed out ({type(exc).__name__})") from None
    except TimeoutError:
        raise FetchTimeout(f"timed out after {settings.total_timeout:g}s") from None
    except (aiohttp.ClientError, ValueError) as exc:  # ValueError: a URL yarl cannot read
        raise FetchError(failure_reason(exc)) from None


def failure_reason(exc: Exception) -> str:
    """What went wrong, in words: aiohttp's own messages name its classes and SSL settings."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"could not resolve {exc.host}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {exc.host}:{exc.port}: {_os_reason(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without a complete answer"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _os_reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror) or not error.errno:  # its errno is the resolver's own
        return error.strerror or str(error)
    return os.strerror(error.errno)  # asyncio's text repeats the address


async def _get(client: aiohttp.ClientSession, feed: FeedState, settings: FetchConfig,
               check_redirect: Callable[[URL], Awaitable[None]] | None) -> FetchResult:
    headers = {}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    url = URL(feed.url)
    for hop in range(settings.max_redirects + 1):
        if not settings.allow_private:
            _refuse_private_literal(url.host)
        if hop and check_redirect is not None:
            await check_redirect(url)
        async with client.get(url, headers=headers, allow_redirects=False) as response:
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                return await _read(feed, response, settings)
            url = _redirect_target(response.url, location)  # the redirect's body is never read
    raise TooManyRedirects(f"more than {settings.max_redirects} redirects")


def _redirect_target(current: URL, location: str) -> URL:
    try:
        url = current.join(URL(location))
    except ValueError as exc:
        raise FetchError(f"redirect to an invalid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(f"redirect to a {url.scheme or 'schemeless'} URL, not http(s)")
    return url


async def _read(feed: FeedState, response: aiohttp.ClientResponse, settings: FetchConfig) -> FetchResult:
    if response.status == 304:
        return _result(feed, response, None)
    if response.status >= 400:
        retry_after = None
        if response.status in _RETRYABLE_WITH_HINT:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise StatusError(f"HTTP {response.status} {storable(response.reason or '')}".strip(),
                          response.status, retry_after)
    if response.status != 200:
        raise StatusError(f"unexpected HTTP {response.status}", response.status)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise BodyTooLarge(f"body of {int(declared)} bytes exceeds the {settings.max_bytes}-byte cap")
    return _result(feed, response, await _read_capped(response, settings.max_bytes))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body with its Content-Encoding undone. BodyTooLarge as soon as it passes `limit`
    bytes, on the wire or decoded: no more than `limit` bytes (and one piece) are ever held."""
    encoding = response.headers.get("Content-Encoding")
    decode = decoder(encoding)
    pieces, received, size = [], 0, 0
    async for chunk in response.content.iter_any():
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


class PublicOnlyResolver(aiohttp.ThreadedResolver):
    """The system's DNS answer, refused when any of its addresses is private: no connection is
    made, so closed and open ports look alike."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        found = await super().resolve(host, port, family)
        for entry in found:
            _refuse_if_private(host, entry["host"])
        return found


def _refuse_private_literal(host: str | None) -> None:
    """An IP-address host never reaches the resolver: it is checked as it is."""
    try:
        ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return  # a name: PublicOnlyResolver checks what it resolves to
    _refuse_if_private(host, host)


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


def _result(feed: FeedState, response: aiohttp.ClientResponse, body: bytes | None) -> FetchResult:
    return FetchResult(
        feed_name=feed.name, status=response.status, body=body,
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

    async def fetcher(client: aiohttp.ClientSession) -> None:
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


async def _fetch_one(client: aiohttp.ClientSession, feed: FeedState, settings: FetchConfig
                     ) -> FetchResult | FetchError:
    try:
        return await fetch_feed(client, feed, settings)
    except FetchError as exc:
        return exc
    except Exception as exc:  # one feed must not stop the others
        return FetchError(f"{type(exc).__name__}: {exc}")
