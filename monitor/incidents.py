"""Group a profile's matches that report the same real-world event into one incident.

A report joins the most similar open incident of its profile whose last report is at most
`window_hours` old, if the similarity reaches `join_threshold`:

    similarity = share of the report's words already seen in the incident's reports, each
                 word weighted by its rarity in general news (the shipped background table)
               + 0.15 / - 0.15 for shared / different detail terms (e.g. the weapon)
               + 0.4 if they share a name of an entity group (e.g. the site); halved if both
                 name one and the names differ (different places stay apart). Entity groups
                 go from most to least specific (facility, then city or province): the first
                 group both reports name decides. Only proper
                 names count here (a term whose canonical name has a capital letter):
                 "eastern Syria"-like descriptions identify no place.

A report that reads as a follow-up of an earlier attack (a hit of `followup_group`: "after the
attack", "brain injuries", ...) may join an incident up to `followup_window_hours` old.

Otherwise an `incident`-class report opens a new incident (one alert); a thinner report
(class `related`) only ever joins one, as a source, and only when the incident has every place
name it gives (or, naming none, when it is twice as similar as usual). A joining report that brings a material
change the incident has not had yet (casualties, a claim, a retaliation) asks for one update,
up to `max_updates`. The same code runs in the daemon (incidents in the database) and in
`monitor eval` (in memory), so the evaluation measures what users get.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from .profile import IncidentSettings
from .text import fold

STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but as is are was were be been has have had "
    "it its this that these those after before over under into about than then there their they "
    "he she his her we you i not no new says said say also more most up out off will would can "
    "could may might amid near us u s".split())


@dataclass(frozen=True)
class Report:
    """One match, as incident grouping sees it."""

    key: str
    profile: str
    label: str
    when: datetime
    title: str
    text: str
    evidence: dict[str, list[str]]


@dataclass
class Incident:
    profile: str
    opened_at: datetime
    last_at: datetime
    title: str
    words: set[str]
    entities: dict[str, set[str]]
    facts: set[str] = field(default_factory=set)
    sources: int = 1
    updates: int = 0
    id: int | None = None


@dataclass(frozen=True)
class Decision:
    incident: Incident
    opened: bool
    changes: tuple[str, ...] = ()  # material changes that call for an update alert


def words_of(title: str, text: str) -> set[str]:
    return {w for w in fold(f"{title} {text}").split() if len(w) > 2 and w not in STOPWORDS}


@lru_cache(maxsize=1)
def _background() -> tuple[dict[str, int], int]:
    from .draft import read_background
    table = read_background()
    return table, sum(table.values())


def rarity(word: str) -> float:
    """How much a shared word says: log(total / count) over general news."""
    table, total = _background()
    return math.log(total / (table.get(word, 0) + 1))


def similarity(report: Report, incident: Incident, settings: IncidentSettings) -> float:
    words = words_of(report.title, report.text)
    weight = sum(map(rarity, words))
    value = sum(rarity(w) for w in words & incident.words) / weight if weight else 0.0
    for group in settings.detail_groups:
        mine, theirs = set(report.evidence.get(group, ())), incident.entities.get(group, set())
        if mine and theirs:
            value += 0.15 if mine & theirs else -0.15
    for group in settings.entity_groups:  # most specific first: the first both name decides
        mine, theirs = _names(report.evidence.get(group, ())), incident.entities.get(group, set())
        if mine and theirs:
            return value + 0.4 if mine & theirs else value / 2
    return value


def material_changes(report: Report, settings: IncidentSettings) -> set[str]:
    return {name for name, group in settings.material.items() if report.evidence.get(group)}


def assign(report: Report, open_incidents: list[Incident], settings: IncidentSettings) -> Decision | None:
    """Join the best open incident, open a new one, or (a thin report) stay out: None."""
    hours = settings.window_hours
    if settings.followup_group and report.evidence.get(settings.followup_group):
        hours = max(hours, settings.followup_window_hours)
    window = timedelta(hours=hours)
    candidates = [i for i in open_incidents
                  if i.profile == report.profile and abs(report.when - i.last_at) <= window]
    scored = [(similarity(report, i, settings), i) for i in candidates]
    best_score, best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
    if best is not None and best_score >= settings.join_threshold and (
            report.label == "incident" or _thin_report_fits(report, best, best_score, settings)):
        return _join(best, report, settings)
    if report.label != "incident":
        return None
    return Decision(Incident(report.profile, report.when, report.when, report.title,
                             words_of(report.title, report.text), _entities(report, settings),
                             facts=material_changes(report, settings)), opened=True)


def replay(reports: list[Report], settings: IncidentSettings) -> list[tuple[Report, Decision | None]]:
    """Group reports in time order in memory, as the daemon would have: for eval and backtest."""
    open_incidents: list[Incident] = []
    decisions = []
    for report in sorted(reports, key=lambda r: (r.when, r.key)):
        decision = assign(report, open_incidents, settings)
        if decision is not None and decision.opened:
            open_incidents.append(decision.incident)
        decisions.append((report, decision))
    return decisions


def _thin_report_fits(report: Report, incident: Incident, score: float,
                      settings: IncidentSettings) -> bool:
    """A report too thin to page joins only if the incident has every name it gives at its most
    specific level (it is about that place and no other), or, naming no place, on twice the
    usual text similarity."""
    for group in settings.entity_groups:
        mine = _names(report.evidence.get(group, ()))
        if mine:
            return mine <= incident.entities.get(group, set())
    return score >= 2 * settings.join_threshold


def _join(incident: Incident, report: Report, settings: IncidentSettings) -> Decision:
    incident.last_at = max(incident.last_at, report.when)
    incident.sources += 1
    incident.words |= words_of(report.title, report.text)
    for group, terms in _entities(report, settings).items():
        incident.entities.setdefault(group, set()).update(terms)
    new = material_changes(report, settings) - incident.facts
    incident.facts |= new
    if new and incident.updates < settings.max_updates:
        incident.updates += 1
        return Decision(incident, opened=False, changes=tuple(sorted(new)))
    return Decision(incident, opened=False)


def _entities(report: Report, settings: IncidentSettings) -> dict[str, set[str]]:
    found = {g: _names(report.evidence.get(g, ())) for g in settings.entity_groups}
    found |= {g: set(report.evidence.get(g, ())) for g in settings.detail_groups}
    return {group: terms for group, terms in found.items() if terms}


def _names(terms) -> set[str]:
    return {term for term in terms if any(c.isupper() for c in term)}


def bcubed(clusters: dict[str, int], gold: dict[str, str]) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of item -> cluster against item -> true event."""
    by_cluster: dict[int, list[str]] = {}
    by_event: dict[str, list[str]] = {}
    for item, cluster in clusters.items():
        by_cluster.setdefault(cluster, []).append(item)
        by_event.setdefault(gold[item], []).append(item)
    if not clusters:
        return 0.0, 0.0, 0.0
    precision = recall = 0.0
    for item, cluster in clusters.items():
        same_cluster = by_cluster[cluster]
        correct = sum(1 for other in same_cluster if gold[other] == gold[item])
        precision += correct / len(same_cluster)
        recall += correct / len(by_event[gold[item]])
    precision, recall = precision / len(clusters), recall / len(clusters)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return round(precision, 4), round(recall, 4), round(f1, 4)
