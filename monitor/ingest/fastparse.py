"""feedparser-rs (a Rust parser with feedparser's API) for the plain feeds it reads as feedparser
does; None for every other feed, which feedparser then parses.

feedparser stays the reference. feedparser-rs 0.7 differs from it on about one corpus file in ten
(bench/parsers.py lists them): legacy formats (RSS 0.9x and 1.0, Atom 0.3, CDF), charsets other
than UTF-8, base64 and XHTML content, xml:base, RSS items with Atom or dcterms elements, repeated
elements (feedparser keeps the first title, feedparser-rs the last), media:title and
media:description (feedparser reads them as the item's title and description). It also gives an
empty element written <x/> the text of the element after it, leaves entity references in
attribute values undecoded, and picks another Atom link than feedparser. So a feed goes to it
only when

- its bytes are UTF-8 and nothing declares another charset;
- it is well-formed XML without a DOCTYPE, read by expat as feedparser's own strict parser
  reads it (feedparser's loose parser, for broken XML, is feedparser's alone);
- it is RSS 2.0 or Atom 1.0 built only from the elements in _RSS or _ATOM, each where that table
  puts it, in the usual namespaces under the usual prefixes; title, link, description and the like
  at most once per item; no xml:base; Atom text is plain text or escaped HTML;
- feedparser-rs reads it as that version, without complaint (not bozo), with one entry per item.

Before the parse every <x/> is written <x></x> (the same XML). What feedparser does after
parsing is done here too: media:description goes where feedparser puts it, text gets its cp1252
repairs, links and permalink guids its URL fix-ups, dates its date reader, and an Atom entry's
link is chosen by its rule from the attributes expat decoded. The hostile-XML guard
(parse.check_entities) runs before this, as before feedparser.
"""

import functools
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

try:
    import feedparser_rs

    # feedparser's own date reader, cp1252 table and URL fix-up, so values come out as its do
    from feedparser.datetimes import _parse_date as feedparser_date
    from feedparser.html import _cp1252 as CP1252
    from feedparser.urls import _urljoin as feedparser_urljoin
except ImportError:  # optional: without them every feed goes to feedparser
    feedparser_rs = None

ATOM_NS = "http://www.w3.org/2005/Atom"
_ATOM_FEED = f"{ATOM_NS} feed"
_NAMESPACES = {"atom": ATOM_NS, "content": "http://purl.org/rss/1.0/modules/content/",
               "media": "http://search.yahoo.com/mrss/", "dc": "http://purl.org/dc/elements/1.1/",
               "sy": "http://purl.org/rss/1.0/modules/syndication/",
               "slash": "http://purl.org/rss/1.0/modules/slash/",
               "wfw": "http://wellformedweb.org/CommentAPI/"}
_WORDPRESS_NS = "com-wordpress:feed-additions:1"  # <site> and <post-id> declare it themselves
_XML_LANG = "http://www.w3.org/XML/1998/namespace lang xml"
_SYNDICATION = {"sy:updatePeriod", "sy:updateFrequency", "sy:updateBase"}
# Each element's allowed children; the root's parent is None.
_RSS = {
    None: {"rss"},
    "rss": {"channel"},
    "channel": {"title", "link", "description", "language", "copyright", "managingEditor",
                "webMaster", "pubDate", "lastBuildDate", "category", "generator", "docs", "ttl",
                "image", "atom:link", "site", "item"} | _SYNDICATION,
    "image": {"url", "title", "link", "width", "height", "description"},
    "item": {"title", "link", "description", "content:encoded", "media:description", "guid",
             "pubDate", "author", "category", "comments", "enclosure", "atom:link", "dc:creator",
             "media:content", "media:thumbnail", "media:credit", "slash:comments",
             "wfw:commentRss", "post-id"},
    "media:content": {"media:credit"},
}
_ATOM = {
    None: {"feed"},
    "feed": {"title", "subtitle", "link", "id", "updated", "author", "contributor", "rights",
             "generator", "icon", "logo", "category", "entry"},
    "author": {"name", "email", "uri"},
    "contributor": {"name", "email", "uri"},
    "entry": {"id", "title", "link", "updated", "published", "author", "contributor", "summary",
              "content", "category", "rights"},
}
_ONCE_PER_ITEM = {"title", "link", "description", "content:encoded", "media:description", "guid",
                  "pubDate", "id", "summary", "content", "published", "updated"}
_MAX_ATOM_LINKS = 50  # feedparser-rs keeps no more per entry (ParserLimits.max_links_per_entry)
_ATOM_TEXT = {"title", "summary", "content", "subtitle", "rights"}
_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}
_EMPTY_TAG = re.compile(rb"""<([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*/>""")
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_RFC822 = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (" + "|".join(_MONTHS) + r") (\d{4}) "
                     r"(\d\d):(\d\d):(\d\d) (?:GMT|UT|Z|([+-])(\d\d)(\d\d))")
_ASCII_NAMES = frozenset({"us-ascii", "ascii"})
_UTF8_NAMES = frozenset({"utf-8", "utf8"}) | _ASCII_NAMES


class _Unfit(Exception):
    """The feed has something feedparser-rs does not read as feedparser does."""


@dataclass
class _Item:
    children: list[str] = field(default_factory=list)  # names, in document order
    guid_is_link: bool = False  # a guid without isPermaLink="false", or an Atom id
    atom_link: str | None = None  # feedparser's choice among an Atom entry's links


def available() -> bool:
    return feedparser_rs is not None


def parse(body: bytes, charsets: tuple[str | None, ...] = ()) -> list[dict] | None:
    """The entries of a feed that fits (see the module's docstring), as feedparser would give
    them to normalise_entry; None when feedparser must read the feed.
    charsets: those the feed declares (Content-Type, XML declaration)."""
    if feedparser_rs is None or not _is_utf8(body, charsets):
        return None
    shape = _Shape.of(body)
    if shape is None or not shape.items or not shape.fits:
        return None  # feedparser decides what an empty feed is, among others
    parsed = parse_anyway(shape.with_end_tags(body))
    if parsed.bozo or parsed.version != shape.version or len(parsed.entries) != len(shape.items):
        return None
    if any(_link_dropped(entry, item, shape.version) for entry, item in zip(parsed.entries, shape.items)):
        return None  # feedparser-rs drops links to loopback and private hosts; feedparser keeps them
    return [_entry(entry, item, shape.version) for entry, item in zip(parsed.entries, shape.items)]


def parse_anyway(body: bytes):
    """feedparser-rs's result whatever the feed (its drop-in feedparser.parse)."""
    # bytes, never str: a str that looks like a URL would be fetched
    return feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)


def _is_utf8(body: bytes, charsets: tuple[str | None, ...]) -> bool:
    """UTF-8 bytes, and nothing declares another charset (ASCII only for ASCII bytes, so that
    feedparser's warning about a charset that does not fit is not lost)."""
    declared = {charset.lower() for charset in charsets if charset}
    if declared - _UTF8_NAMES or (declared & _ASCII_NAMES and not body.isascii()):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Shape:
    """A feed's elements as expat reads them, checked against the tables as they come."""

    def __init__(self, body: bytes, parser):
        self.body, self.parser = body, parser
        self.tree, self.version = _RSS, "rss20"
        self.stack: list[tuple[str | None, int]] = []  # open elements: name, where they start
        self.items: list[_Item] = []
        self.empty_tags: list[re.Match] = []

    @classmethod
    def of(cls, body: bytes) -> "_Shape | None":
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.namespace_prefixes = True
        shape = cls(body, parser)
        parser.StartElementHandler, parser.EndElementHandler = shape.start, shape.end
        parser.StartDoctypeDeclHandler = _refuse
        try:
            parser.Parse(body, True)
        except (xml.parsers.expat.ExpatError, _Unfit):
            return None
        return shape

    def start(self, expat_name: str, attributes: dict[str, str]) -> None:
        parent = self.stack[-1][0] if self.stack else None
        if parent is None and expat_name == _ATOM_FEED:
            self.tree, self.version = _ATOM, "atom10"
        name = _name(expat_name, self.tree is _ATOM)
        if name not in self.tree.get(parent, ()):
            raise _Unfit(expat_name)
        if attributes:
            _check_attributes(name, attributes, self.version)
        if name in ("item", "entry"):
            self.items.append(_Item())
        elif parent in ("item", "entry"):
            self._child(name, attributes)
        self.stack.append((name, self.parser.CurrentByteIndex))

    def end(self, _expat_name: str) -> None:
        """Notes an empty-element tag: expat ends it just after its "/>"."""
        _, start = self.stack.pop()
        at = self.parser.CurrentByteIndex
        if self.body[at - 2:at] == b"/>":  # or text ending in "/>" before an end tag
            tag = _EMPTY_TAG.match(self.body, start)
            if tag and tag.end() == at:
                self.empty_tags.append(tag)

    def _child(self, name: str, attributes: dict[str, str]) -> None:
        item = self.items[-1]
        if name in item.children and not self._may_repeat(name, item.children):
            raise _Unfit(f"{name} repeated")
        item.children.append(name)
        if name == "guid" or name == "id":  # feedparser reads Atom's <id> as a permalink guid
            item.guid_is_link = attributes.get("isPermaLink", "true") == "true"
        elif name == "link" and self.version == "atom10":
            item.atom_link = _atom_link(attributes, item.atom_link)

    def _may_repeat(self, name: str, children: list[str]) -> bool:
        if name == "link" and self.version == "atom10":
            return children.count(name) < _MAX_ATOM_LINKS
        return name not in _ONCE_PER_ITEM

    def with_end_tags(self, body: bytes) -> bytes:
        """The body with each empty-element tag <x a="1"/> written <x a="1"></x>."""
        if not self.empty_tags:
            return body
        parts, start = [], 0
        for tag in self.empty_tags:
            parts += [body[start:tag.start()], b"<", tag[1], tag[2], b"></", tag[1], b">"]
            start = tag.end()
        parts.append(body[start:])
        return b"".join(parts)

    @property
    def fits(self) -> bool:
        """Not a caption beside content:encoded: how feedparser places the two is not mirrored."""
        return not any("media:description" in item.children and "content:encoded" in item.children
                       for item in self.items)


@functools.lru_cache(maxsize=1024)
def _name(expat_name: str, atom: bool) -> str | None:
    """"media:description" for expat's "http://search.yahoo.com/mrss/ description media"; None
    for a name in an unusual namespace or under an unusual prefix."""
    parts = expat_name.split(" ")
    if len(parts) == 1:
        return None if atom else expat_name
    if len(parts) == 3:
        return f"{parts[2]}:{parts[1]}" if _NAMESPACES.get(parts[2]) == parts[0] else None
    if parts[0] == (ATOM_NS if atom else _WORDPRESS_NS):
        return parts[1]
    return None


def _refuse(*args) -> None:
    raise _Unfit("DOCTYPE")


def _check_attributes(name: str, attributes: dict[str, str], version: str) -> None:
    """No xml:base or other namespaced attribute but xml:lang; links, guids and Atom text as
    feedparser-rs reads them like feedparser."""
    if any(" " in key and key != _XML_LANG for key in attributes):
        raise _Unfit(f"{name}: namespaced attribute")
    if version == "rss20" and name == "link" and attributes:
        raise _Unfit("RSS <link> with attributes: feedparser reads it as Atom's")
    if name == "atom:link" and attributes.get("rel", "alternate") == "alternate":
        raise _Unfit("atom:link rel=alternate: feedparser takes it as the item's link")
    if name == "guid" and (set(attributes) - {"isPermaLink"} or
                           attributes.get("isPermaLink", "true") not in ("true", "false")):
        raise _Unfit("guid attributes")
    if version == "atom10" and name in _ATOM_TEXT and (
            attributes.get("type", "text") not in ("text", "html") or {"src", "mode"} & set(attributes)):
        raise _Unfit(f"{name}: type, src or mode")
    if version == "atom10" and name == "link" and ("href" not in attributes or
                                                   {"url", "uri"} & set(attributes)):
        raise _Unfit("Atom link without href, or with url or uri (feedparser prefers those)")
    if version == "atom10" and name == "id" and attributes:
        raise _Unfit("Atom id with attributes")


def _atom_link(attributes: dict[str, str], chosen: str | None) -> str | None:
    """feedparser's entry link: the last alternate link of an HTML type."""
    rel = attributes.get("rel", "alternate")
    kind = attributes.get("type", "application/atom+xml" if rel == "self" else "text/html")
    if rel == "alternate" and kind.lower() in _HTML_TYPES:
        return _as_feedparser_url(attributes["href"])
    return chosen


def _entry(entry, item: _Item, version: str) -> dict:
    """An entry as read_entry reads it from feedparser, but for its dates: their texts, which
    parsed_dates reads."""
    summary = entry.get("summary")
    content = [part.get("value") for part in entry.get("content") or []]
    if "media:description" in item.children:
        # feedparser reads media:description as a description: the first of the two is the
        # summary, the second becomes a content
        texts = {"description": summary, "media:description": entry.get("media_description")}
        summary, *content = [texts[name] for name in item.children if name in texts]
    view = {"title": _as_feedparser_text(entry.get("title")), "link": _link(entry, item, version),
            "id": _id(entry, item), "summary": _as_feedparser_text(summary),
            "content": [{"value": _as_feedparser_text(text)} for text in content],
            "published": entry.get("published")}
    if version == "atom10":  # RSS 2.0 items have no updated date in feedparser
        view["updated"] = entry.get("updated")
    return view


def parsed_dates(view: dict):
    """The entry's published and updated dates as feedparser gives them (published_parsed,
    updated_parsed; a UTC datetime where _rfc822_date read it), read one by one as asked for: a
    poll reads the dates of new entries only."""
    for field in ("published", "updated"):
        yield _date(view.get(field))


def _link_dropped(entry, item: _Item, version: str) -> bool:
    return version != "atom10" and "link" in item.children and not entry.get("link")


def _link(entry, item: _Item, version: str) -> str | None:
    if version == "atom10":  # without an alternate link, feedparser takes the <id>
        return item.atom_link if item.atom_link is not None else _id(entry, item)
    link = entry.get("link")
    if not link:
        return link
    link = _as_feedparser_url(_as_feedparser_text(link))
    if "link" in item.children and "&" in link:  # feedparser undoes "&amp;" and "&x;" in <link>
        link = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", link.replace("&amp;", "&"))
    return link


def _id(entry, item: _Item) -> str | None:
    guid = _as_feedparser_text(entry.get("id"))
    return _as_feedparser_url(guid) if guid and item.guid_is_link else guid


def _as_feedparser_url(url: str) -> str:
    """feedparser's resolving against no base: only "http:///x" changes (to "http://x")."""
    return feedparser_urljoin("", url) if ":///" in url else url


def _as_feedparser_text(text: str | None) -> str | None:
    """Text as feedparser leaves it: UTF-8 read as Latin-1 undone, cp1252's C1 characters mapped."""
    if not text or text.isascii():
        return text
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(CP1252) if _C1_CONTROLS.search(text) else text


def _date(text: str | None):
    if not text:
        return None
    text = _as_feedparser_text(text)
    return _rfc822_date(text) or feedparser_date(text)


def _rfc822_date(text: str) -> datetime | None:
    """A date in RSS's usual form ("Mon, 30 Nov 2026 21:06:09 +0000") as a UTC datetime, the
    instant feedparser's RFC 822 reader gives, without trying its other readers first and
    without its time tuple; None for any other form, or a date that is not one (feedparser then
    decides)."""
    match = _RFC822.fullmatch(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    try:
        stamp = datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                         tzinfo=timezone.utc)
        if zone_hours is None:
            return stamp
        offset = timedelta(0, int(zone_hours) * 3600 + int(zone_minutes) * 60)
        return stamp + offset if sign == "-" else stamp - offset
    except (OverflowError, ValueError):
        return None
