"""`monitor backtest`: run a profile over stored items and show what it would have alerted.

Nothing is sent and nothing is written: a person tries a profile edit against the news the
daemon has already seen before relying on it. Items are replayed in time order through the
same scorer and incident grouping as the daemon, and compared with what was stored then.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from ..classify.scorer import ProfileScorer
from ..incidents import Report, replay
from ..model import Label, Role, is_stale, report_time
from ..store.reports import StoredItem, stored_items
from ..text import lede


@dataclass(frozen=True)
class Outcome:
    """One replayed item that the profile matches."""

    title: str
    feed: str
    link: str | None
    when: datetime
    label: str
    score: float
    evidence: dict
    alert: str | None  # "alert", "update: <changes>", or None (joined silently / related)
    incident: int | None  # number of the replayed incident, in order of opening
    stored_label: str | None  # what the daemon stored for this item and profile then, if anything
    held: str | None = None  # why the daemon never groups nor pages it: "first poll", "stale"


def backtest(engine: Engine, scorer: ProfileScorer, since: datetime,
             max_item_age: timedelta | None = None) -> list[Outcome]:
    """Each stored item the profile matches, replayed as the daemon would have: items dated
    outside `max_item_age`, and those the daemon kept as a new feed's back catalogue (their match
    then was stored, never grouped), are shown but never grouped nor paged (Outcome.held)."""
    items = stored_items(engine, scorer.profile.name, since)
    verdicts = {}
    for item in items:
        verdict = scorer.score(item.title, item.text)
        if verdict.label != Label.NONE:
            verdicts[item.id] = verdict
    by_id = {item.id: item for item in items}
    held = {item_id: reason for item_id in verdicts
            if (reason := _held(by_id[item_id], max_item_age))}
    reports = [Report(str(item_id), scorer.profile.name, verdict.label,
                      report_time(by_id[item_id].published_at, by_id[item_id].fetched_at),
                      by_id[item_id].title, lede(by_id[item_id].text), verdict.evidence(),
                      verdict.evidence(headline_only=True))
               for item_id, verdict in verdicts.items()]
    numbers: dict[int, int] = {}
    outcomes = []
    grouped = [report for report in reports if int(report.key) not in held]
    replayed = replay(grouped, scorer.profile.incidents) + [(r, None) for r in reports if int(r.key) in held]
    for report, decision in sorted(replayed, key=lambda pair: (pair[0].when, pair[0].key)):
        item = by_id[int(report.key)]
        verdict = verdicts[item.id]
        alert = number = None
        if decision is not None:
            number = numbers.setdefault(id(decision.incident), len(numbers) + 1)
            alert = "alert" if decision.opened else (
                f"update: {', '.join(decision.changes)}" if decision.changes else None)
        outcomes.append(Outcome(item.title, item.feed, item.url, report.when, verdict.label, verdict.score,
                                verdict.evidence(), alert, number, item.label, held.get(item.id)))
    for item in items:  # matched then, not now
        if item.label and item.id not in verdicts:
            outcomes.append(Outcome(item.title, item.feed, item.url, report_time(item.published_at,
                                    item.fetched_at), "none", 0.0, {}, None, None, item.label))
    return outcomes


def _held(item: StoredItem, max_item_age: timedelta | None) -> str | None:
    if max_item_age is not None and is_stale(item.published_at, item.fetched_at, max_item_age):
        return "stale"
    if item.role == Role.STORED:  # not stale: kept as a new feed's back catalogue
        return "first poll"
    return None


def summary(outcomes: list[Outcome]) -> dict:
    alerts = [o for o in outcomes if o.alert]
    newly = [o for o in outcomes if o.label == "incident" and o.stored_label != "incident"]
    dropped = [o for o in outcomes if o.stored_label == "incident" and o.label != "incident"]
    return {"matches": len(outcomes), "alerts": len(alerts), "held": sum(1 for o in outcomes if o.held),
            "incidents": len({o.incident for o in outcomes if o.incident}),
            "newly_incident": len(newly), "no_longer_incident": len(dropped)}
