"""Incidents in the database: load the open ones, run the grouping, save the result."""

from datetime import datetime, timedelta

from sqlmodel import select

from ..incidents import Decision, Incident, Report, assign
from ..profile import IncidentSettings
from .tables import IncidentRow

MAX_WORDS = 3000  # words kept per incident for similarity


def group_report(session, report: Report, settings: IncidentSettings) -> tuple[Decision, IncidentRow] | None:
    """Assign the report to an open incident of its profile, or open one; persist the change."""
    hours = max(settings.window_hours, settings.followup_window_hours if settings.followup_group else 0)
    rows = list(session.exec(select(IncidentRow).where(
        IncidentRow.profile == report.profile,
        IncidentRow.last_at >= report.when - timedelta(hours=hours))))
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
    return Incident(row.profile, row.opened_at, row.last_at, row.title, set(row.words),
                    {group: set(terms) for group, terms in row.entities.items()}, set(row.facts),
                    row.sources, row.updates, row.id)


def _copy(incident: Incident, row: IncidentRow) -> None:
    row.profile, row.title = incident.profile, incident.title
    row.opened_at, row.last_at = incident.opened_at, incident.last_at
    row.sources, row.updates = incident.sources, incident.updates
    row.words = sorted(incident.words)[:MAX_WORDS]
    row.entities = {group: sorted(terms) for group, terms in incident.entities.items()}
    row.facts = sorted(incident.facts)


def report_time(published: datetime | None, now: datetime) -> datetime:
    """When a report counts as made: its published time, unless missing or in the future."""
    return published if published is not None and published <= now else now
