"""Incidents in the database: load the open ones, run the grouping, save the result."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import text
from sqlmodel import col, select

from ..attackday import Span
from ..incidents import Decision, Incident, Report, assign
from ..model import Item, Score
from ..settings.profile import IncidentSettings
from .tables import Feed, IncidentRow, ItemRow, MatchRow

GROUPING_LOCK = 0x6D6F6E69  # pg_advisory_xact_lock key: one worker groups at a time


class Role(StrEnum):
    """What grouping made of a match. NULL in the database: not grouped yet."""

    OPENED = "opened"  # opened an incident and paged
    UPDATE = "update"  # joined one and sent its update
    JOINED = "joined"  # joined one silently, as a source
    ALONE = "alone"  # in no incident (a related item, or context about an older attack)
    STORED = "stored"  # a new feed's back catalogue: kept, never grouped


@dataclass(frozen=True)
class PendingMatch:
    match: MatchRow
    item: Item
    verdict: Score
    when: datetime  # when the report counts as made


def pending_matches(session) -> list[PendingMatch]:
    """Matches stored but not grouped yet, oldest report first, after taking the grouping lock
    (PostgreSQL; SQLite's write transaction already serialises)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GROUPING_LOCK})
    rows = session.exec(select(MatchRow, ItemRow, Feed.name)
                        .join(ItemRow, col(MatchRow.item_id) == ItemRow.id)
                        .join(Feed, col(ItemRow.feed_id) == Feed.id)
                        .where(col(MatchRow.role).is_(None))).all()
    pending = [PendingMatch(match, Item(feed, row.key, row.url, row.title, row.text, row.published_at),
                            Score.stored(match.profile, match.label, match.score, match.rule,
                                         match.evidence, match.layer),
                            report_time(row.published_at, match.created_at))
               for match, row, feed in rows]
    return sorted(pending, key=lambda p: (p.when, p.match.item_id, p.match.id))

MAX_WORDS = 3000  # words kept per incident for similarity


def group_report(session, report: Report, settings: IncidentSettings) -> tuple[Decision, IncidentRow] | None:
    """Assign the report to an open incident of its profile, or open one; persist the change."""
    hours = max(settings.window_hours, settings.followup_window_hours)
    rows = list(session.exec(select(IncidentRow).where(
        IncidentRow.profile == report.profile,
        IncidentRow.opened_at >= report.when - timedelta(hours=hours))))
    incidents = [_incident(row) for row in rows]
    decision = assign(report, incidents, settings)
    if decision is None:
        return None
    row = rows[incidents.index(decision.incident)] if not decision.opened else IncidentRow()
    _copy(decision.incident, row)
    session.add(row)
    session.flush()
    return decision, row


def _incident(row: IncidentRow) -> Incident:
    span = Span(row.attack_from, row.attack_to) if row.attack_from and row.attack_to else None
    if span is not None and row.attack_exact:
        span = Span(span.start, span.end, exact=True)
    return Incident(row.profile, row.opened_at, row.last_at, row.title, set(row.words),
                    {group: set(terms) for group, terms in row.entities.items()}, set(row.facts),
                    row.sources, row.updates, row.id, span)


def _copy(incident: Incident, row: IncidentRow) -> None:
    row.profile, row.title = incident.profile, incident.title
    row.opened_at, row.last_at = incident.opened_at, incident.last_at
    row.sources, row.updates = incident.sources, incident.updates
    row.words = sorted(incident.words)[:MAX_WORDS]
    row.entities = {group: sorted(terms) for group, terms in incident.entities.items()}
    row.facts = sorted(incident.facts)
    if incident.span is not None:
        row.attack_from, row.attack_to = incident.span.start, incident.span.end
        row.attack_exact = incident.span.exact


def report_time(published: datetime | None, now: datetime) -> datetime:
    """When a report counts as made: its published time, unless missing or in the future."""
    return published if published is not None and published <= now else now
