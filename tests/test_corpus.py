"""The ingest path over feedparser's own edge-case corpus and five real feeds.

Every corpus file (shared/data/feedparser-corpus, ~2,100 RSS/Atom/RDF/CDF/JSON edge cases) must be
either ingested (a list of Items, possibly empty) or rejected with a ParseError that says what is
wrong; nothing else may escape parse_feed. One test per corpus subfolder collects all failures so
one run reports every bad file. The real feeds (shared/data/real-feeds) must give their known item
counts with clean plain-text items and UTC dates.

shared/ sits beside the repository (CI clones the repository next to it); the tests skip when it
is absent. Run with -s to see the ingested/rejected summary per subfolder.
"""

import collections
import re
import traceback
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest

from monitor.errors import ParseError
from monitor.ingest.parse import parse_feed

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "data" / "feedparser-corpus"
REAL_FEEDS = SHARED / "data" / "real-feeds"

TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^>]*>")
# What a clear rejection looks like: a known verdict, a colon, then the reason.
CLEAR_MESSAGE = re.compile(r"^(refused|not a readable feed|not a feed): \S.{4,}$", re.S)
EXPECTED_COUNTS = {"aljazeera": 25, "bbc_world": 32, "nyt": 56, "nyt_home": 30, "mehr": 30}


def _corpus_folders() -> list[str]:
    if not CORPUS.is_dir():
        return ["<corpus missing>"]
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def _need(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"{path} is absent: clone the repository beside shared/ to run the corpus tests")


def _item_problems(items) -> list[str]:
    """What is wrong with parsed items: empty, markup left in, a non-UTC date, a non-http link."""
    problems = []
    for item in items:
        where = f"item {item.key[:60]!r}"
        if not (item.title or item.text):
            problems.append(f"{where}: neither title nor text")
        for name in ("title", "text"):
            value = getattr(item, name)
            if TAG.search(value):
                problems.append(f"{where}: HTML tag in {name}: {TAG.search(value)[0][:60]!r}")
            if "javascript:" in value.lower():
                problems.append(f"{where}: 'javascript:' in {name}")
        if item.published is not None and item.published.utcoffset() != timedelta(0):
            problems.append(f"{where}: published {item.published!r} is not UTC-aware")
        if item.url is not None and not item.url.startswith(("http://", "https://")):
            problems.append(f"{where}: url {item.url!r} is not http(s)")
    return problems


def _group(message: str) -> str:
    """A rejection message with its line/column numbers folded, for grouping."""
    return re.sub(r"\d+", "N", message)[:120]


@pytest.mark.parametrize("folder", _corpus_folders())
def test_corpus_folder_is_ingested_or_rejected_clearly(folder):
    _need(CORPUS)
    files = sorted(p for p in (CORPUS / folder).rglob("*")
                   if p.is_file() and p.suffix in (".xml", ".json"))
    assert files, f"no feeds in {CORPUS / folder}"
    ingested = items_total = 0
    rejected: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    for path in files:
        name = path.relative_to(CORPUS)
        try:
            items = parse_feed(path.read_bytes(), path.stem, url=f"http://example.org/{name}")
        except ParseError as exc:
            message = str(exc)
            rejected[_group(message)] += 1
            if not CLEAR_MESSAGE.match(message):
                failures.append(f"{name}: unclear ParseError message {message!r}")
            continue
        except Exception:  # noqa: BLE001 - anything but ParseError is the bug being hunted
            failures.append(f"{name}: raised {traceback.format_exc(limit=3)}")
            continue
        if not isinstance(items, list):
            failures.append(f"{name}: returned {type(items).__name__}, not a list")
            continue
        ingested += 1
        items_total += len(items)
        failures.extend(f"{name}: {problem}" for problem in _item_problems(items))

    print(f"\n{folder}: {len(files)} files, {ingested} ingested ({items_total} items), "
          f"{sum(rejected.values())} rejected")
    for message, count in rejected.most_common():
        print(f"  {count:4d} x {message}")
    assert not failures, f"{len(failures)} of {len(files)} files in {folder}:\n" + "\n".join(failures[:50])
    assert ingested + sum(rejected.values()) == len(files)


def test_corpus_is_mostly_ingested():
    """The corpus is feedparser's own test suite: almost all of it is readable feeds."""
    _need(CORPUS)
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".xml", ".json")]
    rejected = []
    for path in files:
        try:
            parse_feed(path.read_bytes(), path.stem)
        except ParseError as exc:
            rejected.append((path.relative_to(CORPUS), str(exc)))
    assert len(files) > 2000
    assert len(rejected) < 0.02 * len(files), rejected
    # the DTD with an external parameter entity is the one refused on purpose
    assert any("parameter entity" in message for _, message in rejected)


# --- the five real feeds ---------------------------------------------------------------------------

def _real_feed(name: str) -> bytes:
    _need(REAL_FEEDS)
    path = REAL_FEEDS / f"{name}.xml"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path.read_bytes()


@pytest.mark.parametrize("name, expected", sorted(EXPECTED_COUNTS.items()))
def test_real_feed_items(name, expected):
    body = _real_feed(name)
    items = parse_feed(body, name, url=f"https://feeds.example/{name}.xml",
                       content_type="application/rss+xml; charset=utf-8")
    assert len(items) == expected
    assert len({item.key for item in items}) == expected
    assert _item_problems(items) == []
    assert all(item.title for item in items)
    assert all(item.feed_name == name for item in items)
    assert all(item.url and item.url.startswith("https://") for item in items)
    assert not any("utm_" in item.url for item in items)

    # published: present where the feed gives a date, and equal to that date in UTC
    entries = feedparser.parse(body).entries
    raw_dates = [entry.get("published") for entry in entries]
    assert len(entries) == expected
    for item, raw in zip(items, raw_dates):
        if raw:
            assert item.published == parsedate_to_datetime(raw), (item.title, raw)
        else:
            assert item.published is None or item.published.tzinfo is not None


def test_real_feeds_decode_the_same_with_or_without_content_type():
    """A missing Content-Type changes nothing (Al Jazeera's feed has no XML declaration)."""
    for name in EXPECTED_COUNTS:
        body = _real_feed(name)
        with_header = parse_feed(body, name, content_type="application/rss+xml; charset=utf-8")
        without = parse_feed(body, name)
        assert [(i.title, i.text) for i in without] == [(i.title, i.text) for i in with_header]


def test_bbc_guid_suffixes_are_distinct_items():
    items = parse_feed(_real_feed("bbc_world"), "bbc_world")
    suffixed = [item for item in items if re.search(r"#\d+$", item.key)]
    assert suffixed, "expected BBC guids with #0/#1 suffixes"
    assert len({item.key for item in items}) == len(items) == EXPECTED_COUNTS["bbc_world"]


def test_mehr_empty_content_encoded_falls_back_to_description():
    items = parse_feed(_real_feed("mehr"), "mehr")
    assert sum(1 for item in items if item.text) >= len(items) - 2


def test_utf8_feed_without_declaration_or_content_type_is_not_garbled():
    body = ('<rss version="2.0"><channel><title>t</title><item><title>Caf\u00e9 \u2018Erbil\u2019 '
            '\u0627\u0631\u0628\u064a\u0644</title><link>https://example.com/1</link></item>'
            "</channel></rss>").encode("utf-8")
    for url, content_type in (("", None), ("https://example.com/feed", None),
                              ("https://example.com/feed", "text/xml"),
                              ("https://example.com/feed", "application/rss+xml")):
        [item] = parse_feed(body, "f", url=url, content_type=content_type)
        assert item.title == "Caf\u00e9 \u2018Erbil\u2019 \u0627\u0631\u0628\u064a\u0644", (url, content_type)
