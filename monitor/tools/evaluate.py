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

from ..errors import InputError
from ..incidents import Report, bcubed, replay
from ..jsonl import read_objects
from ..model import LABELS, Score
from ..settings.profile import IncidentSettings
from ..text import html_to_text

REQUIRED = ("id", "title", "text")


@dataclass(frozen=True)
class LabelledItem:
    id: str
    title: str
    text: str
    label: str | None  # None in an unlabelled archive (monitor replay)
    event: str | None
    published: str | None
    source: str | None
    link: str | None = None


def read_labelled(path: Path, require_label: bool = True) -> Iterator[LabelledItem]:
    """Items of a JSON Lines file (plain or .gz); a bad line stops with its number and the problem."""
    for where, record in read_objects(path):
        missing = [name for name in (*REQUIRED, *(("label",) if require_label else ()))
                   if name not in record]
        if missing:
            raise InputError(f"{where}: missing field {missing[0]!r}")
        label = record.get("label")
        if label is not None and label not in LABELS:
            raise InputError(f"{where}: unknown label {label!r} "
                                 f"(expected one of {', '.join(LABELS)})")
        yield LabelledItem(str(record["id"]), html_to_text(record["title"] or ""),
                           html_to_text(record["text"] or ""), label, record.get("event"),
                           record.get("published"), record.get("source"), record.get("link"))


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
            **(self._grouping(incidents) if incidents else {}),
        }

    def _grouping(self, settings: IncidentSettings) -> dict:
        pages, joined, _ = grouped_pages(self.matched, settings)
        items = {item.id: item for item, _ in self.matched}
        return {"pages": page_metrics(pages, joined, items, set(self.events)),
                "incidents": incident_report(self.matched, settings)}


@dataclass(frozen=True)
class Page:
    """One message a user gets: an incident's alert or update. `headline` is the item that
    opened the incident (its headline is the message's), `item` the one whose arrival sent it."""

    headline: str
    item: str
    kind: str  # "alert" or "update"


def page_metrics(pages: list[Page], joined: dict[str, str], items: dict[str, LabelledItem],
                 events: set[str]) -> dict:
    """What a user feels, per attack: which true incident events got a page of their own.

    `joined` maps each item that joined an incident to the item that opened it. An event is
    paged when a page's headline is one of its items; swallowed when it is not, and its items
    joined incidents opened by other events' (or unlabelled) items. `items` holds at least every
    item named in `pages` and `joined`; `events` every true incident event of the period."""
    def event_of(item_id: str) -> str | None:
        item = items.get(item_id)
        return item.event if item is not None else None

    paged = {event_of(page.headline) for page in pages} & events
    swallowed = {event_of(member) for member, opener in joined.items()
                 if event_of(opener) != event_of(member)} & (events - paged)
    about_paged = sum(1 for page in pages if event_of(page.headline) in paged)
    false_pages = sum(1 for page in pages
                      if items.get(page.headline) is not None and items[page.headline].label == "none")
    return {"events": len(events), "events_paged": len(paged),
            "paged_share": round(len(paged) / len(events), 4) if events else 0.0,
            "pages": len(pages),
            "pages_per_paged_event": round(about_paged / len(paged), 3) if paged else 0.0,
            "false_pages": false_pages, "swallowed": len(swallowed),
            "missed": sorted(events - paged - swallowed), "swallowed_events": sorted(swallowed)}


def format_pages(pages: dict) -> list[str]:
    lines = [f"pages (what users get, per attack): {pages['events_paged']} of {pages['events']} "
             f"incident events paged (share {pages['paged_share']:.3f}); {pages['pages']} pages, "
             f"{pages['pages_per_paged_event']} per paged event; {pages['false_pages']} false pages; "
             f"{pages['swallowed']} swallowed by another incident"]
    lines += [f"  not paged: {event}" for event in pages["missed"]]
    lines += [f"  swallowed: {event}" for event in pages["swallowed_events"]]
    return lines


def grouped_pages(matched: list[tuple[LabelledItem, Score]], settings: IncidentSettings
                  ) -> tuple[list[Page], dict[str, str], dict[str, int]]:
    """Group matched items in published order in memory, as the daemon does after a poll.
    Returns the pages, item -> opener of the incident it joined, and item -> incident number."""
    reports = [Report(item.id, verdict.profile, verdict.label, _when(item.published), item.title,
                      item.text, verdict.evidence(), verdict.evidence(headline_only=True))
               for item, verdict in matched if verdict.label != "none"]
    pages, joined, clusters, openers = [], {}, {}, {}
    for report, decision in replay(reports, settings):
        if decision is None:
            continue
        token = id(decision.incident)
        clusters[report.key] = token
        if decision.opened:
            openers[token] = report.key
            pages.append(Page(report.key, report.key, "alert"))
            continue
        joined[report.key] = openers[token]
        if decision.changes:
            pages.append(Page(openers[token], report.key, "update"))
    return pages, joined, clusters


def incident_report(matched: list[tuple[LabelledItem, Score]], settings: IncidentSettings) -> dict:
    """Group the matched items as the daemon would; score the grouping of the alerted ones."""
    pages, _, clusters = grouped_pages(matched, settings)
    alerted = {item.id: item for item, verdict in matched if verdict.label == "incident"}
    clusters = {key: token for key, token in clusters.items() if key in alerted}
    gold = {key: item.event or f"item:{key}" for key, item in alerted.items() if key in clusters}
    events = {item.event for item in alerted.values() if item.event}
    precision, recall, f1 = bcubed(clusters, gold)
    return {"events": len(events), "alerts": len(pages),
            "incidents": sum(page.kind == "alert" for page in pages),
            "alerts_per_event": round(len(pages) / len(events), 3) if events else 0.0,
            "bcubed_precision": precision, "bcubed_recall": recall, "bcubed_f1": f1,
            "grouped_items": len(clusters)}


def published_at(value: str | None) -> datetime | None:
    """An item's `published` field as an aware UTC datetime; None when missing or unreadable."""
    try:
        when = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _when(published: str | None) -> datetime:
    # undated items are grouped as if all made at one time
    return published_at(published) or datetime(1970, 1, 1, tzinfo=timezone.utc)


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
    lines = [f"profile {profile}: {report['items']} items, {report['items_per_s']} items/s (scoring)", ""]
    if "pages" in report:
        lines += format_pages(report["pages"]) + [""]
    lines += [f"{'':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>6} {'fp':>6} {'fn':>6}"]
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
