"""`monitor replay`: how would this profile have paged over a past period?

An archive (the eval format: JSON Lines, plain or gzip; labels optional) is replayed day by
day through the real poll path: each day's items of each source become that feed's RSS body,
handed to the same code that handles a fetched feed (parse, dedupe, classify, store, group,
outbox) in a temporary SQLite database, with the clock at the end of that day, so windows
behave as they did then. Nothing is sent: the outbox rows written are the pages a user would
have received (incidents go to the log channel, as with a watchlist without routes).
"""

import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from datetime import time as day_time
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from ..model import FetchResult, Role
from ..pipeline import Runtime, finish_poll, refresh_feed
from ..settings.config import Config
from ..settings.profile import Profile
from ..store import open_database
from ..store.feeds import claim_feeds, sync_feeds
from ..store.reports import page_rows
from .evaluate import (
    LabelledItem,
    Page,
    format_pages,
    page_metrics,
    published_at,
    read_labelled,
)

FEED_URL = "http://127.0.0.1/replay/{}"  # never fetched: the bodies are handed over directly


@dataclass(frozen=True)
class ReplayedPage:
    day: str
    kind: str  # alert or update
    title: str  # the message's headline: the incident's first report
    item: LabelledItem  # the report whose arrival sent it
    headline: LabelledItem


@dataclass
class ReplayResult:
    pages: list[ReplayedPage]
    days: int
    items: int
    undated: int  # items without a usable published time: not replayed
    seconds: float
    metrics: dict | None  # page metrics, when the archive is labelled


def replay_archive(path: Path, profiles: dict[str, Profile], profiles_path: Path | None,
                   progress: Callable[[int], None] | None = None) -> ReplayResult:
    started = time.perf_counter()
    items = {item.id: item for item in read_labelled(path, require_label=False)}
    by_day, undated = _by_day(items.values())
    with tempfile.TemporaryDirectory(prefix="monitor-replay-") as tmp:
        config = Config.model_validate(
            {"database": f"sqlite:///{Path(tmp) / 'replay.db'}", "first_poll_alerts": True,
             "feeds": [{"name": _feed_name(s), "url": FEED_URL.format(_feed_name(s))}
                       for s in sorted({i.source or "archive" for i in items.values()})],
             "source": None, "profiles": profiles, "profiles_path": profiles_path},
            context={"internal": True})
        engine = open_database(config.database)
        poll_log = logging.getLogger("monitor.poll")
        level = poll_log.level
        poll_log.setLevel(logging.WARNING)  # a line per feed and day says nothing here
        try:
            runtime = Runtime(config, engine)
            for day in sorted(by_day):
                _poll_day(runtime, day, by_day[day])
                if progress:
                    progress(sum(len(v) for v in by_day[day].values()))
            pages, joined = _pages(engine)
        finally:
            poll_log.setLevel(level)
            engine.dispose()
    replayed = [ReplayedPage(items[p.item].published[:10], p.kind, items[p.headline].title,
                             items[p.item], items[p.headline]) for p in pages]
    labelled = any(item.label is not None for item in items.values())
    events = {i.event for i in items.values() if i.label == "incident" and i.event}
    metrics = page_metrics(pages, joined, items, events) if labelled else None
    return ReplayResult(replayed, len(by_day), len(items) - undated, undated,
                        time.perf_counter() - started, metrics)


def _by_day(items: Iterable[LabelledItem]):
    """{day: {feed name: [items]}}, days in UTC; and how many items had no usable time."""
    by_day: dict = defaultdict(lambda: defaultdict(list))
    undated = 0
    for item in items:
        published = published_at(item.published)
        if published is None:
            undated += 1
            continue
        by_day[published.date()][_feed_name(item.source or "archive")].append((published, item))
    return by_day, undated


def _feed_name(source: str) -> str:
    name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in source).strip("-._")
    return name or "archive"


def _poll_day(runtime: Runtime, day, feeds: dict[str, list]) -> None:
    """One poll at the end of `day` in which each feed answers with that day's items."""
    now = datetime.combine(day, day_time.max, tzinfo=timezone.utc)
    runtime.clock = lambda: now
    sync_feeds(runtime.engine, [(name, FEED_URL.format(name)) for name in feeds], now)
    outcomes = []
    for claim in claim_feeds(runtime.engine, list(feeds), now, due_only=False):
        name = claim.state.name
        result = FetchResult(name, 200, rss(name, feeds[name]), None, None,
                             "application/rss+xml", claim.state.url)
        outcomes.append(refresh_feed(runtime, claim, result))
    finish_poll(runtime, outcomes)


def rss(name: str, entries: list[tuple[datetime, LabelledItem]]) -> bytes:
    """An RSS 2.0 document of the entries, as an outlet would publish it."""
    parts = [f"<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0'><channel>"
             f"<title>{escape(name)}</title><link>{escape(FEED_URL.format(name))}</link>"
             f"<description>replayed archive</description>"]
    for published, item in sorted(entries, key=lambda entry: entry[0], reverse=True):
        link = f"<link>{escape(item.link)}</link>" if item.link else ""
        parts.append(f"<item><title>{escape(item.title)}</title>{link}"
                     f"<description>{escape(item.text)}</description>"
                     f"<guid isPermaLink={quoteattr('false')}>{escape(item.id)}</guid>"
                     f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def _pages(engine) -> tuple[list[Page], dict[str, str]]:
    """The pages written to the outbox, and each joining item's incident opener (archive ids)."""
    rows, openers, members = page_rows(engine)
    pages = [Page(_archive_id(openers.get(incident, key)), _archive_id(key), kind)
             for kind, incident, key in rows]
    joined = {_archive_id(key): _archive_id(openers[incident]) for incident, role, key in members
              if role != Role.OPENED and incident in openers}
    return pages, joined


def _archive_id(key: str) -> str:
    return key.removeprefix("id:")


def format_replay(result: ReplayResult) -> str:
    lines = []
    by_day: dict[str, list[ReplayedPage]] = defaultdict(list)
    for page in result.pages:
        by_day[page.day].append(page)
    for day in sorted(by_day):
        lines.append(day)
        for page in by_day[day]:
            label = f"  [{page.headline.label}{' ' + page.headline.event if page.headline.event else ''}]" \
                if page.headline.label else ""
            prefix = "ALERT " if page.kind == "alert" else "UPDATE"
            title = page.title if page.kind == "alert" else f"{page.title}  <- {page.item.title}"
            lines.append(f"  {prefix} {title[:150]}  ({page.item.source or 'archive'}){label}")
    lines += ["", f"replayed {result.items} items over {result.days} days in {result.seconds:.0f} s"
                  f"{f' ({result.undated} without a usable published time skipped)' if result.undated else ''}: "
                  f"{len(result.pages)} pages"]
    if result.metrics:
        lines += format_pages(result.metrics)
    return "\n".join(lines)


def replay_json(result: ReplayResult) -> dict:
    return {"items": result.items, "days": result.days, "undated": result.undated,
            "seconds": round(result.seconds, 1),
            "page_list": [{"day": p.day, "kind": p.kind, "title": p.title, "id": p.item.id,
                           "source": p.item.source, "link": p.item.link, "headline_id": p.headline.id,
                           "label": p.headline.label, "event": p.headline.event}
                          for p in result.pages],
            **({"pages": result.metrics} if result.metrics else {})}
