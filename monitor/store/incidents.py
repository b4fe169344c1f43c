"""Incidents in the database: one grouping transaction reads the matches awaiting grouping and
the incidents they may join, and writes back what the (pure) grouping decided."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ..model import Decision, Incident, Item, OutboxMessage, PendingMatch, Role, Score, Span, report_time
from .database import session_scope
from .tables import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow

GROUPING_LOCK = 0x6D6F6E69  # pg_advisory_xact_lock key: one worker groups at a time
MAX_WORDS = 3000  # words kept per incident for similarity


@contextmanager
def grouping(engine: Engine) -> Iterator["Grouping"]:
    """One grouping transaction, after taking the grouping lock (PostgreSQL; SQLite's write
    transaction already serialises): nothing it wrote is kept unless the whole block succeeds."""
    with session_scope(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GROUPING_LOCK})
        yield Grouping(session)


class Grouping:
    def __init__(self, session):
        self.session = session
        self.matches: dict[int, MatchRow] = {}
        self.incidents: dict[int, IncidentRow] = {}
        self.read_since: dict[str, datetime] = {}  # by profile: its incidents opened since then are read

    def pending(self) -> list[PendingMatch]:
        """Matches stored but not grouped yet, oldest report first."""
        rows = self.session.exec(select(MatchRow, ItemRow, Feed.name)
                                 .join(ItemRow, col(MatchRow.item_id) == ItemRow.id)
                                 .join(Feed, col(ItemRow.feed_id) == Feed.id)
                                 .where(col(MatchRow.role).is_(None))).all()
        pending = []
        for match, row, feed in rows:
            self.matches[match.id] = match
            item = Item(feed, row.key, row.url, row.title, row.text, row.published_at)
            verdict = Score.stored(match.profile, match.label, match.score, match.rule,
                                   match.evidence, match.layer)
            pending.append(PendingMatch(match.id, item, verdict,
                                        report_time(row.published_at, match.created_at), match.created_at,
                                        match.headline))
        order = {match_id: match.item_id for match_id, match in self.matches.items()}
        return sorted(pending, key=lambda p: (p.when, order[p.match_id], p.match_id))

    def open_incidents(self, profile: str, opened_since: datetime) -> list[Incident]:
        """The profile's incidents opened since then (the ones a report may join). Reports come
        oldest first, so the first read of a profile's incidents holds those of the later reports:
        this transaction holds the grouping lock, and the incidents it opens are added by `save`.
        Reading them again for each report cost a JSON decode of every incident's words."""
        if profile not in self.read_since or opened_since < self.read_since[profile]:
            rows = self.session.exec(select(IncidentRow).where(IncidentRow.profile == profile,
                                                               IncidentRow.opened_at >= opened_since))
            self.incidents.update({row.id: row for row in rows})
            self.read_since[profile] = opened_since
        return [_incident(row) for row in self.incidents.values()
                if row.profile == profile and row.opened_at >= opened_since]

    def save(self, match_id: int, role: Role, decision: Decision | None = None) -> None:
        """The match's role and, if it is in an incident, the incident as the decision left it."""
        match = self.matches[match_id]
        match.role = role
        if decision is not None:
            row = IncidentRow() if decision.opened else self.incidents[decision.incident.id]
            _copy(decision.incident, row)
            self.session.add(row)
            self.session.flush()
            self.incidents[row.id] = row
            decision.incident.id = match.incident_id = row.id
        self.session.add(match)

    def add_outbox(self, match_id: int, messages: list[OutboxMessage], created_at: datetime) -> None:
        self.session.add_all([OutboxRow(match_id=match_id, channel=m.channel, title=m.title, body=m.body,
                                        kind=m.kind, format=m.format, next_attempt_at=created_at,
                                        created_at=created_at) for m in messages])


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
