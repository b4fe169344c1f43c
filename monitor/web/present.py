"""What the pages and the API show, computed once for both: matched terms marked in a text, times,
safe links, secrets scrubbed, and the JSON form of the store's read models."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from ..classify.explain import longest_first
from ..classify.rules import FoldedText
from ..classify.scorer import ProfileScorer
from ..logs import MASK, mask_credentials, redact_sensitive
from ..model import Hit, Score
from ..store.reports import FeedItem, IncidentReport, MatchView, OutboxView, PageSent, SourceReport

_SEPARATOR = " | "  # between the sentences of a FoldedText (classify/rules.py)


def utc(value: datetime | None) -> datetime | None:
    """Stored times are UTC; SQLite gives them back without a zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def when(value: datetime | None) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def iso(value: datetime | None) -> str | None:
    return utc(value).astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def span(delta: timedelta | None) -> str:
    """A duration as people say it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


def http_link(url: str | None) -> str | None:
    """The URL if it is an http(s) link; a feed may carry javascript:, data: or worse."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def scrub(text: str | None, secrets: list[str]) -> str | None:
    """Stored errors carry no secret; masked again here so that none can reach a page."""
    return redact_sensitive(text, secrets) if text else text


# ---- matched terms marked in a text (the `monitor score --explain` marking) ----------------------

@dataclass(frozen=True)
class Segment:
    text: str
    group: str | None = None  # the concept group of a matched term; "NOT term" for a negative


@dataclass(frozen=True)
class Sentence:
    label: str  # "headline", "sentence 1", ...
    segments: tuple[Segment, ...]


def marked(scorer: ProfileScorer, title: str, text: str) -> list[Sentence]:
    """The folded text, sentence by sentence, with each matched term marked by its group. The same
    choice as classify/explain.py: of overlapping hits, the longest (earliest) wins."""
    folded = FoldedText.of(title, text)
    chosen = longest_first(scorer.rules.hits(folded))
    starts = folded.sentence_starts
    sentences = []
    for number, start in enumerate(starts):
        end = starts[number + 1] - len(_SEPARATOR) if number + 1 < len(starts) else len(folded.cased) - 1
        inside = [hit for hit in chosen if start <= hit.start and hit.end <= end]
        label = "headline" if number == 0 and title else f"sentence {number}"
        sentences.append(Sentence(label, tuple(_segments(folded.cased, start, end, inside))))
    return sentences


def _segments(text: str, start: int, end: int, hits: list[Hit]) -> list[Segment]:
    segments, at = [], start
    for hit in hits:
        if hit.start > at:
            segments.append(Segment(text[at:hit.start]))
        group = "NOT " + hit.term if hit.group.startswith("-") else hit.group
        segments.append(Segment(text[hit.start:hit.end], group))
        at = hit.end
    if at < end:
        segments.append(Segment(text[at:end]))
    return segments


# ---- JSON --------------------------------------------------------------------------------------

def sentences_json(sentences: list[Sentence]) -> list[dict]:
    return [{"label": s.label, "segments": [{"text": g.text, "group": g.group} for g in s.segments]}
            for s in sentences]


def score_json(profile: str, verdict: Score, sentences: list[Sentence]) -> dict:
    return {"profile": profile, "class": verdict.label, "score": verdict.score, "rule": verdict.rule,
            "layer": verdict.layer, "probability": verdict.probability,
            "evidence": verdict.evidence(), "marked": sentences_json(sentences)}


def page_sent_json(page: PageSent, secrets: list[str]) -> dict:
    return {"id": page.id, "channel": page.channel, "kind": page.kind, "status": page.status,
            "attempts": page.attempts, "last_error": scrub(page.last_error, secrets),
            "created_at": iso(page.created_at), "sent_at": iso(page.sent_at),
            "merged_into": page.merged_into, "merged_status": page.merged_status}


def source_json(source: SourceReport, secrets: list[str], with_text: bool = False) -> dict:
    data = {"match_id": source.match_id, "title": source.title, "feed": source.feed,
            "link": http_link(source.link), "published": iso(source.published), "class": source.label,
            "score": source.score, "rule": source.rule, "role": source.role, "layer": source.layer,
            "evidence": source.evidence, "pages": [page_sent_json(p, secrets) for p in source.pages]}
    if with_text:
        data["text"] = source.text
    return data


def incident_json(incident: IncidentReport, secrets: list[str], with_text: bool = False) -> dict:
    return {"id": incident.id, "profile": incident.profile, "title": incident.title,
            "opened_at": iso(incident.opened_at), "last_at": iso(incident.last_at),
            "updates": incident.updates, "facts": incident.facts,
            "sources": [source_json(s, secrets, with_text) for s in incident.sources]}


def match_json(match: MatchView) -> dict:
    return {"id": match.id, "profile": match.profile, "class": match.label, "score": match.score,
            "rule": match.rule, "evidence": match.evidence, "title": match.title,
            "link": http_link(match.link),
            "feed": match.feed, "published": iso(match.published), "matched_at": iso(match.matched_at),
            "incident_id": match.incident_id, "role": match.role}


def outbox_json(row: OutboxView, secrets: list[str]) -> dict:
    return {"id": row.id, "status": row.status, "channel": row.channel, "kind": row.kind,
            "attempts": row.attempts, "next_attempt_at": iso(row.next_attempt_at), "hold": row.hold,
            "last_error": scrub(row.last_error, secrets), "title": row.title,
            "created_at": iso(row.created_at),
            "sent_at": iso(row.sent_at), "merged_into": row.merged_into}


def feed_item_json(item: FeedItem) -> dict:
    return {"id": item.id, "title": item.title, "link": http_link(item.link),
            "published": iso(item.published),
            "fetched_at": iso(item.fetched_at), "classes": item.labels}


def plain(value):
    """A config dump made readable: durations as 30s/10m/2h, paths as text, secrets as ***."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{int(seconds // size)}{unit}"
        return f"{seconds:g}s"
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "get_secret_value"):
        return MASK
    if hasattr(value, "isoformat") and not isinstance(value, datetime):
        return value.strftime("%H:%M")
    return value


def delivery(page: PageSent) -> str:
    """How a page's delivery went, in a few words."""
    if page.merged_into:
        return f"went out in digest #{page.merged_into} ({page.merged_status or 'unknown'})"
    if page.status == "sent":
        return f"sent {when(page.sent_at)}"
    tries = f" after {page.attempts} attempt{'s' if page.attempts != 1 else ''}" if page.attempts else ""
    return f"{page.status}{tries}"


# ---- feeds, as `monitor feeds` shows them, failing first ---------------------------------------

@dataclass(frozen=True)
class FeedRow:
    name: str
    url: str
    status: str
    failing: bool
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    error_count: int
    backoff: timedelta | None  # the wait after the last error, until next_due_at
    next_due_at: datetime | None
    items_seen: int
    silent_for: timedelta | None  # since the newest item was fetched


def feed_rows(feeds: list[tuple[str, str]], health: dict, now: datetime, secrets: list[str]) -> list[FeedRow]:
    """[(name, url)] of the watchlist with their stored health (FeedHealthView by name), failing first."""
    rows = []
    for name, url in feeds:
        seen = health.get(name)
        if seen is None:
            rows.append(FeedRow(name, mask_credentials(url), "never polled", False, None, None, None, 0, None,
                                None, 0, None))
            continue
        feed, failing = seen.feed, seen.feed.last_status == "error"
        backoff = utc(feed.next_due_at) - utc(feed.last_error_at) if failing and feed.last_error_at else None
        rows.append(FeedRow(name, mask_credentials(url), feed.last_status or "never polled", failing,
                            feed.last_success_at, scrub(feed.last_error, secrets), feed.last_error_at,
                            feed.error_count, backoff, feed.next_due_at, feed.items_seen,
                            now - utc(seen.last_item_at) if seen.last_item_at else None))
    return sorted(rows, key=lambda row: (not row.failing, row.name))


def feed_json(row: FeedRow) -> dict:
    def seconds(delta):
        return round(delta.total_seconds()) if delta is not None else None
    return {"name": row.name, "url": row.url, "status": row.status, "failing": row.failing,
            "last_success_at": iso(row.last_success_at), "last_error": row.last_error,
            "last_error_at": iso(row.last_error_at), "error_count": row.error_count,
            "backoff_seconds": seconds(row.backoff), "next_due_at": iso(row.next_due_at),
            "items_seen": row.items_seen, "silent_for_seconds": seconds(row.silent_for)}
