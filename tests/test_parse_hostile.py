"""Hostile feeds: external entities and DTDs, entity expansion, markup and script links.

Every feed is written here by hand. A tiny HTTP server on 127.0.0.1 stands in for an
attacker's server: nothing the parser does may ever reach it, and no local file may leak
into an Item.
"""

import http.server
import json
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from monitor.errors import NotAFeed, ParseError, Refused
from monitor.ingest.parse import canonical_url, item_key, parse_feed

TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>")
PEAK_RSS_LIMIT_MB = 200


# --- a loopback "attacker" server that records every request --------------------------------

@pytest.fixture
def trap():
    """An HTTP server on 127.0.0.1 that serves a malicious DTD and records every request."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            requests.append(self.path)
            body = (b'<!ENTITY leak "LEAKED-FROM-NETWORK">' if self.path.endswith(".dtd")
                    else b"LEAKED-FROM-NETWORK")
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _passwd_markers() -> list[str]:
    """Strings that would show that /etc/passwd leaked into an item."""
    try:
        lines = Path("/etc/passwd").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    return ["root:x:0:0", "LEAKED-FROM"] + [line for line in lines[:3] if len(line) > 8]


def _assert_nothing_leaked(items):
    for item in items:
        blob = f"{item.title}\n{item.text}\n{item.url}\n{item.key}"
        for marker in _passwd_markers():
            assert marker not in blob, f"leaked {marker!r} into {item}"


def _rss(items_xml: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{prolog}\n'
            f'<rss version="2.0"><channel><title>Test feed</title><link>https://example.com/</link>'
            f"{items_xml}</channel></rss>").encode()


ITEM = ("<item><title>Rocket attack on base</title><link>https://example.com/a/1</link>"
        "<guid>https://example.com/a/1</guid><description>Body text &amp; more.</description></item>")


# --- external DTDs and entities: no socket, no file ------------------------------------------

@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE rss SYSTEM "{base}/evil.dtd">',
    '<!DOCTYPE rss PUBLIC "-//Evil//DTD RSS//EN" "{base}/evil.dtd">',
    '<!DOCTYPE rss SYSTEM "{base}/evil.dtd" [<!ENTITY site "example.com">]>',
    '<?xml-stylesheet type="text/xsl" href="{base}/style.xsl"?>',
], ids=["system-dtd", "public-dtd", "dtd-plus-internal-subset", "stylesheet-pi"])
def test_external_dtd_reference_is_not_fetched(trap, prolog):
    base, requests = trap
    items = parse_feed(_rss(ITEM, prolog.format(base=base)), "hostile", url=f"{base}/feed.xml",
                       content_type="application/rss+xml")
    assert [i.title for i in items] == ["Rocket attack on base"]
    assert requests == [], "the parser fetched the external DTD"
    _assert_nothing_leaked(items)


@pytest.mark.parametrize("declaration", [
    '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
    '<!ENTITY xxe SYSTEM "{base}/x">',
    '<!ENTITY xxe PUBLIC "-//Evil//X//EN" "{base}/x">',
    '<!ENTITY % dtd SYSTEM "{base}/evil.dtd"> %dtd;',
    '<!ENTITY xxe SYSTEM "/etc/passwd">',
], ids=["file", "http", "public-http", "parameter-entity", "bare-path"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32-be"])
def test_external_entity_is_refused_and_touches_nothing(trap, declaration, encoding):
    base, requests = trap
    prolog = f"<!DOCTYPE rss [{declaration.format(base=base)}]>"
    item = ("<item><title>Leak: &xxe;</title><link>https://example.com/a/2</link>"
            "<description>&xxe;</description></item>")
    body = _rss(item, prolog).decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    with pytest.raises(ParseError) as caught:
        _assert_nothing_leaked(parse_feed(body.encode(encoding), "hostile", url=f"{base}/feed.xml"))
    message = str(caught.value)
    assert isinstance(caught.value, Refused)
    assert message.startswith("refused:") and ("external" in message or "parameter" in message)
    assert requests == [], "the parser reached the network"


def test_xinclude_is_not_processed(trap):
    base, requests = trap
    item = ('<item xmlns:xi="http://www.w3.org/2001/XInclude"><title>Include</title>'
            f'<description><xi:include href="file:///etc/passwd" parse="text"/>'
            f'<xi:include href="{base}/x" parse="text"/>safe</description>'
            "<link>https://example.com/a/3</link></item>")
    items = parse_feed(_rss(item), "hostile")
    _assert_nothing_leaked(items)
    assert requests == []


def test_body_that_names_a_local_file_is_parsed_as_text_not_opened(tmp_path):
    """feedparser.parse(bytes) opens the bytes as a path when such a file exists."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(_rss("<item><title>SECRET-LOCAL-FILE</title>"
                            "<link>https://example.com/s</link></item>"))
    with pytest.raises(ParseError):
        items = parse_feed(str(secret).encode(), "hostile")
        assert all("SECRET" not in i.title for i in items)


# --- entity expansion ---------------------------------------------------------------------------

def _billion_laughs(encoding: str = "utf-8") -> bytes:
    decls = ['<!ENTITY lol "lol">']
    for level in range(1, 10):
        inner = "&lol;" if level == 1 else f"&lol{level - 1};"
        decls.append(f'<!ENTITY lol{level} "{inner * 10}">')
    prolog = "<!DOCTYPE rss [\n" + "\n".join(decls) + "\n]>"
    item = "<item><title>laughs</title><link>https://example.com/l</link><description>&lol9;</description></item>"
    text = _rss(item, prolog).decode().replace('encoding="utf-8"', f'encoding="{encoding}"')
    return text.encode(encoding)


def _quadratic_blowup(entity_kb: int = 60, references: int = 20_000) -> bytes:
    """~120 KB that expands to ~1.2 GB. One declaration per line is the form feedparser keeps
    and hands to its loose parser: without check_entities this feed peaks at ~3.6 GB."""
    prolog = f'<!DOCTYPE rss [\n<!ENTITY a "{"A" * (entity_kb * 1024)}">\n]>'
    item = f"<item><title>blowup</title><link>https://example.com/q</link><description>{'&a;' * references}</description></item>"
    return _rss(item, prolog)


_CHILD = textwrap.dedent("""
    import json, resource, sys
    from monitor.errors import ParseError
    from monitor.ingest.parse import parse_feed
    body = open(sys.argv[1], "rb").read()
    try:
        items = parse_feed(body, "hostile")
        outcome, message = "parsed", f"{len(items)} items, {sum(len(i.text) for i in items)} chars"
    except ParseError as exc:
        outcome, message = "refused", str(exc)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    maxrss_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    try:  # Linux: this program's own high-water mark (ru_maxrss keeps the parent's across exec)
        status = open("/proc/self/status").read()
        hwm_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        hwm_mb = None
    print(json.dumps({"outcome": outcome, "message": message, "maxrss_mb": maxrss_mb,
                      "peak_mb": maxrss_mb if hwm_mb is None else hwm_mb}))
""")


def _parse_in_child(body: bytes, tmp_path: Path) -> dict:
    """Parse in a fresh interpreter and report its peak memory.

    On Linux ru_maxrss survives fork and exec, so a child of a large pytest process reports
    the parent's peak; VmHWM from /proc/self/status is the child's own peak and is used when
    present (ru_maxrss is reported beside it)."""
    pytest.importorskip("resource")
    feed = tmp_path / "feed.xml"
    feed.write_bytes(body)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(feed)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("attack", ["billion-laughs", "quadratic-blowup"])
def test_entity_expansion_is_refused_with_bounded_memory(attack, tmp_path):
    body = _billion_laughs() if attack == "billion-laughs" else _quadratic_blowup()
    if attack == "quadratic-blowup":
        assert 100_000 < len(body) < 200_000  # ~120 KB on the wire, > 1 GB expanded
    result = _parse_in_child(body, tmp_path)
    print(f"{attack}: {result}")
    assert result["outcome"] == "refused", result
    assert "expansion" in result["message"], result
    assert result["peak_mb"] < PEAK_RSS_LIMIT_MB, result


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be", "utf-32-le", "cp037"])
def test_entity_expansion_is_refused_in_any_encoding(encoding):
    """The scan reads the bytes the way feedparser decodes them, so no encoding hides a DTD."""
    with pytest.raises(ParseError, match="expansion"):
        parse_feed(_billion_laughs(encoding), "hostile")
    prolog = f'<!DOCTYPE rss [<!ENTITY a "{"A" * 20_000}">]>'
    text = _rss(f"<item><title>q</title><description>{'&a;' * 100}</description></item>", prolog).decode()
    with pytest.raises(ParseError, match="expansion"):
        parse_feed(text.replace('encoding="utf-8"', f'encoding="{encoding}"').encode(encoding), "hostile")


def test_entity_declaration_hidden_in_utf7_is_refused():
    body = (b'<?xml version="1.0" encoding="utf-7"?>'
            b'+ADwAIQ-DOCTYPE rss +AFsAPAAh-ENTITY a +ACI-' + b"A" * 20_000 + b'+ACIAPgBd-+AD4-'
            b'<rss version="2.0"><channel><title>t</title><item><title>x</title><description>'
            + b"+ACY-a+ADs-" * 100 + b"</description></item></channel></rss>")
    with pytest.raises(ParseError, match="expansion"):
        parse_feed(body, "hostile")


def test_small_internal_entities_still_parse():
    # one declaration per line, as real feeds write them (feedparser keeps only those)
    prolog = ('<!DOCTYPE rss [\n<!ENTITY id "tag:example.com,">\n<!ENTITY nbsp "&#160;">\n'
              '<!ENTITY outlet "Example News">\n]>')
    item = ("<item><title>Drone strike&nbsp;hits base</title><guid>&id;2024:1</guid>"
            "<link>https://example.com/a/9</link><description>Reported by &outlet;.</description></item>")
    items = parse_feed(_rss(item, prolog), "legit")
    assert len(items) == 1
    assert items[0].key == "id:tag:example.com,2024:1"
    assert items[0].text == "Reported by Example News."
    assert items[0].title.replace("\xa0", " ") == "Drone strike hits base"


# --- markup and script links never pass through -------------------------------------------------

HOSTILE_TITLES = [
    "Plain <b>bold</b> headline",
    "<script>alert(1)</script>Headline after script",
    '<a href="javascript:alert(1)">Click headline</a>',
    '<img src="x" onerror="alert(1)">Image headline',
    "&lt;script&gt;alert(1)&lt;/script&gt;Encoded script headline",
    '&lt;a href="javascript:alert(1)"&gt;Encoded link headline&lt;/a&gt;',
    "&amp;lt;b&amp;gt;Double-encoded&amp;lt;/b&amp;gt; headline",
    "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;Double-encoded script",
    '<![CDATA[<iframe src="javascript:alert(1)"></iframe><p onclick="x()">CDATA headline</p>]]>',
    '<svg><a xlink:href="javascript:alert(1)">SVG headline</a></svg>',
]


def _markup_feeds(title: str, link: str):
    escaped = title  # already XML (escaped or CDATA) as written above
    yield "rss", _rss(f"<item><title>{escaped}</title><link>{link}</link>"
                      f"<description>{escaped} body</description></item>")
    for kind in ("text", "html"):
        yield f"atom-{kind}", (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>t</title><id>urn:x</id><entry><id>urn:x:1</id><title type="{kind}">{escaped}</title>'
            f'<link rel="alternate" href="{link}"/><summary type="{kind}">{escaped} body</summary>'
            f'<content type="{kind}">{escaped} content</content></entry></feed>').encode()


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_markup_and_script_never_reach_items(title):
    for link in ("javascript:alert(document.cookie)", "JavaScript:alert(1)",
                 "data:text/html;base64,PHNjcmlwdD4=", " java&#x09;script:alert(1)"):
        for kind, body in _markup_feeds(title, link):
            items = parse_feed(body, "hostile")
            assert len(items) == 1, (kind, title)
            item = items[0]
            for field in (item.title, item.text):
                assert not TAG.search(field), (kind, title, field)
                assert "javascript:" not in field.lower(), (kind, title, field)
                assert "alert(" not in field, (kind, title, field)
            assert item.title, (kind, title)
            assert item.url is None, (kind, link, item.url)


def test_http_link_is_kept_and_canonicalised():
    items = parse_feed(_rss("<item><title>t</title>"
                            "<link>HTTPS://Example.COM:443/a/1?utm_source=rss&amp;id=7#top</link></item>"),
                       "f")
    assert items[0].url == "https://example.com/a/1?id=7"


def test_relative_link_is_resolved_against_the_feed_url():
    items = parse_feed(_rss("<item><title>t</title><link>/news/1</link></item>"), "f",
                       url="https://example.com/feeds/world.xml")
    assert items[0].url == "https://example.com/news/1"


@pytest.mark.parametrize("body, reason", [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"<html><head><title>Login</title></head><body><p>Sign in</p></body></html>", "not a feed"),
    (b"hello, not xml at all", "not a readable feed"),
    (b'{"data": [{"title": "an API answer"}]}', "JSON, but no JSON Feed"),  # JSON Feed: test_jsonfeed.py
])
def test_non_feeds_are_refused_with_a_clear_message(body, reason):
    with pytest.raises(NotAFeed, match=reason):
        parse_feed(body, "f")


# --- canonical_url and item_key ------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("https://example.com/a?utm_source=rss&utm_medium=feed&utm_campaign=x&id=3",
     "https://example.com/a?id=3"),
    ("https://example.com/a?fbclid=abc&gclid=def&page=2", "https://example.com/a?page=2"),
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/a?b=1#frag", "https://example.com/a?b=1"),
    ("HTTPS://WWW.Example.COM/Path/Case", "https://www.example.com/Path/Case"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com", "https://example.com/"),
    ("  https://example.com/a  ", "https://example.com/a"),
    ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ("https://user:secret@example.com/a", "https://example.com/a"),
    ("javascript:alert(1)", None),
    ("JAVASCRIPT:alert(1)", None),
    ("java\tscript:alert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("mailto:editor@example.com", None),
    ("ftp://example.com/file", None),
    ("file:///etc/passwd", None),
    ("/relative/path", None),
    ("", None),
    ("http://example.com:99999/", None),
    ("http:///nohost", None),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_canonical_url_is_idempotent():
    for url in ("https://Example.com:443/a?utm_source=x&b=2&a=1#f", "http://example.com/p?q=a+b&r=%2F"):
        once = canonical_url(url)
        assert canonical_url(once) == once


def test_item_key_prefers_guid_then_link_then_hash():
    assert item_key("urn:uuid:1", "https://example.com/a", "t", "x") == "id:urn:uuid:1"
    assert item_key("  guid-7 ", None, "t", "x") == "id:guid-7"
    assert item_key("", "https://example.com/a", "t", "x") == "url:https://example.com/a"
    assert item_key("   ", "https://example.com/a", "t", "x") == "url:https://example.com/a"
    hashed = item_key(None, None, "Title", "Text")
    assert hashed.startswith("sha:") and len(hashed) == 44
    assert hashed == item_key(None, None, "Title", "Text")  # stable
    assert hashed != item_key(None, None, "Title", "Other text")
    assert hashed != item_key(None, None, "TitleText", "")  # fields do not run together


def test_item_key_is_bounded_and_stable_for_huge_guids():
    key = item_key("x" * 5000, None, "t", "x")
    assert key.startswith("sha:") and len(key) <= 200
    assert key == item_key("x" * 5000, None, "t", "x")


def test_item_keys_from_a_feed_are_stable_across_parses():
    body = _rss(ITEM + "<item><title>No guid</title><link>https://example.com/b?utm_source=x</link></item>"
                "<item><title>Neither</title><description>only text</description></item>")
    first, second = parse_feed(body, "f"), parse_feed(body, "f")
    assert [i.key for i in first] == [i.key for i in second]
    assert [i.key for i in first][:2] == ["id:https://example.com/a/1", "url:https://example.com/b"]
    assert first[2].key.startswith("sha:")


def test_links_taken_as_canonical_already_are_what_the_full_steps_give(real_feed_links):
    """canonical_url gives back links of a plain shape without taking them apart: each such link,
    from the real outlet feeds and a few of odd characters, is what the full steps make of it."""
    from monitor.ingest.parse import _CANONICAL_ALREADY, _canonical
    odd = ["https://example.com/a%20b", "https://example.com/a:b@c;d=1,e", "https://ex-ample.co.uk/~u/x.html",
           "http://1.2.3.4/", "https://example.com//double", "https://example.com/a/./b/../c",
           "https://example.com/!$&'*+"]
    plain = [link for link in real_feed_links + odd if _CANONICAL_ALREADY.fullmatch(link)]
    assert len(plain) > 100
    assert [_canonical(link) for link in plain] == plain
    for other in ("https://Example.com/a", "https://example.com:8443/a", "https://example.com/a?b=1",
                  "https://u@example.com/a", "https://example.com", "https://example.com/a#f",
                  "https://example.com/a b", "https://example.com/(a)", "https://example.com/é"):
        assert not _CANONICAL_ALREADY.fullmatch(other)


@pytest.fixture(scope="module")
def real_feed_links():
    from test_corpus import REAL_FEEDS as folder
    links = [m.decode() for path in sorted(folder.glob("*.xml"))
             for m in re.findall(rb"https?://[^\s<>\"']+", path.read_bytes())]
    if not links:
        pytest.skip(f"no real feeds at {folder}")
    return links
