"""Read models for the CLI (and later the web): stored matches, incidents with their sources."""

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from .database import session_scope
from .tables import Feed, IncidentRow, ItemRow, MatchRow


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
