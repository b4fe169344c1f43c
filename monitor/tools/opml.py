"""OPML, the feed list that feed readers import and export: read one into feeds, write feeds as one.

Reading uses the standard library's expat parser and refuses any entity declaration: OPML needs
none, and declared entities are how "billion laughs" expansion and external-entity file reads
work. An outline with `xmlUrl` is a feed; the outlines around it (a reader's folders) and its
`category` attribute become its tags; its `title` (or `text`) becomes its name, slugified. An
outline without `xmlUrl` that holds no feed is reported as skipped; `htmlUrl` is ignored.
"""

import re
import unicodedata
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.parsers import expat

from ..errors import InputError

NAME_LENGTH = 60  # characters kept of a slugified title


@dataclass(frozen=True)
class OpmlFeed:
    """A feed outline: its title, URL, tags (enclosing folders and categories) and line."""

    title: str
    url: str
    tags: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Skipped:
    line: int
    reason: str


@dataclass
class _Outline:
    title: str
    line: int
    holds_feed: bool = False


def read_opml(data: bytes, source: str) -> tuple[list[OpmlFeed], list[Skipped]]:
    """The feed outlines of an OPML document, and the outlines skipped. InputError names the file
    and line of XML that is broken, hostile or not OPML."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    feeds: list[OpmlFeed] = []
    skipped: list[Skipped] = []
    open_outlines: list[_Outline] = []
    elements: list[str] = []

    def refuse(name, *_):
        raise InputError(f"{source}:{parser.CurrentLineNumber}: refused: the file declares the entity "
                         f"{name!r}; OPML needs none (entity expansion or file-reading attack)")

    def start(tag: str, attributes: dict[str, str]) -> None:
        if not elements and tag != "opml":
            raise InputError(f"{source}:{parser.CurrentLineNumber}: not OPML: the document is <{tag}>, "
                             f"not <opml>")
        elements.append(tag)
        if tag != "outline" or "body" not in elements:
            return
        title = (attributes.get("title") or attributes.get("text") or "").strip()
        url = (attributes.get("xmlUrl") or attributes.get("xmlurl") or "").strip()
        line = parser.CurrentLineNumber
        if url:
            for outline in open_outlines:
                outline.holds_feed = True
            tags = [o.title for o in open_outlines if o.title] + _categories(attributes.get("category", ""))
            feeds.append(OpmlFeed(title, url, _unique(slug(tag) for tag in tags), line))
        open_outlines.append(_Outline(title, line, holds_feed=bool(url)))

    def end(tag: str) -> None:
        elements.pop()
        if tag == "outline" and open_outlines:
            outline = open_outlines.pop()
            if not outline.holds_feed:
                skipped.append(Skipped(outline.line, f"outline {outline.title or '(untitled)'!r} "
                                                     f"has no xmlUrl"))

    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.StartElementHandler, parser.EndElementHandler = start, end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise InputError(f"{source}:{exc.lineno}: not valid XML: {expat.ErrorString(exc.code)}") from None
    return feeds, sorted(skipped, key=lambda s: s.line)


def _categories(value: str) -> list[str]:
    """OPML's category attribute: comma-separated, each a tag or a /slash/path of them."""
    return [part for category in value.split(",") for part in category.split("/") if part.strip()]


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def slug(text: str) -> str:
    """'Al Jazeera – World' -> 'al-jazeera-world': ASCII letters, digits and hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:NAME_LENGTH].strip("-")


def feed_name(feed: OpmlFeed, taken: set[str]) -> str:
    """A name for the feed that no other feed has: its title slugified, else its URL's host."""
    base = slug(feed.title) or slug((urlsplit(feed.url).hostname or "").removeprefix("www.")) or "feed"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


def write_opml(feeds, title: str, now: datetime | None = None) -> bytes:
    """OPML 2.0 of (name, url, tags) feeds, the tags as each outline's categories."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(timezone.utc))
    body = ElementTree.SubElement(root, "body")
    for name, url, tags in feeds:
        attributes = {"type": "rss", "text": name, "title": name, "xmlUrl": url}
        if tags:
            attributes["category"] = ",".join(tags)
        ElementTree.SubElement(body, "outline", attributes)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
