"""The feeds of the watchlist in the database: their fetch state, claims and health.

Feeds are claimed with SELECT ... FOR UPDATE SKIP LOCKED (ignored by SQLite, which has one writer
anyway): a claimed feed names its worker and its next_due_at is pushed one lease ahead, so several
workers on one PostgreSQL database never poll the same feed at once. The claim ends with the
poll's result (success or error); a worker that stops or fails mid-poll gives its claims back
(release_feeds), and one that dies is found gone by the next claim on this host (on another host,
its lease runs out).
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, cast, func, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..model import FeedState
from .database import session_scope
from .tables import Feed, FeedEntries
from .workers import is_gone

CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class ClaimedFeed:
    id: int
    state: FeedState
    first_poll: bool
    served: str | None = None  # what its last poll served (served_marks; "" for nothing); None: not read


def sync_feeds(engine: Engine, feeds: Iterable[tuple[str, str]], now: datetime) -> int:
    """Make the feed table hold every (name, url) of the watchlist, watched; a changed URL starts
    afresh; a feed no longer in the watchlist keeps its row and items, unwatched. Reads four
    columns of each row and writes only the rows that change (`monitor poll` syncs every run).
    Returns how many feeds it added (or found added meanwhile by another worker)."""
    wanted, feed = dict(feeds), Feed.__table__
    watch, unwatch, moved = [], [], []
    with session_scope(engine) as session:
        for feed_id, name, url, watched in session.execute(
                select(feed.c.id, feed.c.name, feed.c.url, feed.c.watched)):
            new_url = wanted.pop(name, None)
            if new_url is None:
                if watched:
                    unwatch.append({"b_id": feed_id})
            elif url != new_url:  # a new source: its back catalogue is a first poll again
                moved.append({"b_id": feed_id, "url": new_url})
            elif not watched:
                watch.append({"b_id": feed_id})
        by_id = update(feed).where(feed.c.id == bindparam("b_id"))
        for rows, values in ((unwatch, {"watched": False}), (watch, {"watched": True}),
                             (moved, dict(watched=True, etag=None, last_modified=None, next_due_at=now,
                                          last_success_at=None))):
            if rows:
                session.execute(by_id.values(**values), rows)
        if wanted:  # another worker may add the same feeds at the same moment: theirs stand
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            session.execute(insert(Feed).on_conflict_do_nothing(index_elements=["name"]),
                            [dict(name=name, url=url, next_due_at=now) for name, url in wanted.items()])
    return len(wanted)


def served_marks(feed_id):
    """The marks of each (key, title) its last poll served (FeedEntries, retention.served_again), as
    JSON text, "" when none are stored: a changed feed's dedupe starts from them. Read with the
    claim, they cost no round trip of their own; kept as text, a claim of 50,000 feeds holds about
    30 MB of them."""
    entries = FeedEntries.__table__
    marks = select(entries.c.titled).where(entries.c.feed_id == feed_id)
    return func.coalesce(marks.scalar_subquery(), "").label("served")


def claim_feeds(engine: Engine, names: Iterable[str] | None, now: datetime, due_only: bool = True,
                lease: timedelta = CLAIM_LEASE, worker: str | None = None,
                limit: int | None = None) -> list[ClaimedFeed]:
    """Claim the named feeds, or with `names` None every watched feed (only those due, with
    `due_only`), for `worker`: each is pushed one lease ahead, so no other worker polls it
    meanwhile. A feed still claimed by a worker that is gone (killed, restarted) is due again at
    once. With `limit`, at most that many, the longest due first: other workers share a backlog
    instead of one taking it. One UPDATE ... RETURNING over the rows a locking subquery picks: no
    parameter per feed, no ORM object per feed. What each feed's last poll served comes with it
    (served_marks)."""
    feed = Feed.__table__
    with session_scope(engine) as session:
        gone = [w for w in session.execute(select(feed.c.claimed_by).distinct()
                                           .where(feed.c.claimed_by.is_not(None))).scalars() if is_gone(w)]
        chosen = select(feed.c.id).where(feed.c.watched)
        if names is not None:
            chosen = chosen.where(feed.c.name.in_(_listed(list(names), session.get_bind().dialect.name)))
        if due_only:
            chosen = chosen.where(or_(feed.c.next_due_at <= now, feed.c.claimed_by.in_(gone)))
        chosen = chosen.order_by(feed.c.next_due_at).limit(limit).with_for_update(skip_locked=True)
        due_before = case((feed.c.claimed_by.is_(None), feed.c.next_due_at),
                          (feed.c.claimed_by.in_(gone), now), else_=feed.c.due_before_claim)
        rows = session.execute(
            update(feed).where(feed.c.id.in_(chosen.scalar_subquery()))
            .values(claimed_by=worker, next_due_at=now + lease, due_before_claim=due_before)
            .returning(feed.c.id, feed.c.name, feed.c.url, feed.c.etag, feed.c.last_modified,
                       feed.c.last_success_at, feed.c.due_before_claim, served_marks(feed.c.id))).all()
    rows.sort(key=lambda row: (row.due_before_claim or now, row.id))  # RETURNING keeps no order
    return [ClaimedFeed(row.id, FeedState(row.name, row.url, row.etag, row.last_modified),
                        first_poll=row.last_success_at is None, served=row.served) for row in rows]


def _listed(values: list[str], dialect: str):
    """The values as rows of a subquery, from one JSON parameter: a statement naming 100,000 feeds
    binds one parameter, not one per name (PostgreSQL takes at most 65,535)."""
    values = bindparam("listed", json.dumps(values), unique=True)
    if dialect == "postgresql":
        return select(func.jsonb_array_elements_text(cast(values, postgresql.JSONB)))
    return select(literal_column("value")).select_from(func.json_each(values))


def next_due(engine: Engine) -> datetime | None:
    """When the next watched feed falls due (claimed feeds count when their lease ends)."""
    with session_scope(engine) as session:
        return session.execute(select(func.min(Feed.next_due_at)).where(Feed.watched)).scalar_one()


def release_feeds(engine: Engine, worker: str) -> int:
    """Give back the feeds `worker` claimed and did not finish (a stop, a failed poll): each is
    due again when it was due before the claim."""
    feed = Feed.__table__
    with session_scope(engine) as session:
        return session.execute(
            update(feed).where(feed.c.claimed_by == worker)
            .values(next_due_at=func.coalesce(feed.c.due_before_claim, feed.c.next_due_at),
                    claimed_by=None, due_before_claim=None)).rowcount


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
    """An ETag or Last-Modified too long for its column, or holding bytes that are not ASCII text
    (aiohttp reads them as surrogates, which cannot be stored or sent again), is not kept: the
    next GET is plain."""
    if value is None or (len(value) <= limit and value.isascii() and value.isprintable()):
        return value
    return None
