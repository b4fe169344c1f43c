"""The database work of a poll and of the dispatcher, one short transaction each.

Feeds and outbox rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED (ignored by SQLite, which
has one writer anyway), and a claimed feed's next_due_at is pushed one lease ahead, so several
workers on one PostgreSQL database never poll the same feed at once, and a worker that dies
mid-poll only delays that feed by the lease.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ..datatypes import FeedState
from .database import session_scope
from .tables import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow

CLAIM_LEASE = timedelta(minutes=10)
SEND_LEASE = timedelta(minutes=5)


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
            elif feed.url != url:
                feed.url, feed.etag, feed.last_modified, feed.next_due_at = url, None, None, now
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
                      now: datetime, interval: timedelta, new_items: int) -> None:
    feed.etag, feed.last_modified = etag, last_modified
    feed.last_status, feed.error_count = status, 0
    feed.last_success_at = now
    feed.next_due_at = now + interval
    feed.items_seen += new_items


def known_keys(session, feed_id: int, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(keys, 500):
        query = select(ItemRow.key).where(ItemRow.feed_id == feed_id, col(ItemRow.key).in_(chunk))
        found.update(session.exec(query))
    return found


def known_urls(session, urls: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(urls, 500):
        found.update(session.exec(select(ItemRow.url).where(col(ItemRow.url).in_(chunk))))
    return found


def claim_outbox(engine: Engine, now: datetime, limit: int = 50,
                 row_ids: Iterable[int] | None = None) -> list[OutboxRow]:
    """Mark due pending rows as `sending` (one attempt more) and return them."""
    with session_scope(engine) as session:
        query = select(OutboxRow).where(OutboxRow.status == "pending",
                                        OutboxRow.next_attempt_at <= now)
        if row_ids is not None:
            query = query.where(col(OutboxRow.id).in_(list(row_ids)))
        rows = session.exec(query.order_by(OutboxRow.id).limit(limit)
                            .with_for_update(skip_locked=True)).all()
        for row in rows:
            row.status, row.attempts = "sending", row.attempts + 1
            row.next_attempt_at = now  # while sending: when the send was claimed
            session.add(row)
        return rows


def finish_outbox(engine: Engine, row_id: int, error: str | None, now: datetime,
                  max_attempts: int, retry_base: timedelta, retry_max: timedelta) -> str:
    """Record a send: sent, back to pending with backoff, or dead after the last attempt."""
    with session_scope(engine) as session:
        row = session.get(OutboxRow, row_id)
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
        elif row.attempts >= max_attempts:
            row.status, row.last_error = "dead", error
        else:
            row.status, row.last_error = "pending", error
            row.next_attempt_at = now + min(retry_base * 2 ** (row.attempts - 1), retry_max)
        session.add(row)
        return row.status


def mark_interrupted_sends(engine: Engine, now: datetime, lease: timedelta = SEND_LEASE) -> int:
    """Rows left `sending` past the lease by a crash may or may not have gone out: flag them
    `uncertain` for an operator, never resend blindly."""
    with session_scope(engine) as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.status == "sending",
                                                    OutboxRow.next_attempt_at < now - lease)).all()
        for row in rows:
            row.status = "uncertain"
            row.last_error = "process stopped while sending; the channel may have received it"
            session.add(row)
        return len(rows)


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def list_matches(engine: Engine, since: datetime) -> list[dict]:
    """Stored matches newer than `since`, newest first, with their item and feed."""
    with session_scope(engine) as session:
        query = (select(MatchRow, ItemRow, Feed).join(ItemRow, MatchRow.item_id == ItemRow.id)
                 .join(Feed, ItemRow.feed_id == Feed.id).where(MatchRow.created_at >= since)
                 .order_by(col(MatchRow.created_at).desc(), col(MatchRow.id).desc()))
        return [{"id": m.id, "profile": m.profile, "class": m.label, "score": m.score,
                 "rule": m.rule, "evidence": m.evidence, "title": i.title, "link": i.url,
                 "feed": f.name, "published": i.published_at.isoformat() if i.published_at else None,
                 "matched_at": m.created_at.isoformat()}
                for m, i, f in session.exec(query)]


def list_feeds(engine: Engine) -> list[Feed]:
    with session_scope(engine) as session:
        return list(session.exec(select(Feed).order_by(Feed.name)))


def list_outbox(engine: Engine) -> list[OutboxRow]:
    with session_scope(engine) as session:
        return list(session.exec(select(OutboxRow).order_by(OutboxRow.id)))


def items_without_match(engine: Engine) -> list[ItemRow]:
    """Stored items no profile matched (for the demo's near-miss list and backtests)."""
    with session_scope(engine) as session:
        matched = select(MatchRow.item_id)
        return list(session.exec(select(ItemRow).where(col(ItemRow.id).not_in(matched))
                                 .order_by(ItemRow.id)))


def list_incidents(engine: Engine, since: datetime) -> list[dict]:
    """Incidents active since `since`, newest first, each with its sources in order."""
    with session_scope(engine) as session:
        incidents = session.exec(select(IncidentRow).where(IncidentRow.last_at >= since)
                                 .order_by(col(IncidentRow.last_at).desc())).all()
        result = []
        for incident in incidents:
            rows = session.exec(select(MatchRow, ItemRow, Feed)
                                .join(ItemRow, MatchRow.item_id == ItemRow.id)
                                .join(Feed, ItemRow.feed_id == Feed.id)
                                .where(MatchRow.incident_id == incident.id).order_by(MatchRow.id))
            sources = [{"title": i.title, "feed": f.name, "link": i.url, "role": m.role,
                        "class": m.label, "published": i.published_at.isoformat() if i.published_at else None}
                       for m, i, f in rows]
            result.append({"id": incident.id, "profile": incident.profile, "title": incident.title,
                           "opened_at": incident.opened_at.isoformat(),
                           "last_at": incident.last_at.isoformat(), "updates": incident.updates,
                           "facts": incident.facts, "sources": sources})
        return result
