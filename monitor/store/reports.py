"""Read models for the CLI and the web: plain dataclasses of matches, incidents with their sources,
feeds, outbox rows, and what the replay and backtest read."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from ..model import Role
from .database import session_scope
from .tables import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow


@dataclass(frozen=True)
class MatchView:
    """A stored match with its item and feed."""

    id: int
    profile: str
    label: str
    score: float
    rule: str | None
    evidence: dict[str, list[str]]
    title: str
    link: str | None
    feed: str
    published: datetime | None
    matched_at: datetime


@dataclass(frozen=True)
class SourceView:
    """One report of an incident."""

    title: str
    feed: str
    link: str | None
    role: str | None
    label: str
    published: datetime | None


@dataclass(frozen=True)
class IncidentView:
    id: int
    profile: str
    title: str
    opened_at: datetime
    last_at: datetime
    updates: int
    facts: list[str]
    sources: tuple[SourceView, ...]


@dataclass(frozen=True)
class FeedView:
    """A feed's fetch state and health, as `monitor feeds` shows it."""

    name: str
    url: str
    last_status: str | None
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    error_count: int
    next_due_at: datetime
    items_seen: int


@dataclass(frozen=True)
class OutboxView:
    id: int
    status: str
    channel: str
    kind: str
    attempts: int
    next_attempt_at: datetime
    hold: str | None
    last_error: str | None
    title: str
    body: str
    created_at: datetime
    sent_at: datetime | None
    merged_into: int | None


@dataclass(frozen=True)
class ItemView:
    id: int
    feed: str
    title: str
    text: str
    link: str | None
    published: datetime | None


def list_matches(engine: Engine, since: datetime) -> list[MatchView]:
    """Stored matches newer than `since`, newest first, with their item and feed."""
    with session_scope(engine) as session:
        query = (select(MatchRow, ItemRow, Feed.name).join(ItemRow, MatchRow.item_id == ItemRow.id)
                 .join(Feed, ItemRow.feed_id == Feed.id).where(MatchRow.created_at >= since)
                 .order_by(col(MatchRow.created_at).desc(), col(MatchRow.id).desc()))
        return [MatchView(m.id, m.profile, m.label, m.score, m.rule, m.evidence, i.title, i.url, feed,
                          i.published_at, m.created_at)
                for m, i, feed in session.exec(query)]


def items_without_match(engine: Engine) -> list[ItemView]:
    """Stored items no profile matched (for the demo's near-miss list)."""
    with session_scope(engine) as session:
        matched = select(MatchRow.item_id)
        query = (select(ItemRow, Feed.name).join(Feed, ItemRow.feed_id == Feed.id)
                 .where(col(ItemRow.id).not_in(matched)).order_by(ItemRow.id))
        return [ItemView(i.id, feed, i.title, i.text, i.url, i.published_at) for i, feed in session.exec(query)]


def list_incidents(engine: Engine, since: datetime) -> list[IncidentView]:
    """Incidents active since `since`, newest first, each with its sources in order."""
    with session_scope(engine) as session:
        incidents = session.exec(select(IncidentRow).where(IncidentRow.last_at >= since)
                                 .order_by(col(IncidentRow.last_at).desc())).all()
        result = []
        for incident in incidents:
            rows = session.exec(select(MatchRow, ItemRow, Feed.name)
                                .join(ItemRow, MatchRow.item_id == ItemRow.id)
                                .join(Feed, ItemRow.feed_id == Feed.id)
                                .where(MatchRow.incident_id == incident.id).order_by(MatchRow.id))
            sources = tuple(SourceView(i.title, feed, i.url, m.role, m.label, i.published_at)
                            for m, i, feed in rows)
            result.append(IncidentView(incident.id, incident.profile, incident.title, incident.opened_at,
                                       incident.last_at, incident.updates, list(incident.facts), sources))
        return result


def list_feeds(engine: Engine) -> list[FeedView]:
    with session_scope(engine) as session:
        return [_feed_view(feed) for feed in session.exec(select(Feed).order_by(Feed.name))]


def _feed_view(feed: Feed) -> FeedView:
    return FeedView(feed.name, feed.url, feed.last_status, feed.last_error, feed.last_error_at,
                    feed.last_success_at, feed.error_count, feed.next_due_at, feed.items_seen)


def list_outbox(engine: Engine, statuses: Iterable[str] | None = None) -> list[OutboxView]:
    """Outbox rows, oldest first; all of them, or those with one of `statuses`."""
    with session_scope(engine) as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if statuses is not None:
            query = query.where(col(OutboxRow.status).in_(list(statuses)))
        return [outbox_view(row) for row in session.exec(query)]


def outbox_view(row: OutboxRow) -> OutboxView:
    return OutboxView(row.id, row.status, row.channel, row.kind, row.attempts, row.next_attempt_at, row.hold,
                      row.last_error, row.title, row.body, row.created_at, row.sent_at, row.merged_into)


def page_rows(engine: Engine) -> tuple[list[tuple[str, int | None, str]], dict[int, str],
                                       list[tuple[int, str, str]]]:
    """For the replay: every outbox row of a match as (kind, incident id, item key) in order; each
    incident's opening item key; and (incident id, role, item key) of every grouped match."""
    opener_match, opener_item = aliased(MatchRow), aliased(ItemRow)
    with session_scope(engine) as session:
        openers = dict(session.exec(
            select(opener_match.incident_id, opener_item.key)
            .join(opener_item, col(opener_match.item_id) == opener_item.id)
            .where(opener_match.role == Role.OPENED)).all())
        members = session.exec(select(MatchRow.incident_id, MatchRow.role, ItemRow.key)
                               .join(ItemRow, col(MatchRow.item_id) == ItemRow.id)
                               .where(col(MatchRow.incident_id).is_not(None))).all()
        rows = session.exec(select(OutboxRow.kind, MatchRow.incident_id, ItemRow.key)
                            .join(MatchRow, col(OutboxRow.match_id) == MatchRow.id)
                            .join(ItemRow, col(MatchRow.item_id) == ItemRow.id)
                            .order_by(col(OutboxRow.id))).all()
    return [tuple(r) for r in rows], openers, [tuple(m) for m in members]


@dataclass(frozen=True)
class StoredItem:
    """A stored item with its feed and the class stored for one profile (None: no match)."""

    id: int
    feed: str
    title: str
    text: str
    url: str | None
    published_at: datetime | None
    fetched_at: datetime
    label: str | None


def stored_items(engine: Engine, profile: str, since: datetime) -> list[StoredItem]:
    """Items fetched since `since`, oldest first, each with its stored class for `profile`."""
    with session_scope(engine) as session:
        stored = dict(session.exec(select(MatchRow.item_id, MatchRow.label)
                                   .where(MatchRow.profile == profile)).all())
        query = (select(ItemRow, Feed.name).join(Feed, ItemRow.feed_id == Feed.id)
                 .where(ItemRow.fetched_at >= since).order_by(col(ItemRow.id)))
        return [StoredItem(item.id, feed, item.title, item.text, item.url, item.published_at,
                           item.fetched_at, stored.get(item.id)) for item, feed in session.exec(query)]
