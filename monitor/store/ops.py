"""What the operations checks read and write: feed activity, the ops_alert rows that remember
what was reported, and admin messages (outbox rows without a match)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ..model import OutboxMessage
from .database import session_scope
from .tables import Feed, ItemRow, OpsAlertRow, OutboxRow


@dataclass(frozen=True)
class FeedRecord:
    """A feed's fetch state and the (published, fetched) times of its newest items."""

    name: str
    last_status: str | None
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    error_count: int
    recent: list[tuple[datetime | None, datetime]]


def feed_records(engine: Engine, recent_items: int) -> list[FeedRecord]:
    """The watched feeds, by name, each with its `recent_items` newest items (two queries, however
    many feeds)."""
    newest = (select(ItemRow.feed_id, ItemRow.published_at, ItemRow.fetched_at,
                     func.row_number().over(partition_by=ItemRow.feed_id, order_by=col(ItemRow.id).desc())
                     .label("rank"))
              .subquery())
    recent: dict[int, list[tuple[datetime | None, datetime]]] = {}
    with session_scope(engine) as session:
        rows = session.execute(select(newest.c.feed_id, newest.c.published_at, newest.c.fetched_at)
                               .where(newest.c.rank <= recent_items)
                               .order_by(newest.c.feed_id, newest.c.rank))
        for feed_id, published, fetched in rows:
            recent.setdefault(feed_id, []).append((published, fetched))
        feeds = session.exec(select(Feed).where(Feed.watched).order_by(Feed.name)).all()
    return [FeedRecord(feed.name, feed.last_status, feed.last_error, feed.last_error_at, feed.last_success_at,
                       feed.error_count, recent.get(feed.id, [])) for feed in feeds]


def ops_watches(engine: Engine) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
    """{(feed, kind): (since, reported_at)} of every condition watched or reported."""
    with session_scope(engine) as session:
        return {(row.feed, row.kind): (row.since, row.reported_at) for row in session.exec(select(OpsAlertRow))}


def forget_feeds(engine: Engine, feeds: set[str]) -> None:
    with session_scope(engine) as session:
        session.execute(delete(OpsAlertRow).where(col(OpsAlertRow.feed).in_(feeds)))


def record_transition(engine: Engine, feed: str, kind: str, action: str, since: datetime,
                      watched_before: bool, now: datetime, message: OutboxMessage | None) -> bool:
    """Record a condition's change (`watch`, `raise`, `clear`, `forget`) and its admin message, in
    one transaction. False if another worker already did (the row changed under us)."""
    key = (OpsAlertRow.feed == feed, OpsAlertRow.kind == kind)
    try:
        with session_scope(engine) as session:
            if action == "forget":
                session.execute(delete(OpsAlertRow).where(*key, col(OpsAlertRow.reported_at).is_(None)))
            elif not watched_before:  # watch, or raise at first sight
                session.add(OpsAlertRow(feed=feed, kind=kind, since=since,
                                        reported_at=now if action == "raise" else None))
            elif action == "raise":
                claim = session.execute(update(OpsAlertRow).values(reported_at=now)
                                        .where(*key, col(OpsAlertRow.reported_at).is_(None)))
                if claim.rowcount != 1:
                    raise _Taken
            else:  # clear
                claim = session.execute(delete(OpsAlertRow)
                                        .where(*key, col(OpsAlertRow.reported_at).is_not(None)))
                if claim.rowcount != 1:
                    raise _Taken
            if message is not None:
                session.add(_admin_row(message, now))
    except (IntegrityError, _Taken):
        return False
    return True


class _Taken(Exception):
    """The row was changed by another worker."""


def add_admin_message(engine: Engine, message: OutboxMessage, now: datetime) -> None:
    with session_scope(engine) as session:
        session.add(_admin_row(message, now))


def _admin_row(message: OutboxMessage, now: datetime) -> OutboxRow:
    return OutboxRow(match_id=None, kind=message.kind, channel=message.channel, title=message.title,
                     body=message.body, format=message.format, next_attempt_at=now, created_at=now)
