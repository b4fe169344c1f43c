"""Hostile servers and feeds: compression bombs, private addresses, link injection, long fields,
wrong charsets. Every server is a real one on 127.0.0.1 (tests/peers.py); nothing goes out."""

import asyncio
import gzip
import json
import logging
import socket
import subprocess
import sys
import textwrap
import tracemalloc
import zlib
from pathlib import Path

import pytest

from monitor.errors import BodyTooLarge, FetchError, ParseError
from monitor.ingest import fetch, parse
from monitor.ingest.fetch import decoder, fetch_all, private_address_kind
from monitor.ingest.parse import MAX_TEXT, MAX_TITLE, canonical_url, parse_feed
from monitor.model import FeedState
from monitor.settings.config import FetchConfig
from peers import FeedServer, Route, rss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bomb import gzip_of_zeros  # noqa: E402  (the benchmark's bomb builder, stdlib only)

GIB = 1 << 30
PEAK_RSS_LIMIT_MB = 150  # a poll's fetch of a bomb; unbounded, 1 GiB inside costs > 1 GB
CAP = FetchConfig().max_bytes


@pytest.fixture(scope="module")
def bombs() -> dict[str, tuple[bytes, str]]:
    plain = gzip_of_zeros(GIB)
    return {"plain": (plain, "gzip"), "stacked": (gzip.compress(plain), "gzip, gzip")}


def _fetch(url: str, **settings):
    async def run():
        return [result async for _, result in fetch_all([FeedState("f", url)], FetchConfig(**settings))]
    [result] = asyncio.run(run())
    return result


FEED = rss([{"title": "Rocket attack on base", "text": "Several rockets. " * 400,
             "link": "https://news.example/1"}])


# --- compression: bounded, layer by layer ------------------------------------------------------

def test_a_stacked_gzip_bomb_is_too_large_and_the_poll_says_so(feed_server, bombs, write_watchlist,
                                                               make_runtime):
    from monitor.pipeline import poll
    body, encoding = bombs["stacked"]
    assert len(body) < 3000  # a few KB on the wire, 1 GiB inside
    feed_server.routes["/bomb.xml"] = Route(body, headers={"Content-Encoding": encoding})
    assert isinstance(_fetch(feed_server.url("/bomb.xml")), BodyTooLarge)
    runtime = make_runtime(write_watchlist(feeds=[{"name": "bomb", "url": feed_server.url("/bomb.xml")}]))
    [outcome] = poll(runtime)
    assert outcome.status == "error" and "byte cap once decompressed" in outcome.error


_CHILD = textwrap.dedent("""
    import asyncio, json, resource, sys
    from monitor.ingest.fetch import fetch_all
    from monitor.model import FeedState
    from monitor.settings.config import FetchConfig

    def status_mb(field):
        try:
            return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) / 1024
        except (OSError, IndexError, ValueError):
            return None

    async def main():
        return [r async for _, r in fetch_all([FeedState("bomb", sys.argv[1])], FetchConfig())]

    before = status_mb("VmRSS")
    [result] = asyncio.run(main())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    maxrss_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    hwm = status_mb("VmHWM")  # the child's own peak; ru_maxrss may keep the parent's (fork)
    print(json.dumps({"kind": type(result).__name__, "message": str(result), "before_mb": before,
                      "peak_mb": maxrss_mb if hwm is None else hwm}))
""")


@pytest.mark.parametrize("kind", ["plain", "stacked"])
def test_a_bomb_costs_no_more_than_the_cap(feed_server, bombs, kind):
    """Fetched in a fresh interpreter, whose peak RSS is its own: 1 GiB inside, a 10 MiB cap."""
    pytest.importorskip("resource")
    body, encoding = bombs[kind]
    feed_server.routes["/bomb.xml"] = Route(body, headers={"Content-Encoding": encoding})
    done = subprocess.run([sys.executable, "-c", _CHILD, feed_server.url("/bomb.xml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{kind} bomb: {result}")
    assert result["kind"] == "BodyTooLarge" and "byte cap" in result["message"], result
    assert result["peak_mb"] < PEAK_RSS_LIMIT_MB, result
    if result["before_mb"] is not None:  # the fetch itself: the cap, and a little for the client
        assert result["peak_mb"] - result["before_mb"] < CAP / 2**20 + 20, result


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "gzip, gzip",
                                      "deflate, gzip", "identity", "gzip, identity"])
def test_normal_compressed_feeds_still_parse(feed_server, encoding):
    def raw_deflate(data):
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    coders = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress,
              "raw-deflate": raw_deflate, "identity": lambda data: data}
    body = FEED
    for name in [n.strip() for n in encoding.split(",")]:  # applied in the order listed
        body = coders[name](body)
    header = encoding.replace("raw-deflate", "deflate")
    feed_server.routes["/feed.xml"] = Route(body, headers={"Content-Encoding": header})
    result = _fetch(feed_server.url("/feed.xml"))
    assert not isinstance(result, Exception), result
    assert result.body == FEED
    [item] = parse_feed(result.body, "f", result.final_url, result.content_type)
    assert item.title == "Rocket attack on base"


def test_the_decoder_gives_the_same_bytes_however_the_body_is_cut():
    text = b"".join(b"line %d of a long feed, fairly compressible\n" % i for i in range(60_000))
    for encoding, body in (("gzip", gzip.compress(text)), ("deflate", zlib.compress(text)),
                           ("gzip, gzip", gzip.compress(gzip.compress(text)))):
        for size in (2, 1000, 65_536, len(body)):
            decode = decoder(encoding)
            pieces = [p for i in range(0, len(body), size) for p in decode(body[i:i + size])]
            assert b"".join(pieces) == text, (encoding, size)
            assert max(map(len, pieces)) <= 64 * 1024


@pytest.mark.parametrize("encoding, message", [
    ("gzip, gzip, gzip", "at most 2"),
    ("br", "unsupported Content-Encoding 'br'"),
])
def test_too_many_layers_or_an_unknown_encoding_is_a_clear_fetch_error(feed_server, encoding, message):
    feed_server.routes["/feed.xml"] = Route(gzip.compress(FEED), headers={"Content-Encoding": encoding})
    error = _fetch(feed_server.url("/feed.xml"))
    assert type(error) is FetchError and message in str(error), error


def test_a_corrupt_body_is_a_clear_fetch_error(feed_server):
    feed_server.routes["/feed.xml"] = Route(b"\x1f\x8b\x08\x00" + b"garbage" * 20,
                                            headers={"Content-Encoding": "gzip"})
    error = _fetch(feed_server.url("/feed.xml"))
    assert type(error) is FetchError and "gzip-encoded body is corrupt" in str(error), error


def test_a_redirect_body_is_never_read(feed_server):
    """httpx, following redirects itself, decoded each redirect's body in full."""
    bomb = gzip.compress(gzip_of_zeros(256 << 20))
    feed_server.routes["/moved.xml"] = Route(bomb, status=302, headers={
        "Location": "/feed.xml", "Content-Encoding": "gzip, gzip"})
    feed_server.routes["/feed.xml"] = Route(FEED)
    tracemalloc.start()
    try:
        result = _fetch(feed_server.url("/moved.xml"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.body == FEED and result.final_url.endswith("/feed.xml")
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB"


# --- private addresses (fetch.allow_private: false) ------------------------------------------------

@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("172.16.5.4", "private"),
    ("fc00::5", "private"), ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"), ("169.254.10.1", "link-local"),
    ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"), ("100.64.0.1", "reserved"),
    ("224.0.0.1", "multicast"),
    ("93.184.215.14", None), ("8.8.8.8", None), ("2606:4700:4700::1111", None),
])
def test_private_address_kinds(address, kind):
    assert private_address_kind(address) == kind


def test_a_private_feed_is_refused_before_any_request(feed_server):
    feed_server.routes["/feed.xml"] = Route(FEED)
    for url in (feed_server.url("/feed.xml"), f"http://localhost:{feed_server.port}/feed.xml"):
        error = _fetch(url, allow_private=False)
        assert type(error) is FetchError, error
        message = str(error)
        assert "a private address (loopback)" in message, message
        assert "set fetch.allow_private: true" in message, message
        assert "127.0.0.1" in message or "::1" in message, message
    assert "localhost resolves to" in message  # the name and the address it reached
    assert feed_server.requests == []


def test_a_redirect_to_a_private_address_is_refused(feed_server, monkeypatch):
    """Offline there is no public server to start from, so the feed server counts as public
    until it has answered; the redirect's target is then checked as it is."""
    internal = FeedServer().start()
    try:
        internal.routes["/secret.xml"] = Route(FEED)
        feed_server.routes["/feed.xml"] = Route(redirect_to=internal.url("/secret.xml"))

        def public_until_redirected(address):
            return private_address_kind(address) if feed_server.requests else None

        monkeypatch.setattr(fetch, "private_address_kind", public_until_redirected)
        error = _fetch(feed_server.url("/feed.xml"), allow_private=False)
        assert type(error) is FetchError and "127.0.0.1 is a private address" in str(error), error
        assert [path for path, _ in feed_server.requests] == ["/feed.xml"]
        assert internal.requests == []
        monkeypatch.undo()

        result = _fetch(feed_server.url("/feed.xml"))  # the default, allow_private: true
        assert result.body == FEED and result.final_url == internal.url("/secret.xml")
        assert [path for path, _ in internal.requests] == ["/secret.xml"]
    finally:
        internal.stop()


def test_the_address_checked_is_the_address_connected_to(feed_server, monkeypatch):
    """DNS rebinding: a name that resolves to a public address when checked and to a private
    one when connecting. The connection must go to the address that was checked, with no
    second lookup: a name only the patched lookup knows reaches the feed server after one
    lookup, and when its answer is private nothing is sent at all."""
    feed_server.routes["/feed.xml"] = Route(FEED)
    lookups = []
    system_lookup = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if host != "rebind.example":
            return system_lookup(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    url = f"http://rebind.example:{feed_server.port}/feed.xml"
    error = _fetch(url, allow_private=False)
    assert type(error) is FetchError, error
    assert "rebind.example resolves to 127.0.0.1, a private address (loopback)" in str(error)
    assert feed_server.requests == [] and lookups == ["rebind.example"]

    lookups.clear()
    monkeypatch.setattr(fetch, "private_address_kind", lambda address: None)  # all public
    result = _fetch(url, allow_private=False)
    assert not isinstance(result, Exception), result
    assert result.body == FEED and lookups == ["rebind.example"]


def test_the_setting_reaches_the_poll(feed_server, write_watchlist, make_runtime):
    from monitor.pipeline import poll
    feed_server.routes["/feed.xml"] = Route(FEED)
    feeds = [{"name": "local", "url": feed_server.url("/feed.xml")}]
    [refused] = poll(make_runtime(write_watchlist(feeds=feeds, fetch={"allow_private": False})))
    assert refused.status == "error" and "fetch.allow_private" in refused.error
    assert feed_server.requests == []
    [allowed] = poll(make_runtime(write_watchlist(feeds=feeds)))
    assert allowed.status == "ok" and allowed.new_items == 1


# --- stored links cannot inject Markdown -----------------------------------------------------------

def _feed_with_link(link: str, title: str = "Read this") -> bytes:
    escaped = link.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{title}</title><link>{escaped}</link></item></channel></rss>").encode()


def test_a_link_cannot_add_a_second_markdown_link():
    markdown_it = pytest.importorskip("markdown_it")
    [item] = parse_feed(_feed_with_link("https://x/a)[Re-login](https://evil.example/"), "f")
    assert item.url == "https://x/a%29%5BRe-login%5D%28https://evil.example/"
    html = markdown_it.MarkdownIt().render(f"[{item.title}]({item.url})")
    assert html.count("<a ") == 1 and f'href="{item.url}"' in html, html


@pytest.mark.parametrize("url, expected", [
    ("https://x/a b", "https://x/a%20b"),
    ('https://x/a"onmouseover="x', "https://x/a%22onmouseover=%22x"),
    ("https://x/<script>", "https://x/%3Cscript%3E"),
    ("https://x/a\\b`c", "https://x/a%5Cb%60c"),
    ("https://x/{a}|b^c", "https://x/%7Ba%7D%7Cb%5Ec"),
    ("https://x/wiki/Foo_(bar)", "https://x/wiki/Foo_%28bar%29"),
    ("https://x/a[1]", "https://x/a%5B1%5D"),
    ("https://x/\u202efdp.exe", "https://x/%E2%80%AEfdp.exe"),  # right-to-left override
    ("https://x/a\u00a0b\u200bc", "https://x/a%C2%A0b%E2%80%8Bc"),  # no-break and zero-width space
    ("https://x/a?q=(1)&r=a b", "https://x/a?q=%281%29&r=a+b"),  # the query was encoded already
    ("https://x y.example/a", None), ('https://x"y.example/a', None),
    # valid URLs stay as they were
    ("https://x/caf\u00e9/\u0645\u0647\u0631", "https://x/caf\u00e9/\u0645\u0647\u0631"),
    ("https://x/a%20b%29", "https://x/a%20b%29"),
    ("https://x/a'b;c=d,e+f*g!h$i&j@k:l~m", "https://x/a'b;c=d,e+f*g!h$i&j@k:l~m"),
])
def test_canonical_url_percent_encodes_what_could_end_a_link(url, expected):
    assert canonical_url(url) == expected
    if expected:
        assert canonical_url(expected) == expected


# --- lengths ------------------------------------------------------------------------------------

def test_titles_and_descriptions_are_cut():
    assert (MAX_TITLE, MAX_TEXT) == (1_000, 20_000)
    [item] = parse_feed(rss([{"title": "T" * 5_000, "text": "D" * 50_000}]), "f")
    assert item.title == "T" * MAX_TITLE and item.text == "D" * MAX_TEXT


# --- charsets -----------------------------------------------------------------------------------

def _declaring(charset: str, items: str = "<item><title>Hello</title><link>https://e.x/1</link></item>",
               encode: str = "utf-8") -> bytes:
    return (f'<?xml version="1.0" encoding="{charset}"?><rss version="2.0"><channel><title>T</title>'
            f"{items}</channel></rss>").encode(encode)


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(parse, "_warned", set())


def test_an_unknown_declared_charset_is_named_in_the_log_once(caplog, fresh_warnings):
    caplog.set_level(logging.WARNING, logger="monitor.parse")
    for _ in range(2):
        [item] = parse_feed(_declaring("x-unknown-7"), "odd")
        assert item.title == "Hello"
    [record] = [r for r in caplog.records if r.name == "monitor.parse"]
    assert "feed odd" in record.getMessage() and "'x-unknown-7', which is unknown" in record.getMessage()


def test_a_wrong_declared_charset_is_named_with_the_one_used(caplog, fresh_warnings):
    caplog.set_level(logging.WARNING, logger="monitor.parse")
    body = _declaring("utf-8", "<item><title>Caf\u00e9 au lait</title></item>", encode="latin-1")
    [item] = parse_feed(body, "latin")
    assert item.title == "Caf\u00e9 au lait"
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "'utf-8', which does not fit its bytes; read as windows-1252" in message


@pytest.mark.parametrize("content_type", [None, "text/xml", "application/rss+xml; charset=x-unknown-7"])
def test_a_feed_that_fails_names_its_declared_charset(content_type):
    body = b'<?xml version="1.0" encoding="x-unknown-7"?><rss version="2.0"><chan'
    with pytest.raises(ParseError) as caught:
        parse_feed(body, "broken", content_type=content_type)
    assert "x-unknown-7" in str(caught.value)


def test_a_correct_charset_is_not_reported(caplog, fresh_warnings):
    caplog.set_level(logging.WARNING, logger="monitor.parse")
    for charset, encode, title in (("utf-8", "utf-8", "\u00e9\u0645"), ("iso-8859-1", "latin-1", "\u00e9"),
                                   ("windows-1256", "cp1256", "\u0645\u0647\u0631")):
        [item] = parse_feed(_declaring(charset, f"<item><title>{title}</title></item>", encode), "f")
        assert item.title == title
    parse_feed(_declaring("utf-8"), "f", content_type="text/xml")  # read as us-ascii: the same bytes
    assert [r for r in caplog.records if r.name == "monitor.parse"] == []
