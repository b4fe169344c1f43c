"""Read models for the CLI (and later the web): stored matches, incidents with their sources."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from ..model import Role
from .database import session_scope
from .tables import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow


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
