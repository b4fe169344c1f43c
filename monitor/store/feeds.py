"""The database work of a poll and of the dispatcher, one short transaction each.

Feeds and outbox rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED (ignored by SQLite, which
has one writer anyway), and a claimed feed's next_due_at is pushed one lease ahead, so several
workers on one PostgreSQL database never poll the same feed at once, and a worker that dies
mid-poll only delays that feed by the lease.

Outbox rows move in two steps: `claimed` by a worker (nothing sent yet), then, for one row right
before its channel call, `sending` (committed). Both steps are compare-and-set on the worker's
token, so a row is sent by one worker only; a row found `sending` after a crash is `uncertain`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ..model import FeedState
from .database import session_scope
from .tables import Feed

CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedFeed:
    id: int
    state: FeedState
    first_poll: bool


def sync_feeds(engine: Engine, feeds: Iterable[tuple[str, str]], now: datetime) -> None:
    """Make the feed table hold every (name, url) of the watchlist; a changed URL starts afresh."""
    with session_scope(engine) as session:
        existing = {feed.name: feed for feed in session.exec(select(Feed))}
        for name, url in feeds:
            feed = existing.get(name)
            if feed is None:
                session.add(Feed(name=name, url=url, next_due_at=now))
            elif feed.url != url:  # a new source: its back catalogue is a first poll again
                feed.url, feed.etag, feed.last_modified, feed.next_due_at = url, None, None, now
                feed.last_success_at = None
                session.add(feed)


def claim_feeds(engine: Engine, names: Iterable[str], now: datetime, due_only: bool = True,
                lease: timedelta = CLAIM_LEASE) -> list[ClaimedFeed]:
    names = list(names)
    with session_scope(engine) as session:
        query = select(Feed).where(col(Feed.name).in_(names))
        if due_only:
            query = query.where(Feed.next_due_at <= now)
        feeds = session.exec(query.order_by(Feed.next_due_at).with_for_update(skip_locked=True)).all()
        claimed = []
        for feed in feeds:
            feed.next_due_at = now + lease
            session.add(feed)
            claimed.append(ClaimedFeed(feed.id, FeedState(feed.name, feed.url, feed.etag,
                                                          feed.last_modified),
                                       first_poll=feed.last_success_at is None))
        return claimed


def record_feed_error(engine: Engine, feed_id: int, error: str, now: datetime, interval: timedelta,
                      max_backoff: timedelta, retry_after: float | None = None) -> datetime:
    """Count the failure and schedule the next try with capped exponential backoff."""
    with session_scope(engine) as session:
        feed = session.get(Feed, feed_id)
        feed.error_count += 1
        delay = min(interval * (2 ** min(feed.error_count, 16)), max_backoff)
        if retry_after is not None:
            delay = max(delay, min(timedelta(seconds=retry_after), max_backoff))
        feed.last_status, feed.last_error, feed.last_error_at = "error", error, now
        feed.next_due_at = now + delay
        session.add(feed)
        return feed.next_due_at


def mark_feed_success(feed: Feed, status: str, etag: str | None, last_modified: str | None,
                      now: datetime, next_due_at: datetime, new_items: int) -> None:
    feed.etag, feed.last_modified = _validator(etag, 500), _validator(last_modified, 100)
    feed.last_status, feed.error_count = status, 0
    feed.last_success_at = now
    feed.next_due_at = next_due_at
    feed.items_seen += new_items


def _validator(value: str | None, limit: int) -> str | None:
    """An ETag or Last-Modified too long for its column is not kept (the next GET is plain)."""
    return value if value is None or len(value) <= limit else None
