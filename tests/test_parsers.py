"""feedparser-rs behind parse_feed: wherever parse_feed (parser="auto") reads a feed with it, the
Items are feedparser's; every other feed, and every feed it rejects, goes to feedparser; the
hostile-XML guard stands in front of both; without feedparser-rs nothing changes.

The corpus sample is every tenth file of shared/data/feedparser-corpus plus the five real feeds
(skipped when shared/ is absent); bench/parsers.py measures the whole corpus and the speed-up.
"""

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from peers import Route

from monitor.errors import ParseError, Refused
from monitor.ingest import fastparse
from monitor.ingest.parse import _first_date, fast_parser_fits, parse_feed

needs_fast_parser = pytest.mark.skipif(not fastparse.available(), reason="feedparser-rs is not installed")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "feedparser-corpus"
REAL_FEEDS = SHARED / "real-feeds"
NAMESPACES = ('xmlns:content="http://purl.org/rss/1.0/modules/content/" '
              'xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom" '
              'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def outcome(body: bytes, parser: str, content_type: str | None = None):
    """The Items (every field) or the ParseError message."""
    try:
        return parse_feed(body, "f", url="https://feeds.example/f.xml", content_type=content_type,
                          parser=parser)
    except ParseError as exc:
        return f"{type(exc).__name__}: {exc}"


def rss(*items: str, channel: str = "<title>c</title>") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" {NAMESPACES}><channel>{channel}'
            + "".join(f"<item>{item}</item>" for item in items) + "</channel></rss>").encode()


def atom(*entries: str) -> bytes:
    return ('<feed xmlns="http://www.w3.org/2005/Atom"><title>f</title>'
            + "".join(f"<entry>{entry}</entry>" for entry in entries) + "</feed>").encode()


# --- the corpus sample and the real feeds ----------------------------------------------------------

def _sample() -> list[Path]:
    if not CORPUS.is_dir() or not REAL_FEEDS.is_dir():
        pytest.skip(f"{SHARED} is absent: clone the repository beside shared/")
    return sorted(CORPUS.rglob("*.xml"))[::10] + sorted(REAL_FEEDS.glob("*.xml"))


@needs_fast_parser
def test_where_the_fast_parser_is_used_the_items_are_feedparsers():
    fast = []
    for path in _sample():
        body = path.read_bytes()
        assert outcome(body, "auto") == outcome(body, "feedparser"), path
        if fast_parser_fits(body):
            fast.append(path)
    assert len(fast) >= 50, "the policy should cover the plain RSS 2.0 and Atom 1.0 feeds"  # 59 of 216
    assert {p.stem for p in fast} >= {"aljazeera", "bbc_world", "mehr", "nyt", "nyt_home"}


@needs_fast_parser
def test_the_real_feeds_differ_between_the_parsers_alone():
    """Why a policy at all: as a drop-in, feedparser-rs changes the NYT items' text (feedparser
    reads the photo caption, media:description, as a description; parse_feed keeps that)."""
    if not REAL_FEEDS.is_dir():
        pytest.skip(f"{REAL_FEEDS} is absent")
    body = (REAL_FEEDS / "nyt.xml").read_bytes()
    alone, reference = outcome(body, "feedparser-rs"), outcome(body, "feedparser")
    assert [i.text for i in alone] != [i.text for i in reference]
    assert outcome(body, "auto") == reference


# --- hand-written feeds: which parser reads them, and the same Items either way ---------------------

CASES = {
    # fast, with feedparser's Items although feedparser-rs alone gets them wrong
    "empty <content:encoded/> before a date": (True, rss(
        "<title>t</title><content:encoded/><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate>"
        "<link>http://x.org/a</link>")),
    "empty <title/>": (True, rss("<title/><description>d</description><link>http://x.org/a</link>")),
    "caption after a short description": (True, rss(
        "<title>t</title><description>short</description><media:description>a longer caption"
        "</media:description>")),
    "caption before the description": (True, rss(
        "<title>t</title><media:description>wxyz</media:description><description>abcd</description>")),
    "caption and an empty description": (True, rss(
        "<title>t</title><description></description><media:description>cap</media:description>")),
    "cp1252 characters in UTF-8": (True, rss("<title>don\x92t \x80 &#x92;</title>")),
    "&amp;amp; in a link": (True, rss("<title>t</title><link>http://x.org/?a=1&amp;amp;b=2&amp;c;=3</link>")),
    "guid as link": (True, rss("<title>t</title><guid>http://x.org/?a=1&amp;amp;b=2</guid>")),
    "CDATA with HTML and script": (True, rss(
        "<title><![CDATA[A <b>bold</b> & co]]></title>"
        "<description><![CDATA[<p>x</p><script>evil()</script><img src='/a.png'/>]]></description>")),
    "whitespace around values": (True, rss("<title>\n  t  \n</title><link>\n http://x.org/a \n</link>")),
    "dates in several forms": (True, rss(
        "<title>a</title><pubDate>2024-01-01T10:00:00+05:30</pubDate>",
        "<title>b</title><pubDate>Mon, 1 Jan 2024 10:00:00 EST</pubDate>",
        "<title>c</title><pubDate>Mon, 01 Jan 24 10:00 GMT</pubDate>",
        "<title>d</title><pubDate>yesterday</pubDate>")),
    "comment and processing instruction": (True, rss("<title>a<!-- c -->b</title>").replace(
        b"?><rss", b'?><?xml-stylesheet href="s.xsl"?><rss')),
    "Atom with links, dates, html": (True, atom(
        '<title type="html">A &lt;b&gt;x&lt;/b&gt;</title><link rel="related" href="http://x.org/r"/>'
        '<link href="/relative"/><id>urn:1</id><updated>2024-02-03T04:05:06-02:00</updated>'
        '<summary>s</summary><content type="html">&lt;p&gt;longer content&lt;/p&gt;</content>')),
    "text ending in />": (True, rss("<title>x/></title><description>d/></description>")),
    "Atom entry without a link takes its id": (True, atom("<title>t</title><id>http://x.org/id</id>")),
    "Atom links with &amp; and a newline in href": (True, atom(
        '<title>t</title><link href="http://x.org/?a=1&amp;b=2&#38;c=3"/><link rel="alternate" '
        'type="text/html" href="http://x.org/\nlast?x=&quot;y&quot;"/>')),
    # feedparser, because feedparser-rs reads them otherwise
    'guid isPermaLink="True"': (False, rss('<title>t</title><guid isPermaLink="True">http://x.org/g</guid>')),
    "atom:link without rel in an item": (False, rss('<title>t</title><atom:link href="http://x.org/a"/>')),
    "a repeated title": (False, rss("<title>a</title><title>b</title>")),
    "media:title": (False, rss("<media:title>m</media:title><title>t</title>")),
    "caption inside media:content": (False, rss(
        '<title>t</title><media:content url="http://x.org/i.jpg"><media:description>nested'
        "</media:description></media:content>")),
    "caption and content:encoded": (False, rss(
        "<title>t</title><media:description>m</media:description><content:encoded>c</content:encoded>")),
    "media prefix for another namespace": (False, rss(
        "<title>t</title><media:description>cap</media:description>").replace(
        b"http://search.yahoo.com/mrss/", b"http://example.org/other")),
    "dc:date": (False, rss("<title>t</title><dc:date>2024-01-01T00:00:00Z</dc:date>")),
    "an HTML entity without a DTD": (False, rss("<title>a&nbsp;b</title>")),
    "a DOCTYPE": (False, b'<!DOCTYPE rss [<!ENTITY e "x">]>' + rss("<title>&e;</title>")),
    "a stray <": (False, rss("<title>a < b</title>")),
    "Atom XHTML content": (False, atom(
        '<title>t</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>')),
    "RSS 0.91": (False, b'<rss version="0.91"><channel><item><title>t</title></item></channel></rss>'),
    "links to loopback and private hosts (feedparser-rs drops them)": (False, rss(
        "<title>a</title><link>http://127.0.0.1:8080/news/a</link>",
        "<title>b</title><link>http://10.1.2.3/b</link>")),
    "an item with Atom's <link href>": (False, rss('<title>t</title><link href="http://x.org/a"/>')),
    "xml:base": (False, rss('<title>t</title><description xml:base="http://x.org/">d</description>')),
    "windows-1252 bytes": (False, rss("<title>caf\u00e9</title>").replace(b"UTF-8", b"windows-1252")
                           .replace("caf\u00e9".encode(), "caf\u00e9".encode("cp1252"))),
    "no items": (False, rss()),
}


@needs_fast_parser
@pytest.mark.parametrize("name", sorted(CASES))
def test_hand_written_feed(name):
    fast, body = CASES[name]
    assert fast_parser_fits(body) is fast
    assert outcome(body, "auto") == outcome(body, "feedparser")


@needs_fast_parser
@pytest.mark.parametrize("content_type, fast", [
    (None, True), ("text/xml", True), ("text/html", True), ("application/rss+xml; charset=UTF-8", True),
    ("application/rss+xml; charset=iso-8859-1", False),
    ("application/xml; charset=us-ascii", False),  # feedparser warns that it does not fit
])
def test_the_content_type_charset_decides_too(content_type, fast):
    body = rss("<title>Caf\u00e9 \u2018Erbil\u2019 \u0627\u0631\u0628\u064a\u0644</title>")
    assert fast_parser_fits(body, content_type) is fast
    assert outcome(body, "auto", content_type) == outcome(body, "feedparser", content_type)
    ascii_body = rss("<title>Erbil</title>")
    assert fast_parser_fits(ascii_body, "application/xml; charset=us-ascii")


# --- random feeds from the allowed elements, with text that tends to break parsers -------------------

TEXTS = ["plain words", "", "  padded \n text  ", "caf\u00e9 \u0627\u0631\u0628\u064a\u0644 \U0001f680",
         "&lt;p&gt;escaped &amp;amp; html&lt;/p&gt;", "<![CDATA[<p>cdata <b>html</b> & more</p>]]>",
         "&#8217;quoted&#8217; &#x92; \x93smart\x94", "a &amp; b", "1 &lt; 2 &gt; 0", "<![CDATA[]]>",
         "x" * 300, "<![CDATA[<script>alert(1)</script>text]]>", "caf\u00c3\u00a9 twice encoded",
         "<!-- a comment -->after", "tab\there &#10; newline ref", "crlf\r\nline &#13;&#10;refs\r\n",
         "<![CDATA[split ]]]]><![CDATA[> cdata]]>", "\ufeffbom \u200fright-to-left\u200e \u00a0nbsp"]
LINKS = ["http://x.org/a", "https://X.org:443/a?utm_source=rss&amp;id=7#frag", "/relative/path",
         "  http://x.org/space  ", "javascript:alert(1)", "http://x.org/?a=1&amp;amp;b=2", "",
         "http:///x.org/three-slashes", "http://x.org/caf\u00e9?q=&#34;x&#34;", "urn:uuid:1234",
         "http://x.org/a&#10;b"]
DATES = ["Mon, 01 Jan 2024 10:00:00 GMT", "Tue, 2 Jan 2024 10:00:00 +0530", "2024-01-03T04:05:06Z",
         "2024-01-03", "Wed, 03 Jan 24 10:00 EST", "not a date", "", "Thu, 31 Feb 2024 10:00:00 GMT",
         "2024-01-03T04:05:06.123+01:00", "Sun, 07 Jan 2024 25:00:00 GMT", "  Mon, 01 Jan 2024 10:00:00 Z  "]
ATTRIBUTES = {"guid": ['', ' isPermaLink="false"', ' isPermaLink="true"', ' isPermaLink="True"'],
              "title": ['', ' type="html"', ' type="text"', ' type="xhtml"'],
              "summary": ['', ' type="html"', ' type="text/html"'],
              "content": ['', ' type="html"', ' type="text"']}


def _element(rng: random.Random, name: str, atom: bool = False) -> str:
    if rng.random() < 0.08:
        return f"<{name}/>"
    value = rng.choice(DATES if name in ("pubDate", "published", "updated") else
                       LINKS if name in ("link", "guid", "id") else TEXTS)
    attributes = rng.choice(ATTRIBUTES.get(name, [""])) if atom or name == "guid" else ""
    return f"<{name}{attributes}>{value}</{name}>"


def random_rss_item(rng: random.Random) -> str:
    names = ["title", "link", "description", "content:encoded", "media:description", "guid",
             "pubDate", "category", "dc:creator"]
    parts = [_element(rng, name) for name in rng.sample(names, rng.randint(0, len(names)))]
    rel = rng.choice(["standout", "alternate", "related"])
    extras = ['<enclosure url="http://x.org/e.mp3?a=1&amp;b=2" length="1" type="audio/mpeg"/>',
              f'<atom:link rel="{rel}" href="{rng.choice(LINKS)}"/>',
              '<media:content url="http://x.org/i.jpg"><media:credit>AP</media:credit></media:content>',
              _element(rng, rng.choice(["title", "media:title", "dc:date", "link"]))]  # feedparser's
    for extra in extras:
        if rng.random() < 0.15:
            parts.insert(rng.randint(0, len(parts)), extra)
    return "".join(parts)


def random_atom_entry(rng: random.Random) -> str:
    names = ["title", "summary", "content", "id", "published", "updated"]
    parts = [_element(rng, name, atom=True) for name in rng.sample(names, rng.randint(0, len(names)))]
    for _ in range(rng.randint(0, 3)):
        rel = rng.choice(["", ' rel="alternate"', ' rel="related"', ' rel="enclosure"', ' rel="self"'])
        kind = rng.choice(["", "", ' type="text/html"', ' type="application/pdf"', ' type="HTML"'])
        parts.insert(rng.randint(0, len(parts)), f'<link{rel}{kind} href="{rng.choice(LINKS)}"/>')
    if rng.random() < 0.1:
        parts.append("<author><name>n</name><uri>http://x.org/n</uri></author>")
    return "".join(parts)


def random_feed(rng: random.Random) -> bytes:
    if rng.random() < 0.6:
        return rss(*(random_rss_item(rng) for _ in range(rng.randint(1, 4))))
    return atom(*(random_atom_entry(rng) for _ in range(rng.randint(1, 4))))


@needs_fast_parser
def test_random_feeds_give_feedparsers_items():
    """300 feeds by default; more with e.g. PARSER_FUZZ_FEEDS=10000 PARSER_FUZZ_SEED=1."""
    count = int(os.environ.get("PARSER_FUZZ_FEEDS", "300"))
    rng = random.Random(int(os.environ.get("PARSER_FUZZ_SEED", "20261130")))
    fast = 0
    for _ in range(count):
        body = random_feed(rng)
        fast += fast_parser_fits(body)
        assert outcome(body, "auto") == outcome(body, "feedparser"), body.decode()
    print(f"\n{count} random feeds, {fast} read by feedparser-rs, all with feedparser's Items")
    assert fast >= count // 4, f"only {fast} of {count} random feeds went to feedparser-rs"


@needs_fast_parser
def test_dates_in_rsss_usual_form_are_read_as_feedparser_reads_them():
    """fastparse reads "Mon, 30 Nov 2026 21:06:09 +0000" itself; every such date, and every
    near miss it leaves to feedparser, comes out as the datetime feedparser's reader gives."""
    from feedparser.datetimes import _parse_date as feedparser_date

    rng = random.Random(20261130)
    weekdays, months = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], list(fastparse._MONTHS)
    dates = ["Fri, 31 Dec 9999 23:00:00 -9959", "Mon, 01 Jan 0001 00:00:00 +0100",
             "Mon, 30 Feb 2020 10:00:00 Z", "mon, 30 nov 2026 21:06:09 gmt", "Mon, 3 Nov 2026 21:06:09 EST",
             "Mon, 30 Nov 2026 21:06 +0000", "Mon, 30 Nov 2026 21:06:09 +00:00", "2026-11-30T21:06:09Z"]
    for _ in range(5000):
        dates.append(f"{rng.choice(weekdays)}, {rng.randint(0, 39):02d} {rng.choice(months)} "
                     f"{rng.randint(1, 9999):04d} {rng.randint(0, 29):02d}:{rng.randint(0, 69):02d}:"
                     f"{rng.randint(0, 69):02d} " + rng.choice(
                         ["GMT", "UT", "Z", f"-{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}",
                          f"+{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}"]))
    read_here = sum(fastparse._rfc822_date(date) is not None for date in dates)
    assert [_first_date([fastparse._date(date)]) for date in dates] == \
        [_first_date([feedparser_date(date)]) for date in dates]
    assert read_here > 1000


# --- the guard, the parser argument, and life without feedparser-rs ---------------------------------

@pytest.mark.parametrize("parser", ["auto", "feedparser-rs"])
def test_hostile_xml_is_refused_before_either_parser(parser):
    laughs = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"x" * 1000 + b'">]><rss version="2.0">'
              b"<channel><item><title>" + b"&a;" * 200 + b"</title></item></channel></rss>")
    nested = (b'<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;">]><rss version="2.0"><channel><item>'
              b"<title>&b;</title></item></channel></rss>")
    for body in (laughs, nested):
        with pytest.raises(Refused):
            parse_feed(body, "f", parser=parser)


@needs_fast_parser
def test_feedparser_rs_is_never_handed_a_url(feed_server):
    """feedparser_rs.parse fetches a str that looks like a URL; parse_feed hands it bytes."""
    feed_server.routes["/trap.xml"] = Route(body=rss("<title>fetched</title>"))
    for parser in ("auto", "feedparser-rs"):
        with pytest.raises(ParseError):
            parse_feed(feed_server.url("/trap.xml").encode(), "f", parser=parser)
    assert feed_server.requests == []


def test_an_unknown_parser_is_a_clear_error():
    with pytest.raises(ValueError, match="parser must be one of auto, feedparser, feedparser-rs, not 'lxml'"):
        parse_feed(rss("<title>t</title>"), "f", parser="lxml")


def test_without_feedparser_rs_parse_feed_uses_feedparser():
    """feedparser-rs made unimportable in a fresh interpreter, as if it were not installed."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["feedparser_rs"] = None  # import feedparser_rs now raises ImportError
        from monitor.ingest.parse import _first_date, fast_parser_fits, parse_feed
        body = {rss("<title>Rocket attack</title><link>http://x.org/a</link>")!r}
        [item] = parse_feed(body, "f")
        assert item.title == "Rocket attack" and item.url == "http://x.org/a", item
        assert not fast_parser_fits(body)
        try:
            parse_feed(body, "f", parser="feedparser-rs")
        except ValueError as exc:
            assert "not installed" in str(exc), exc
        else:
            raise AssertionError("parser='feedparser-rs' without it installed")
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
