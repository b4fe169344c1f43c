"""Read models for the CLI and the web: plain dataclasses of matches, incidents with their sources,
feeds, outbox rows, and what the replay and backtest read."""

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Generic, TypeVar

from sqlalchemy import and_, exists, func, or_
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
    incident_id: int | None = None  # None: in no incident, or not grouped yet
    role: str | None = None


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


def outbox_counts(engine: Engine) -> dict[str, int]:
    """The number of outbox rows in each status (a status without rows is left out)."""
    with session_scope(engine) as session:
        return dict(session.exec(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all())


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
    role: str | None = None  # what grouping made of its match then (Role), if it matched


def stored_items(engine: Engine, profile: str, since: datetime) -> list[StoredItem]:
    """Items fetched since `since`, oldest first, each with its stored class and role for `profile`."""
    with session_scope(engine) as session:
        stored = {item_id: (label, role) for item_id, label, role in session.exec(
            select(MatchRow.item_id, MatchRow.label, MatchRow.role).where(MatchRow.profile == profile))}
        query = (select(ItemRow, Feed.name).join(Feed, ItemRow.feed_id == Feed.id)
                 .where(ItemRow.fetched_at >= since).order_by(col(ItemRow.id)))
        return [StoredItem(item.id, feed, item.title, item.text, item.url, item.published_at,
                           item.fetched_at, *stored.get(item.id, (None, None)))
                for item, feed in session.exec(query)]


# ---- read models of the web dashboard and API: pages of rows, with a cursor to the next page ----

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of rows, newest first; `next_cursor` fetches the next page (None: no more)."""

    rows: list[Row]
    next_cursor: str | None


def _encode_cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list:
    """The values a cursor carries; ValueError for anything this module did not write."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise ValueError(f"cursor {cursor[:40]!r} is not one this API returned (use next_cursor as given)")
    return values


def _cursor_time(value) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise ValueError("cursor is not one this API returned (use next_cursor as given)") from None


def _cursor_id(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("cursor is not one this API returned (use next_cursor as given)")
    return value


def _naive(value: datetime) -> str:
    if value.tzinfo:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat()


@dataclass(frozen=True)
class PageSent:
    """An outbox row of a report: the page it sent (alert, update) and how its delivery went. A row
    merged into a digest went out with that row: `merged_into` and `merged_status` say how."""

    id: int
    channel: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    merged_into: int | None
    merged_status: str | None


@dataclass(frozen=True)
class SourceReport:
    """One report of an incident: the item, its verdict and evidence, and the pages it sent."""

    match_id: int
    item_id: int
    title: str
    text: str
    feed: str
    link: str | None
    published: datetime | None
    label: str
    score: float
    rule: str | None
    role: str | None
    layer: str
    evidence: dict[str, list[str]]
    pages: tuple[PageSent, ...]


@dataclass(frozen=True)
class IncidentReport:
    """An incident with every report of it, in the order they were published."""

    id: int
    profile: str
    title: str
    opened_at: datetime
    last_at: datetime
    updates: int
    facts: list[str]
    sources: tuple[SourceReport, ...]


def incident_page(engine: Engine, profile: str | None = None, label: str | None = None,
                  opened_from: datetime | None = None, opened_before: datetime | None = None,
                  cursor: str | None = None, limit: int = 50) -> Page[IncidentReport]:
    """Incidents, most recently opened first, with their reports; only the profile's, only those
    with a report of class `label`, opened in [opened_from, opened_before), after `cursor`."""
    query = select(IncidentRow)
    if profile:
        query = query.where(IncidentRow.profile == profile)
    if label:
        query = query.where(exists().where(MatchRow.incident_id == IncidentRow.id, MatchRow.label == label))
    if opened_from:
        query = query.where(IncidentRow.opened_at >= opened_from)
    if opened_before:
        query = query.where(IncidentRow.opened_at < opened_before)
    if cursor:
        at, last_id = _decode_cursor(cursor, 2)
        at, last_id = _cursor_time(at), _cursor_id(last_id)
        query = query.where(or_(IncidentRow.opened_at < at,
                                and_(IncidentRow.opened_at == at, col(IncidentRow.id) < last_id)))
    query = query.order_by(col(IncidentRow.opened_at).desc(), col(IncidentRow.id).desc()).limit(limit + 1)
    with session_scope(engine) as session:
        incidents = session.exec(query).all()
        reports = _incident_reports(session, incidents[:limit])
    more = len(incidents) > limit
    return Page(reports, _encode_cursor(_naive(reports[-1].opened_at), reports[-1].id) if more else None)


def incident_report(engine: Engine, incident_id: int) -> IncidentReport | None:
    with session_scope(engine) as session:
        incident = session.get(IncidentRow, incident_id)
        return _incident_reports(session, [incident])[0] if incident else None


def _incident_reports(session, incidents: list[IncidentRow]) -> list[IncidentReport]:
    """The incidents with their reports and pages, in three queries whatever their number."""
    rows = session.exec(select(MatchRow, ItemRow, Feed.name).join(ItemRow, MatchRow.item_id == ItemRow.id)
                        .join(Feed, ItemRow.feed_id == Feed.id)
                        .where(col(MatchRow.incident_id).in_([i.id for i in incidents]))
                        .order_by(func.coalesce(ItemRow.published_at, MatchRow.created_at), MatchRow.id)
                        ).all() if incidents else []
    pages = _pages_sent(session, [match.id for match, _, _ in rows])
    sources: dict[int, list[SourceReport]] = {}
    for match, item, feed in rows:
        sources.setdefault(match.incident_id, []).append(SourceReport(
            match.id, item.id, item.title, item.text, feed, item.url, item.published_at, match.label,
            match.score, match.rule, match.role, match.layer, dict(match.evidence),
            tuple(pages.get(match.id, ()))))
    return [IncidentReport(i.id, i.profile, i.title, i.opened_at, i.last_at, i.updates, list(i.facts),
                           tuple(sources.get(i.id, ()))) for i in incidents]


def _pages_sent(session, match_ids: list[int]) -> dict[int, list[PageSent]]:
    if not match_ids:
        return {}
    rows = session.exec(select(OutboxRow.match_id, OutboxRow.id, OutboxRow.channel, OutboxRow.kind,
                               OutboxRow.status, OutboxRow.attempts, OutboxRow.last_error,
                               OutboxRow.created_at, OutboxRow.sent_at, OutboxRow.merged_into)
                        .where(col(OutboxRow.match_id).in_(match_ids)).order_by(OutboxRow.id)).all()
    digests = {row.merged_into for row in rows if row.merged_into}
    digest_status = dict(session.exec(select(OutboxRow.id, OutboxRow.status)
                                      .where(col(OutboxRow.id).in_(digests))).all()) if digests else {}
    pages: dict[int, list[PageSent]] = {}
    for match_id, *fields in rows:
        pages.setdefault(match_id, []).append(PageSent(*fields, digest_status.get(fields[-1])))
    return pages


def match_page(engine: Engine, profile: str | None = None, label: str | None = None,
               since: datetime | None = None, cursor: str | None = None, limit: int = 50) -> Page[MatchView]:
    """Stored matches, newest first."""
    query = (select(MatchRow, ItemRow, Feed.name).join(ItemRow, MatchRow.item_id == ItemRow.id)
             .join(Feed, ItemRow.feed_id == Feed.id))
    if profile:
        query = query.where(MatchRow.profile == profile)
    if label:
        query = query.where(MatchRow.label == label)
    if since:
        query = query.where(MatchRow.created_at >= since)
    if cursor:
        query = query.where(col(MatchRow.id) < _cursor_id(_decode_cursor(cursor, 1)[0]))
    with session_scope(engine) as session:
        rows = session.exec(query.order_by(col(MatchRow.id).desc()).limit(limit + 1)).all()
    entries = [MatchView(m.id, m.profile, m.label, m.score, m.rule, dict(m.evidence), i.title, i.url, feed,
                          i.published_at, m.created_at, m.incident_id, m.role) for m, i, feed in rows[:limit]]
    return Page(entries, _encode_cursor(entries[-1].id) if len(rows) > limit else None)


@dataclass(frozen=True)
class FeedHealthView:
    """A feed's fetch state (as `monitor feeds`) and when its newest item was fetched."""

    feed: FeedView
    last_item_at: datetime | None


def feed_health(engine: Engine, names: Iterable[str] | None = None) -> list[FeedHealthView]:
    """The feeds (all, or the named ones that have a row), by name, each with its newest item's time
    (no parameter per feed: a watchlist of 100,000 feeds is read with `names` None)."""
    with session_scope(engine) as session:
        query = select(Feed).order_by(Feed.name)
        if names is not None:
            query = query.where(col(Feed.name).in_(list(names)))
        feeds = session.exec(query).all()
        newest = select(func.max(ItemRow.id).label("id")).group_by(ItemRow.feed_id).subquery()
        fetched = dict(session.exec(select(ItemRow.feed_id, ItemRow.fetched_at)
                                    .join(newest, col(ItemRow.id) == newest.c.id)).all())
        return [FeedHealthView(_feed_view(feed), fetched.get(feed.id)) for feed in feeds]


@dataclass(frozen=True)
class FeedItem:
    """A stored item of a feed with its class per profile (profiles that matched nothing: absent)."""

    id: int
    title: str
    link: str | None
    published: datetime | None
    fetched_at: datetime
    labels: dict[str, str]


def feed_items(engine: Engine, feed_name: str, cursor: str | None = None,
               limit: int = 50) -> Page[FeedItem] | None:
    """A feed's stored items, newest first, with their classes; None if no feed has that name."""
    with session_scope(engine) as session:
        feed_id = session.exec(select(Feed.id).where(Feed.name == feed_name)).first()
        if feed_id is None:
            return None
        query = select(ItemRow).where(ItemRow.feed_id == feed_id)
        if cursor:
            query = query.where(col(ItemRow.id) < _cursor_id(_decode_cursor(cursor, 1)[0]))
        items = session.exec(query.order_by(col(ItemRow.id).desc()).limit(limit + 1)).all()
        labels: dict[int, dict[str, str]] = {}
        for item_id, profile, label in session.exec(
                select(MatchRow.item_id, MatchRow.profile, MatchRow.label)
                .where(col(MatchRow.item_id).in_([i.id for i in items[:limit]]))):
            labels.setdefault(item_id, {})[profile] = label
    rows = [FeedItem(i.id, i.title, i.url, i.published_at, i.fetched_at, labels.get(i.id, {}))
            for i in items[:limit]]
    return Page(rows, _encode_cursor(rows[-1].id) if len(items) > limit else None)


def outbox_page(engine: Engine, statuses: Iterable[str] | None = None, cursor: str | None = None,
                limit: int = 50) -> Page[OutboxView]:
    """Outbox rows, newest first; all of them, or those with one of `statuses`."""
    query = select(OutboxRow)
    if statuses is not None:
        query = query.where(col(OutboxRow.status).in_(list(statuses)))
    if cursor:
        query = query.where(col(OutboxRow.id) < _cursor_id(_decode_cursor(cursor, 1)[0]))
    with session_scope(engine) as session:
        rows = [outbox_view(row) for row in session.exec(query.order_by(col(OutboxRow.id).desc())
                                                         .limit(limit + 1))]
    return Page(rows[:limit], _encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)
