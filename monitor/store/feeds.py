"""The feeds of the watchlist in the database: their fetch state, claims and health.

Feeds are claimed with SELECT ... FOR UPDATE SKIP LOCKED (ignored by SQLite, which has one writer
anyway): a claimed feed names its worker and its next_due_at is pushed one lease ahead, so several
workers on one PostgreSQL database never poll the same feed at once. The claim ends with the
poll's result (success or error); a worker that stops or fails mid-poll gives its claims back
(release_feeds), and one that dies is found gone by the next claim on this host (on another host,
its lease runs out).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ..model import FeedState
from .database import session_scope
from .tables import Feed
from .workers import is_gone

CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedFeed:
    id: int
    state: FeedState
    first_poll: bool


def sync_feeds(engine: Engine, feeds: Iterable[tuple[str, str]], now: datetime) -> None:
    """Make the feed table hold every (name, url) of the watchlist, watched; a changed URL starts
    afresh; a feed no longer in the watchlist keeps its row and items, unwatched."""
    wanted = dict(feeds)
    with session_scope(engine) as session:
        for feed in session.exec(select(Feed)):
            url = wanted.pop(feed.name, None)
            if url is None:
                if feed.watched:
                    feed.watched = False
                    session.add(feed)
                continue
            if not feed.watched:
                feed.watched = True
                session.add(feed)
            if feed.url != url:  # a new source: its back catalogue is a first poll again
                feed.url, feed.etag, feed.last_modified, feed.next_due_at = url, None, None, now
                feed.last_success_at = None
                session.add(feed)
        if wanted:  # another worker may add the same feeds at the same moment: theirs stand
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            session.execute(insert(Feed).on_conflict_do_nothing(index_elements=["name"]),
                            [dict(name=name, url=url, next_due_at=now) for name, url in wanted.items()])


def claim_feeds(engine: Engine, names: Iterable[str] | None, now: datetime, due_only: bool = True,
                lease: timedelta = CLAIM_LEASE, worker: str | None = None,
                limit: int | None = None) -> list[ClaimedFeed]:
    """Claim the named feeds, or with `names` None every watched feed (only those due, with
    `due_only`), for `worker`: each is pushed one lease ahead, so no other worker polls it
    meanwhile. A feed still claimed by a worker that is gone (killed, restarted) is due again at
    once. The whole watchlist is claimed without binding one parameter per feed. With `limit`, at
    most that many, the longest due first: other workers share a backlog instead of one taking it."""
    with session_scope(engine) as session:
        query = select(Feed).where(Feed.watched)
        if names is not None:
            query = query.where(col(Feed.name).in_(list(names)))
        if due_only:
            query = query.where(or_(Feed.next_due_at <= now, col(Feed.claimed_by).is_not(None)))
        feeds = session.exec(query.order_by(Feed.next_due_at).limit(limit)
                             .with_for_update(skip_locked=True)).all()
        claimed = []
        for feed in feeds:
            left = feed.claimed_by is not None and is_gone(feed.claimed_by)
            if due_only and feed.next_due_at > now and not left:
                continue
            if feed.claimed_by is None or left:
                feed.due_before_claim = feed.next_due_at if not left else now
            feed.claimed_by, feed.next_due_at = worker, now + lease
            session.add(feed)
            claimed.append(ClaimedFeed(feed.id, FeedState(feed.name, feed.url, feed.etag,
                                                          feed.last_modified),
                                       first_poll=feed.last_success_at is None))
        return claimed


def next_due(engine: Engine) -> datetime | None:
    """When the next watched feed falls due (claimed feeds count when their lease ends)."""
    with session_scope(engine) as session:
        return session.exec(select(func.min(Feed.next_due_at)).where(Feed.watched)).one()


def release_feeds(engine: Engine, worker: str) -> int:
    """Give back the feeds `worker` claimed and did not finish (a stop, a failed poll): each is
    due again when it was due before the claim."""
    with session_scope(engine) as session:
        feeds = session.exec(select(Feed).where(Feed.claimed_by == worker)).all()
        for feed in feeds:
            feed.next_due_at = feed.due_before_claim or feed.next_due_at
            feed.claimed_by = feed.due_before_claim = None
            session.add(feed)
        return len(feeds)


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
        feed.claimed_by = feed.due_before_claim = None
        session.add(feed)
        return feed.next_due_at


def success_values(feed_id: int, status: str, etag: str | None, last_modified: str | None,
                   now: datetime, next_due_at: datetime) -> dict:
    """A successful poll's feed state, as the values of an UPDATE keyed by b_id: the claim ends."""
    return {"b_id": feed_id, "etag": _validator(etag, 500), "last_modified": _validator(last_modified, 100),
            "last_status": status, "error_count": 0, "last_success_at": now, "next_due_at": next_due_at,
            "claimed_by": None, "due_before_claim": None}


def _validator(value: str | None, limit: int) -> str | None:
    """An ETag or Last-Modified too long for its column is not kept (the next GET is plain)."""
    return value if value is None or len(value) <= limit else None
