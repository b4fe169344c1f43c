"""`monitor eval`: score a labelled JSON Lines file and measure the classifier against it.

Each line: {"id", "title", "text", "published", "source", "label", "event"?}; the file may be
gzip-compressed. Items get the same normalisation as fetched feed items (HTML removed) before
scoring, so the numbers describe what the daemon would do.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .datatypes import LABELS, Score
from .errors import InputError
from .incidents import Report, bcubed, replay
from .jsonl import read_objects
from .profile import IncidentSettings
from .text import html_to_text

REQUIRED = ("id", "title", "text", "label")





@dataclass(frozen=True)
class LabelledItem:
    id: str
    title: str
    text: str
    label: str
    event: str | None
    published: str | None
    source: str | None


def read_labelled(path: Path) -> Iterator[LabelledItem]:
    """Items of a JSON Lines file (plain or .gz); a bad line stops with its number and the problem."""
    for where, record in read_objects(path):
        missing = [name for name in REQUIRED if name not in record]
        if missing:
            raise InputError(f"{where}: missing field {missing[0]!r}")
        if record["label"] not in LABELS:
            raise InputError(f"{where}: unknown label {record['label']!r} "
                                 f"(expected one of {', '.join(LABELS)})")
        yield LabelledItem(str(record["id"]), html_to_text(record["title"] or ""),
                           html_to_text(record["text"] or ""), record["label"], record.get("event"),
                           record.get("published"), record.get("source"))


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, truth: bool, predicted: bool) -> None:
        self.tp += truth and predicted
        self.fp += predicted and not truth
        self.fn += truth and not predicted

    def report(self) -> dict:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class Evaluation:
    """Running tallies over a stream of (item, verdict) pairs."""

    confusion: Counter = field(default_factory=Counter)
    incident: Counts = field(default_factory=Counts)
    related: Counts = field(default_factory=Counts)
    alertable: Counts = field(default_factory=Counts)
    alerts: int = 0
    false_alarms: int = 0
    events: dict[str, bool] = field(default_factory=dict)
    false_positives: list[tuple[LabelledItem, Score]] = field(default_factory=list)
    false_negatives: list[tuple[LabelledItem, Score]] = field(default_factory=list)
    matched: list[tuple[LabelledItem, Score]] = field(default_factory=list)  # incident or related
    items: int = 0
    seconds: float = 0.0

    def add(self, item: LabelledItem, verdict: Score) -> None:
        truth, predicted = item.label, verdict.label
        self.items += 1
        self.confusion[(truth, predicted)] += 1
        self.incident.add(truth == "incident", predicted == "incident")
        self.related.add(truth == "related", predicted == "related")
        self.alertable.add(truth != "none", predicted != "none")
        if predicted == "incident":
            self.alerts += 1
            self.false_alarms += truth == "none"
        if truth == "incident" and item.event:
            self.events[item.event] = self.events.get(item.event, False) or predicted == "incident"
        if predicted == "incident" and truth != "incident":
            self.false_positives.append((item, verdict))
        if truth == "incident" and predicted != "incident":
            self.false_negatives.append((item, verdict))
        if predicted != "none":
            self.matched.append((item, verdict))

    def report(self, incidents: IncidentSettings | None = None) -> dict:
        alerted = sum(self.events.values())
        return {
            "incident": self.incident.report(), "related": self.related.report(),
            "alertable": self.alertable.report(),
            "alerts": {"count": self.alerts, "false_alarms": self.false_alarms,
                       "precision": round(1 - self.false_alarms / self.alerts, 4) if self.alerts else 0.0},
            "events": {"total": len(self.events), "alerted": alerted,
                       "recall": round(alerted / len(self.events), 4) if self.events else 0.0,
                       "missed": sorted(e for e, hit in self.events.items() if not hit)},
            "confusion": {truth: {p: self.confusion[(truth, p)] for p in LABELS} for truth in LABELS},
            "items": self.items,
            "items_per_s": round(self.items / self.seconds) if self.seconds else 0,
            **({"incidents": incident_report(self.matched, incidents)} if incidents else {}),
        }


def incident_report(matched: list[tuple[LabelledItem, Score]], settings: IncidentSettings) -> dict:
    """Group the alerted items in published order as the daemon would, and score the grouping."""
    alerted = {item.id: item for item, verdict in matched if verdict.label == "incident"}
    reports = [Report(item.id, verdict.profile, verdict.label, _when(item.published), item.title,
                      item.text, verdict.evidence())
               for item, verdict in matched if item.id in alerted]
    decisions = [(report, d) for report, d in replay(reports, settings) if d is not None]
    clusters = {report.key: id(decision.incident) for report, decision in decisions}
    alerts = sum(decision.opened + bool(decision.changes) for _, decision in decisions)
    gold = {key: item.event or f"item:{key}" for key, item in alerted.items()}
    events = {item.event for item in alerted.values() if item.event}
    precision, recall, f1 = bcubed(clusters, gold)
    return {"events": len(events), "alerts": alerts,
            "incidents": sum(decision.opened for _, decision in decisions),
            "alerts_per_event": round(alerts / len(events), 3) if events else 0.0,
            "bcubed_precision": precision, "bcubed_recall": recall, "bcubed_f1": f1,
            "grouped_items": len(clusters)}


def _when(published: str | None) -> datetime:
    try:
        when = datetime.fromisoformat(published) if published else None
    except ValueError:
        when = None
    if when is None:
        return datetime.min.replace(tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def evaluate(items: Iterator[LabelledItem], classifier,
             progress: Callable[[int], None] | None = None) -> Evaluation:
    evaluation = Evaluation()
    scoring = 0.0
    for item in items:
        started = time.perf_counter()
        verdict = classifier.score(item.title, item.text)
        scoring += time.perf_counter() - started
        evaluation.add(item, verdict)
        if progress:
            progress(1)
    evaluation.seconds = scoring
    return evaluation


def trained_on(items_path: Path, trained_ids: frozenset[str]) -> int:
    """How many items of the file trained the learned layer (their numbers flatter it)."""
    return sum(1 for item in read_labelled(items_path) if item.id in trained_ids) if trained_ids else 0


def format_report(profile: str, report: dict) -> str:
    lines = [f"profile {profile}: {report['items']} items, {report['items_per_s']} items/s (scoring)", "",
             f"{'':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>6} {'fp':>6} {'fn':>6}"]
    for name in ("incident", "related", "alertable"):
        row = report[name]
        lines.append(f"{name:<10} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} "
                     f"{row['tp']:>6} {row['fp']:>6} {row['fn']:>6}")
    lines += ["", "confusion (rows: label, columns: predicted)",
              f"{'':<10}" + "".join(f"{p:>10}" for p in LABELS)]
    for truth in LABELS:
        lines.append(f"{truth:<10}" + "".join(f"{report['confusion'][truth][p]:>10}" for p in LABELS))
    alerts, events = report["alerts"], report["events"]
    lines += ["", f"alerts: {alerts['count']} pages, {alerts['false_alarms']} false alarms "
                  f"(label none), precision {alerts['precision']:.3f}",
              f"events: {events['alerted']} of {events['total']} incident events alerted "
              f"(recall {events['recall']:.3f})"]
    lines += [f"  missed: {event}" for event in events["missed"]]
    if "incidents" in report:
        grouping = report["incidents"]
        lines += [f"incidents: {grouping['alerts']} alerts for {grouping['events']} events "
                  f"({grouping['alerts_per_event']} per event), {grouping['incidents']} incidents; "
                  f"B-cubed P {grouping['bcubed_precision']:.3f} R {grouping['bcubed_recall']:.3f} "
                  f"F1 {grouping['bcubed_f1']:.3f}"]
    return "\n".join(lines)


def format_errors(evaluation: Evaluation, limit: int) -> str:
    if limit <= 0:
        return ""
    worst_fp = sorted(evaluation.false_positives, key=lambda pair: -pair[1].score)[:limit]
    worst_fn = sorted(evaluation.false_negatives, key=lambda pair: pair[1].score)[:limit]
    lines = []
    for heading, pairs in (("false positives (predicted incident)", worst_fp),
                           ("false negatives (incident not alerted)", worst_fn)):
        lines += ["", f"worst {heading}:"]
        for item, verdict in pairs:
            evidence = "; ".join(f"{g}: {', '.join(t)}" for g, t in verdict.evidence().items())
            lines.append(f"  [{item.label} -> {verdict.label} {verdict.score:.2f}] {item.title[:110]}")
            lines.append(f"      rule={verdict.rule or '-'} {evidence or 'no evidence'}")
    return "\n".join(lines)
