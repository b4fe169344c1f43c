"""Turn fetched bytes into normalised Items with feedparser, refusing hostile XML first.
feedparser-rs reads the plain feeds it is known to read the same way (see fastparse), faster.

feedparser falls back to a loose parser that expands entity declarations itself, so an
"entity expansion" feed ("billion laughs", or one large entity referenced thousands of times)
would cost gigabytes. `check_entities` refuses such documents before feedparser sees them:
external or parameter entities, entities that reference entities, and declarations whose
expansion would exceed a small budget. Plain entity declarations in real feeds still parse.

What comes out is bounded and inert: titles of at most MAX_TITLE characters, descriptions of at
most MAX_TEXT, both plain text; links only http(s), canonical, with every character that could
end or split a link in a Markdown, HTML or chat message percent-encoded. A feed whose declared
charset is unknown or does not fit its bytes is named with that charset: in the ParseError when
it cannot be read, in the log (once per feed and charset) when feedparser read it another way.

A JSON Feed (1.0 or 1.1: a body that starts with "{" or "[", or one served as JSON that does not
start like XML) is read with the json module instead and normalised the same way; JSON that is
not a JSON Feed is NotAFeed, like an HTML page.
"""

import calendar
import codecs
import hashlib
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from feedparser.encodings import convert_to_utf8

from ..errors import NotAFeed, Refused
from ..model import Item
from ..text import html_to_text, storable
from . import fastparse

log = logging.getLogger("monitor.parse")

PARSERS = ("auto", "feedparser", "feedparser-rs")
MAX_ENTITY_EXPANSION = 100_000  # characters that declared entities may add to a document
MAX_TITLE = 1_000  # characters of title kept per item
MAX_TEXT = 20_000  # characters of description kept per item
MAX_URL = 2_000
# Percent-encoded in stored links: ASCII space and controls, and the characters that end or
# split a link in Markdown, HTML or chat text; non-ASCII is checked by _quote_unsafe.
_URL_UNSAFE = re.compile(r'[\x00-\x20\x7f"()<>\[\\\]^`{|}]|[^\x00-\x7f]')
# A link canonical_url gives back as it is: lower-case http(s) scheme and host, no user, port,
# query or fragment, a path of the characters _URL_UNSAFE leaves alone.
_CANONICAL_ALREADY = re.compile(r"https?://[a-z0-9.\-]+/[!$%&'*+,\-./0-9:;=@A-Z_a-z~]*")
_XML_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']{1,40})["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([^\s;"']{1,40})""", re.I)
_ENTITY_DECL = re.compile(r"<!ENTITY\s+(%\s*)?([^\s\"'%]+)\s*(SYSTEM|PUBLIC|([\"'])(.*?)\4)",
                          re.S | re.I)
_CHAR_REF = re.compile(r"&#(?:[0-9]+|x[0-9a-fA-F]+);")
_ENTITY_REF = re.compile(r"&([^\s&;<>\"'%]+);")
_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")
_JSON_TYPES = ("application/feed+json", "application/json")
_JSON_FEED_VERSION = re.compile(r"https?://jsonfeed\.org/version/1(\.1)?/?")
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|cmp|"
                       r"at_medium|at_campaign|at_custom\d*|smid|smtyp|ref_src|ref|rss|feedtype|"
                       r"partner|src|igshid|__twitter_impression|yclid|_ga|guccounter)$", re.I)


@dataclass(frozen=True)
class Entry:
    """A feed entry read as far as telling whether it is new takes: its key, canonical link and
    title. `item()` makes the Item; its text (HTML to plain text, the costly part of reading a
    feed) and its date are made then, so a poll makes them only for the entries it has not seen."""

    feed_name: str
    key: str
    url: str | None
    title: str
    source: dict | None = None  # the parser's entry, whose description becomes the text
    text: str | None = None  # the text, where it was needed early (no title, or the key needs it)
    published: datetime | None = None  # the date, where the entry came with one read (JSON Feed)
    dates: Callable[[dict], datetime | None] | None = None  # reads the date from `source`

    def item(self) -> Item:
        text = self.text if self.text is not None else _plain_text(_description(self.source))[:MAX_TEXT]
        published = self.dates(self.source) if self.dates is not None else self.published
        return Item(feed_name=self.feed_name, key=self.key, url=self.url, title=self.title, text=text,
                    published=published)


def parse_feed(body: bytes, feed_name: str, url: str = "", content_type: str | None = None, *,
               parser: str = "auto") -> list[Item]:
    """Parse a feed body into Items. Raises Refused (hostile) or NotAFeed (a ParseError each).

    parser: "auto" reads the feeds that fit fastparse with feedparser-rs and every other feed
    with feedparser; "feedparser" and "feedparser-rs" use that one alone (for measuring them)."""
    return [entry.item() for entry in read_entries(body, feed_name, url, content_type, parser=parser)]


def read_entries(body: bytes, feed_name: str, url: str = "", content_type: str | None = None, *,
                 parser: str = "auto") -> list[Entry]:
    """parse_feed's entries, each made into an Item when asked (Entry.item)."""
    if parser not in PARSERS:
        raise ValueError(f"parser must be one of {', '.join(PARSERS)}, not {parser!r}")
    if not body or not body.strip():
        raise NotAFeed("not a readable feed: the body is empty")
    if _is_json(body, content_type):
        return [_made(item) for item in parse_json_feed(body, feed_name, url)]
    headers = _response_headers(url, content_type)
    check_entities(body, headers)
    declared = declared_charset(body, content_type)
    entries = _parse_fast(body, _charsets(body, declared)) if parser == "auto" else None
    if entries is not None:
        return _unique(read_entry(entry, feed_name, url, dates=_fast_published) for entry in entries)
    parsed = _parse_xml(body, headers, declared, parser)
    trouble = charset_trouble(declared, parsed.get("encoding"))
    if not parsed.entries and not parsed.feed.get("title") and (parsed.bozo or not parsed.version):
        reason = parsed.get("bozo_exception")
        raise NotAFeed(_naming(f"not a readable feed: {_short(reason)}" if reason else
                               "not a feed: no RSS, Atom or RDF feed element (an HTML page or other XML?)",
                               declared, trouble))
    if trouble:
        _warn_once(feed_name, trouble)
    return _unique(read_entry(entry, feed_name, url) for entry in parsed.entries)


def _made(item: Item) -> Entry:
    return Entry(item.feed_name, item.key, item.url, item.title, text=item.text, published=item.published)


def _parse_xml(body: bytes, headers: dict[str, str], declared: str | None, parser: str):
    """feedparser's result for an XML feed (feedparser-rs's if asked); NotAFeed if it fails."""
    if parser == "feedparser-rs" and not fastparse.available():
        raise ValueError("parser feedparser-rs is not installed (pip install feedparser-rs)")
    try:
        if parser == "feedparser-rs":
            return fastparse.parse_anyway(body)
        # A BytesIO, never the bytes themselves: given bytes that name a local file,
        # feedparser would open and read that file.
        # Sanitising and URI-resolving rewrite description HTML that html_to_text then discards.
        return feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False,
                                resolve_relative_uris=False)
    except Exception as exc:  # feedparser raises from deep inside its parsers on odd input
        name = "feedparser-rs" if parser == "feedparser-rs" else "feedparser"
        raise NotAFeed(_naming(f"{name} failed: {type(exc).__name__}: {exc}",
                               declared, charset_trouble(declared, None))) from None


def fast_parser_fits(body: bytes, content_type: str | None = None) -> bool:
    """Whether parse_feed (parser="auto") reads this XML feed with feedparser-rs."""
    charsets = _charsets(body, declared_charset(body, content_type))
    return _parse_fast(body, charsets) is not None


def _charsets(body: bytes, declared: str | None) -> tuple[str | None, ...]:
    """The charset feedparser reads (Content-Type's wins) and the XML declaration's: feedparser-rs
    reads only the second, so both must be UTF-8."""
    return declared, declared_charset(body, None)


def _parse_fast(body: bytes, charsets: tuple[str | None, ...]) -> list[dict] | None:
    """The entries feedparser-rs reads where it fits (see fastparse), else None: feedparser's turn."""
    try:
        return fastparse.parse(body, charsets)
    except Exception:  # noqa: BLE001 - a crash in the fast parser is one more reason for feedparser
        return None


def _unique(items):
    """The items (or entries) that are not None, the first of each key."""
    unique, seen = [], set()
    for item in items:
        if item and item.key not in seen:
            seen.add(item.key)
            unique.append(item)
    return unique


def _is_json(body: bytes, content_type: str | None) -> bool:
    """JSON by its first character, or by its Content-Type unless it starts like XML (a feed
    served with the wrong type)."""
    first = body.removeprefix(codecs.BOM_UTF8).lstrip()[:1]
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return first in (b"{", b"[") or (media_type in _JSON_TYPES and first != b"<")


def parse_json_feed(body: bytes, feed_name: str, url: str = "") -> list[Item]:
    """A JSON Feed 1.0 or 1.1 into Items (the body is already bounded by the fetch's byte cap)."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise NotAFeed(f"not a readable feed: invalid JSON ({_short(exc)})") from None
    except RecursionError:
        raise NotAFeed("not a readable feed: invalid JSON (nested too deeply)") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise NotAFeed('not a feed: JSON, but no JSON Feed (no "version": '
                       '"https://jsonfeed.org/version/1.1"; an API response?)')
    if not _JSON_FEED_VERSION.fullmatch(version.strip()):
        raise NotAFeed(f"not a readable feed: JSON Feed version {version[:80]!r} is not supported "
                       f"(1 and 1.1 are)")
    entries = document.get("items")
    if not isinstance(entries, list):
        raise NotAFeed('not a readable feed: the JSON Feed has no "items" list')
    return _unique(normalise_json_item(entry, feed_name, url) for entry in entries
                   if isinstance(entry, dict))


def normalise_json_item(entry: dict, feed_name: str, feed_url: str = "") -> Item | None:
    """A JSON Feed item, normalised as an RSS entry is: id is the guid, url (else external_url)
    the link, content_text (else content_html, else summary) the text; author(s) are ignored."""
    title = _plain_text(_string(entry.get("title")))[:MAX_TITLE]
    text = next(filter(None, (_plain_text(_string(entry.get(field)))
                              for field in ("content_text", "content_html", "summary"))), "")[:MAX_TEXT]
    if not title and not text:
        return None
    link = canonical_url(_absolute(feed_url, _string(entry.get("url")) or _string(entry.get("external_url"))))
    guid = entry.get("id")
    if isinstance(guid, (int, float)) and not isinstance(guid, bool):
        guid = str(guid)  # the spec asks readers to take a numeric id as a string
    return Item(feed_name=feed_name, key=item_key(_string(guid), link, title, text), url=link,
                title=title, text=text,
                published=_rfc3339(entry.get("date_published")) or _rfc3339(entry.get("date_modified")))


def _string(value) -> str:
    """A JSON Feed's string, as it can be stored (text.storable); "" for anything else."""
    return storable(value) if isinstance(value, str) else ""


def _rfc3339(value) -> datetime | None:
    """An RFC 3339 date in UTC (one without an offset is taken as UTC); None if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().upper())
        return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _response_headers(url: str, content_type: str | None) -> dict[str, str]:
    """Headers for feedparser. Given headers without a Content-Type, feedparser flags every
    document as bozo ("no Content-type specified"), so any feed without entries or title was
    refused, and it assumes HTTP's latin-1 default; "application/xml" makes it follow the XML
    rules instead: declaration, BOM, else UTF-8."""
    # No content-location: feedparser would join every link of every entry with it (a fifth of
    # the parse time); the one link per item we keep is resolved in normalise_entry instead.
    return {"content-type": content_type or "application/xml"}


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset a feed declares: Content-Type's charset parameter (it wins, as in feedparser),
    else the XML declaration's encoding (when that is readable as ASCII)."""
    in_header = _CHARSET_PARAM.search(content_type or "")
    if in_header:
        return in_header[1]
    in_declaration = _XML_ENCODING.match(body[:1024])
    return in_declaration[1].decode("ascii", "replace") if in_declaration else None


def charset_trouble(declared: str | None, used: str | None) -> str | None:
    """What is wrong with the declared charset, given the one feedparser read the feed with
    (None: nothing, or nothing declared)."""
    if not declared:
        return None
    read_as = f"; read as {used}" if used else ""
    try:
        name = codecs.lookup("gb18030" if declared.lower() == "gb2312" else declared).name
    except (LookupError, ValueError):
        return f"the feed declares charset {declared!r}, which is unknown{read_as}"
    try:
        used_name = codecs.lookup(used).name if used else name
    except (LookupError, ValueError):
        return None
    if used_name in (name, "ascii"):  # ASCII bytes read the same in any charset a feed declares
        return None
    return f"the feed declares charset {declared!r}, which does not fit its bytes{read_as}"


_warned: set[tuple[str, str]] = set()


def _warn_once(feed_name: str, trouble: str) -> None:
    """Log a readable feed's charset trouble once per feed and process, not on every poll."""
    if (feed_name, trouble) not in _warned:
        _warned.add((feed_name, trouble))
        log.warning("feed %s: %s", feed_name, trouble)


def _naming(message: str, declared: str | None, trouble: str | None) -> str:
    """A failure's message, with the charset trouble when the message does not name it already."""
    return f"{message} ({trouble})" if trouble and declared not in message else message


def check_entities(body: bytes, headers: dict[str, str] | None = None) -> None:
    """Refuse documents whose entity declarations could expand without bound or reach out.

    The scan reads the text exactly as feedparser will (same headers, same decoding), so a
    declaration hidden in UTF-32, UTF-7 or EBCDIC is seen too."""
    text = _decode_for_scan(body, headers)
    if "<!ENTITY" not in text.upper():
        return
    references = Counter(_ENTITY_REF.findall(text))
    budget = 0
    for match in _ENTITY_DECL.finditer(text):
        parameter, name, kind, value = match[1], match[2], match[3], match[5]
        if parameter:
            raise Refused(f"refused: DTD declares parameter entity %{name}")
        if kind.upper() in ("SYSTEM", "PUBLIC"):
            raise Refused(f"refused: DTD declares external entity &{name}; (it could read files or the network)")
        if "&" in _CHAR_REF.sub("", value) or "%" in value:  # &#160; is fine, &other; is not
            raise Refused(f"refused: entity &{name}; refers to other entities (expansion attack)")
        budget += len(value) * references[name]
        if budget > MAX_ENTITY_EXPANSION:
            raise Refused(f"refused: entity declarations would expand the feed by more than "
                             f"{MAX_ENTITY_EXPANSION} characters (expansion attack)")
    if len(_ENTITY_DECL.findall(text)) != text.upper().count("<!ENTITY"):
        raise Refused("refused: DTD has an entity declaration that cannot be checked")


def _decode_for_scan(body: bytes, headers: dict[str, str] | None = None) -> str:
    try:  # feedparser's own conversion: what both its strict and its loose parser read
        return convert_to_utf8(dict(headers or {}), body, {}).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - fall back to a plain guess below
        pass
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        for codec in ("utf-32", "utf-16"):
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    if body[:1] == b"\x00" or body[1:2] == b"\x00":
        return body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "ignore")
    return body.decode("latin-1")


def normalise_entry(entry, feed_name: str, feed_url: str = "") -> Item | None:
    read = read_entry(entry, feed_name, feed_url)
    return read.item() if read else None


def read_entry(entry, feed_name: str, feed_url: str = "", dates=None) -> Entry | None:
    """A parser's entry as an Entry; None when it has neither title nor text. The text is made
    now only when the entry has no title (it may have nothing) or neither guid nor link (its key
    is a hash of title and text). `dates` reads the entry's date (default: feedparser's *_parsed
    fields), when its Item is made."""
    title = _plain_text(entry.get("title") or "")[:MAX_TITLE]
    link = canonical_url(_absolute(feed_url, entry.get("link") or ""))
    guid = entry.get("id")
    text = None
    if not title or not ((guid and guid.strip()) or link):
        text = _plain_text(_description(entry))[:MAX_TEXT]
        if not title and not text:
            return None
    return Entry(feed_name, item_key(guid, link, title, text or ""), link, title, source=entry, text=text,
                 dates=dates or _published)


def _absolute(base: str, link: str) -> str:
    """A relative item link resolved against the feed's URL (absolute links are left alone)."""
    if not base or not link or "://" in link[:12]:
        return link
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _plain_text(markup: str) -> str:
    """Text without tags, even when the feed escaped its HTML twice (&amp;lt;script&amp;gt;)."""
    text = html_to_text(markup)
    if _TAG.search(text):  # one more pass (drops scripts too), then any tag still left
        text = re.sub(r"[ \t]{2,}", " ", _TAG.sub(" ", html_to_text(text))).strip()
    return text


def _description(entry) -> str:
    summary = entry.get("summary") or ""
    contents = [c.get("value") or "" for c in entry.get("content") or []]
    longest = max(contents, key=len, default="")
    return longest if len(longest) > len(summary) else summary


def item_key(guid: str | None, link: str | None, title: str, text: str) -> str:
    """Stable identity of an entry within its feed: guid, else canonical link, else a hash."""
    if guid and guid.strip():
        value = "id:" + guid.strip()
    elif link:
        value = "url:" + link
    else:
        value = "sha:" + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:40]
    return value if len(value) <= 200 else "sha:" + hashlib.sha256(value.encode()).hexdigest()[:40]


def canonical_url(url: str) -> str | None:
    """http(s) URL with lower-case host, no fragment, no default port, no tracking parameters,
    and nothing that could end or split a link where it is shown (see _quote_unsafe)."""
    if len(url) <= MAX_URL and _CANONICAL_ALREADY.fullmatch(url):
        return url  # most links: what _canonical would give back unchanged, at a tenth of the cost
    return _canonical(url)


def _canonical(url: str) -> str | None:
    url = url.strip()
    if len(url) > MAX_URL:
        return None  # longer than any browser or database column keeps
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None  # javascript:, data:, mailto: ... are never passed on
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if _quote_unsafe(host) != host:
        return None  # a space, quote or bracket in a host name: no real host
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal keeps its brackets
    if port and not (scheme, port) in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    path = _quote_unsafe(parts.path or "/")  # the query is re-encoded by urlencode already
    canonical = urlunsplit((scheme, host, path, urlencode(query), ""))
    return canonical if len(canonical) <= MAX_URL else None


def _quote_unsafe(text: str) -> str:
    """Percent-encode ASCII space and controls, `"()<>[\\]^`{|}` (each can end a Markdown link,
    an HTML attribute or an autolink, or start a second one) and invisible or spacing Unicode
    (format characters such as U+202E, non-ASCII spaces). Printable non-ASCII stays, and so does
    every %XX already there, so a canonical URL maps to itself."""
    return _URL_UNSAFE.sub(lambda m: m[0] if m[0] > "\x7f" and m[0].isprintable()
                           else quote(m[0], safe=""), text)


def _published(entry) -> datetime | None:
    """A feedparser entry's date: published, else updated, else created."""
    return _first_date(entry.get(field) for field in ("published_parsed", "updated_parsed", "created_parsed"))


def _fast_published(view: dict) -> datetime | None:
    """The same of an entry feedparser-rs read (fastparse.parsed_dates reads them one by one)."""
    return _first_date(fastparse.parsed_dates(view))


def _first_date(parsed_dates) -> datetime | None:
    """The first of the time.struct_times (UTC) that makes a datetime; a datetime as it is."""
    for value in parsed_dates:
        if isinstance(value, datetime):
            return value
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."
