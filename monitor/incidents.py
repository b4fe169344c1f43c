"""Group a profile's matches that report the same attack into one incident.

An incident is one attack: a place and a time span (and, when known, the weapon). A report
joins an open incident only when nothing tells them apart and something ties them together:

- open: the incident was opened at most `window_hours` before the report (`followup_window_hours`
  for a follow-up); incidents close by themselves, however many reports join them;
- the same place: at the most specific level both name (facility, then city or province, then
  country: `entity_groups`, most specific first), they share a name; different names never join;
- the same time: the attack spans (monitor/attackday.py: "on Sunday", "overnight", a date, else
  the day before the report) overlap when both name the day, else are at most GUESS_SLACK apart;
- a report that says it is a new attack ("another", "a second attack": `new_attack_group`)
  joins only an incident opened within `new_attack_hours`, or one whose day it names;
- tied together: a shared specific place name, the only open incident on the day both name
  (when one of them names no place below the country), or a text similar enough:

    similarity = share of the report's words already seen in the incident's reports, each
                 word weighted by its rarity in general news (the shipped background table)
               + 0.15 / - 0.15 for shared / different detail terms (e.g. the weapon)
               + 0.4 for a shared specific place name
    >= join_threshold (x1.5 for a report naming only the province of the incident's base;
       x2 for a follow-up naming no place, which must also match one incident only).

A report's places are its headline's when the headline names a base or city (its text often
recalls other attacks elsewhere).

An `incident`-class report that joins nothing opens a new incident and pages. A follow-up (a hit
of `followup_group`: brain injuries, a death toll; or an attack its words place days before the
report) and a thinner `related` report never open one: they join the incident whose specific
place they name or, naming none, the single open incident they match; otherwise they are
context, in no incident. A joining report that brings a material change the incident has not
had yet (casualties, a claim, a retaliation) and itself states the attack (class `incident`)
asks for one update, up to `max_updates`. The same
code runs in the daemon (incidents in the database) and in `monitor eval` (in memory), so the
evaluation measures what users get.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from .attackday import attack_span
from .data import background_counts
from .model import Decision, Incident, Label, Report, Role, Span
from .settings.profile import IncidentSettings
from .text import fold

GUESS_SLACK = timedelta(hours=12)  # a day guessed from a report's time may be this far off
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but as is are was were be been has have had "
    "it its this that these those after before over under into about than then there their they "
    "he she his her we you i not no new says said say also more most up out off will would can "
    "could may might amid near us u s".split())








def role_of(decision: Decision | None) -> Role:
    """What grouping made of a report, as stored on its match."""
    if decision is None:
        return Role.ALONE
    if decision.opened:
        return Role.OPENED
    return Role.UPDATE if decision.changes else Role.JOINED


def words_of(title: str, text: str) -> set[str]:
    return {w for w in fold(f"{title} {text}").split() if len(w) > 2 and w not in STOPWORDS}


def rarity(word: str) -> float:
    """How much a shared word says: log(total / count) over general news."""
    table, total = background_counts()
    return math.log(total / (table.get(word, 0) + 1))


def similarity(report: Report, incident: Incident, settings: IncidentSettings) -> float:
    words = words_of(report.title, report.text)
    weight = sum(map(rarity, words))
    value = sum(rarity(w) for w in words & incident.words) / weight if weight else 0.0
    for group in settings.detail_groups:
        mine, theirs = set(report.evidence.get(group, ())), incident.entities.get(group, set())
        if mine and theirs:
            value += 0.15 if mine & theirs else -0.15
    return value + (0.4 if _shared_place(report, incident, settings) else 0.0)


def material_changes(report: Report, settings: IncidentSettings) -> set[str]:
    return {name for name, group in settings.material.items() if report.evidence.get(group)}


@dataclass(frozen=True)
class _Read:
    """What grouping reads from a report: when the attack was, and what kind of report it is."""

    span: Span
    followup: bool  # about an earlier attack: joins one or stays context, never opens
    looks_back: bool  # may be about an earlier attack ("after the attack"): tries that first
    new_attack: bool  # says it is another attack


def read_report(report: Report, settings: IncidentSettings) -> _Read:
    span = attack_span(report.title, report.text, report.when)
    days_before = span.end < report.when - timedelta(hours=settings.followup_after_hours)
    return _Read(span, _hit(report, settings.followup_group) or days_before,
                 _hit(report, settings.lookback_group) and not span.exact,
                 _hit(report, settings.new_attack_group))


def _hit(report: Report, group: str | None) -> bool:
    return bool(group and report.evidence.get(group))


def assign(report: Report, open_incidents: list[Incident], settings: IncidentSettings) -> Decision | None:
    """Join the incident of the same attack, open a new one, or (a follow-up or thin report
    that matches none) stay out: None."""
    read = read_report(report, settings)
    context = read.followup or report.label != Label.INCIDENT
    if context or read.looks_back:
        earlier = _best(report, read, open_incidents, settings, followup=True)
        if earlier is not None:
            return _join(earlier, report, read, settings)
        if context:
            return None
    fresh = _best(report, read, open_incidents, settings, followup=False)
    if fresh is not None:
        return _join(fresh, report, read, settings)
    return Decision(Incident(report.profile, report.when, report.when, report.title,
                             words_of(report.title, report.text), _entities(report, settings),
                             facts=material_changes(report, settings), span=read.span), opened=True)


def _best(report: Report, read: _Read, incidents: list[Incident], settings: IncidentSettings,
          followup: bool) -> Incident | None:
    """The open incident this report is about: it shares a specific place with the report, or
    its text is similar enough; a follow-up naming no place must match one incident only."""
    candidates = [i for i in incidents if _may_join(report, read, i, settings, followup)]
    vague = not _names_place(report, settings)
    if len(candidates) == 1 and _the_one_attack_that_day(report, read, candidates[0], settings):
        return candidates[0]
    scored = [(similarity(report, i, settings), i) for i in candidates]
    tied = [(score, i) for score, i in scored
            if _shared_place(report, i, settings) or score >= _threshold(report, i, settings, followup)]
    if not tied or (followup and len(tied) > 1 and vague):
        return None
    return max(tied, key=lambda pair: pair[0])[1]


def _the_one_attack_that_day(report: Report, read: _Read, incident: Incident,
                             settings: IncidentSettings) -> bool:
    """The only open incident it can be, on the day both name, and one of the two names no
    place below the country: nothing else it can be, however differently it is worded."""
    vague = not _names_place(report, settings) or not any(
        incident.entities.get(group) for group in settings.entity_groups[:-1])
    return report.label == Label.INCIDENT and vague and _same_named_day(read.span, incident.span)


def _threshold(report: Report, incident: Incident, settings: IncidentSettings, followup: bool) -> float:
    """How similar a report must be to join without sharing a named place: a follow-up that
    names no place twice as similar as usual; a fresh report naming only the province of the
    incident's base half as much again (other bases lie there)."""
    if followup:
        return settings.join_threshold * (2 if not _names_place(report, settings) else 1)
    return settings.join_threshold * (1.5 if _less_specific(report, incident, settings) else 1)


def _same_named_day(mine: Span, theirs: Span | None) -> bool:
    return theirs is not None and mine.exact and theirs.exact and mine.overlaps(theirs)


def _less_specific(report: Report, incident: Incident, settings: IncidentSettings) -> bool:
    """The report names a wider place than the incident (the province of its base): that is
    a claim about where it was, and other bases lie there, so text similarity must be higher.
    A report naming no place below the country claims nothing, and is not less specific."""
    levels = settings.entity_groups[:-1]
    mine = [bool(_places(report, group, settings)) for group in levels]
    theirs = [bool(incident.entities.get(group)) for group in levels]
    if not any(mine) or not any(theirs):
        return False
    return mine.index(True) > theirs.index(True)


def _may_join(report: Report, read: _Read, incident: Incident, settings: IncidentSettings,
              followup: bool) -> bool:
    """Nothing tells the report's attack and the incident's apart. A follow-up reaches further
    back, and its time counts only when its words say when the attack was."""
    hours = settings.followup_window_hours if followup else settings.window_hours
    age = report.when - incident.opened_at
    if incident.profile != report.profile or abs(age) > timedelta(hours=hours):
        return False
    if not _same_place_possible(report, incident, settings):
        return False
    span = incident.span
    if span is None or (followup and not read.span.exact):
        return True
    both_named = read.span.exact and span.exact
    if both_named and not read.span.overlaps(span) or read.span.gap(span) > GUESS_SLACK:
        return False
    same_day = both_named and read.span.overlaps(span)
    said_new = settings.new_attack_group in incident.entities  # its first report said "another" too
    return not (read.new_attack and age > timedelta(hours=settings.new_attack_hours)
                and not same_day and not said_new)


def _same_place_possible(report: Report, incident: Incident, settings: IncidentSettings) -> bool:
    """At the most specific level both name, they share a name."""
    for group in settings.entity_groups:
        mine, theirs = _places(report, group, settings), incident.entities.get(group, set())
        if mine and theirs:
            return bool(mine & theirs)
    return True


def _shared_place(report: Report, incident: Incident, settings: IncidentSettings) -> bool:
    """Both name the same specific place (above the last, coarsest level), and neither names a
    more specific one the other lacks: "Anbar" and "Ain al-Asad" may be one attack, but the
    province alone does not tie them."""
    for group in settings.entity_groups[:-1]:
        mine, theirs = _places(report, group, settings), incident.entities.get(group, set())
        if mine or theirs:
            return bool(mine & theirs)
    return False


def _names_place(report: Report, settings: IncidentSettings) -> bool:
    return any(_places(report, group, settings) for group in settings.entity_groups[:-1])


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


def _join(incident: Incident, report: Report, read: _Read, settings: IncidentSettings) -> Decision:
    incident.last_at = max(incident.last_at, report.when)
    incident.sources += 1
    incident.words |= words_of(report.title, report.text)
    if incident.span is not None and not read.followup:
        incident.span = incident.span.narrowed(read.span)
    for group, terms in _entities(report, settings).items():
        if group != settings.new_attack_group:  # kept as its first report said it
            incident.entities.setdefault(group, set()).update(terms)
    new = material_changes(report, settings) - incident.facts
    incident.facts |= new
    if new and report.label == Label.INCIDENT and incident.updates < settings.max_updates:
        incident.updates += 1
        return Decision(incident, opened=False, changes=tuple(sorted(new)))
    return Decision(incident, opened=False)


def _entities(report: Report, settings: IncidentSettings) -> dict[str, set[str]]:
    found = {g: _places(report, g, settings) for g in settings.entity_groups}
    found |= {g: set(report.evidence.get(g, ())) for g in settings.detail_groups}
    if settings.new_attack_group:  # remembered: later reports of this new attack may say so too
        found[settings.new_attack_group] = set(report.evidence.get(settings.new_attack_group, ()))
    return {group: terms for group, terms in found.items() if terms}


def _places(report: Report, group: str, settings: IncidentSettings) -> set[str]:
    """Names of `group` the report gives: its headline's when the headline names a specific
    place (the text often recalls other attacks at other bases), else its whole text's."""
    source = report.headline if any(_names(report.headline.get(g, ()))
                                    for g in settings.entity_groups[:-1]) else report.evidence
    return _names(source.get(group, ()))


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
