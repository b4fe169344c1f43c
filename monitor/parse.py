"""Turn fetched bytes into normalised Items with feedparser, refusing hostile XML first.

feedparser falls back to a loose parser that expands entity declarations itself, so an
"entity expansion" feed ("billion laughs", or one large entity referenced thousands of times)
would cost gigabytes. `check_entities` refuses such documents before feedparser sees them:
external or parameter entities, entities that reference entities, and declarations whose
expansion would exceed a small budget. Plain entity declarations in real feeds still parse.
"""

import calendar
import hashlib
import re
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from .datatypes import Item
from .errors import ParseError
from .text import html_to_text

MAX_ENTITY_EXPANSION = 100_000  # characters that declared entities may add to a document
MAX_TEXT = 20_000  # characters of description kept per item
_ENTITY_DECL = re.compile(r"<!ENTITY\s+(%\s*)?([^\s\"'%]+)\s*(SYSTEM|PUBLIC|([\"'])(.*?)\4)",
                          re.S | re.I)
_TRACKING = re.compile(r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|cmp|"
                       r"at_medium|at_campaign|at_custom\d*|smid|smtyp|ref_src|ref|rss|feedtype|"
                       r"partner|src|igshid|__twitter_impression|yclid|_ga|guccounter)$", re.I)


def parse_feed(body: bytes, feed_name: str, url: str = "", content_type: str | None = None) -> list[Item]:
    """Parse a feed body into Items. Raises ParseError if it is hostile or not a feed."""
    check_entities(body)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    try:
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True,
                                  resolve_relative_uris=True)
    except Exception as exc:  # feedparser raises from deep inside its parsers on odd input
        raise ParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from None
    if parsed.bozo and not parsed.entries and not parsed.feed.get("title"):
        reason = parsed.get("bozo_exception")
        raise ParseError(f"not a readable feed: {_short(reason) if reason else 'no entries'}")
    items, seen = [], set()
    for entry in parsed.entries:
        item = normalise_entry(entry, feed_name)
        if item and item.key not in seen:
            seen.add(item.key)
            items.append(item)
    return items


def check_entities(body: bytes) -> None:
    """Refuse documents whose entity declarations could expand without bound or reach out."""
    text = _decode_for_scan(body)
    if "<!ENTITY" not in text.upper():
        return
    budget = 0
    for match in _ENTITY_DECL.finditer(text):
        parameter, name, kind, value = match[1], match[2], match[3], match[5]
        if parameter:
            raise ParseError(f"refused: DTD declares parameter entity %{name}")
        if kind.upper() in ("SYSTEM", "PUBLIC"):
            raise ParseError(f"refused: DTD declares external entity &{name}; (it could read files or the network)")
        if "&" in value or "%" in value:
            raise ParseError(f"refused: entity &{name}; refers to other entities (expansion attack)")
        budget += len(value) * text.count(f"&{name};")
        if budget > MAX_ENTITY_EXPANSION:
            raise ParseError(f"refused: entity declarations would expand the feed by more than "
                             f"{MAX_ENTITY_EXPANSION} characters (expansion attack)")
    if len(_ENTITY_DECL.findall(text)) != text.upper().count("<!ENTITY"):
        raise ParseError("refused: DTD has an entity declaration that cannot be checked")


def _decode_for_scan(body: bytes) -> str:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        for codec in ("utf-32", "utf-16"):
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    if body[:1] == b"\x00" or body[1:2] == b"\x00":
        return body.decode("utf-16-be" if body[:1] == b"\x00" else "utf-16-le", "ignore")
    return body.decode("latin-1")


def normalise_entry(entry, feed_name: str) -> Item | None:
    title = html_to_text(entry.get("title") or "")
    text = html_to_text(_description(entry))[:MAX_TEXT]
    if not title and not text:
        return None
    link = canonical_url(entry.get("link") or "")
    return Item(feed_name=feed_name, key=item_key(entry.get("id"), link, title, text), url=link,
                title=title, text=text, published=_published(entry))


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
    """http(s) URL with lower-case host, no fragment, no default port, no tracking parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None  # javascript:, data:, mailto: ... are never passed on
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if port and not (scheme, port) in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


def _published(entry) -> datetime | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(field)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _short(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."
