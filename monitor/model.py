"""Plain data passed between the pipeline stages (fetch -> parse -> classify -> group -> alert),
and the names of the states things go through. Every other module may import this one; it
imports nothing of the project."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Label(StrEnum):
    """An item's class for a profile, in rank order."""

    NONE = "none"
    RELATED = "related"
    INCIDENT = "incident"


class Role(StrEnum):
    """What grouping made of a match. NULL in the database: not grouped yet."""

    OPENED = "opened"  # opened an incident and paged
    UPDATE = "update"  # joined one and sent its update
    JOINED = "joined"  # joined one silently, as a source
    ALONE = "alone"  # in no incident (a related item, or context about an older attack)
    STORED = "stored"  # a new feed's back catalogue: kept, never grouped


class OutboxStatus(StrEnum):
    """pending -> claimed -> sending -> sent | pending (retry) | dead; pending -> held -> merged
    into a digest row; `sending` found after a crash -> uncertain (never resent by itself)."""

    PENDING = "pending"
    HELD = "held"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    UNCERTAIN = "uncertain"
    MERGED = "merged"


OUTBOX_OPEN = (OutboxStatus.PENDING, OutboxStatus.HELD, OutboxStatus.CLAIMED, OutboxStatus.SENDING,
               OutboxStatus.DEAD, OutboxStatus.UNCERTAIN)


class Hold(StrEnum):
    """Why a held outbox row waits. A row held for a digest route carries that route's key instead
    (alerts.routing.digest_key, which starts with DIGEST_HOLD)."""

    QUIET = "quiet"  # until the route's quiet hours end
    RATE = "rate"  # until the channel's rate limit allows


DIGEST_HOLD = "digest:"


class MessageKind(StrEnum):
    """What an outbox row carries."""

    ALERT = "alert"  # the first report of an incident, or a related item
    UPDATE = "update"  # a material change to an incident
    DIGEST = "digest"  # held alerts summed up (quiet hours over, digest schedule)
    MERGED = "merged"  # alerts held by a rate limit, sent as one
    OPS = "ops"  # the monitor telling its admin about itself


class PollStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not-modified"
    ERROR = "error"


@dataclass(frozen=True)
class FeedState:
    """What the fetcher needs to know about a feed to make a conditional request."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """A completed HTTP exchange. `body` is None for 304 Not Modified."""

    feed_name: str
    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    content_type: str | None
    final_url: str

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class Item:
    """One normalised feed entry: plain text, UTC time, canonical link."""

    feed_name: str
    key: str
    url: str | None
    title: str
    text: str
    published: datetime | None


@dataclass(frozen=True)
class Hit:
    """One matched term: which concept group, which canonical term, and where."""

    group: str
    term: str
    sentence: int
    start: int
    end: int


ARTICLE = "article"  # the evidence key of the terms found only in an item's article page


@dataclass(frozen=True)
class Score:
    """The classifier's verdict on one item for one profile."""

    profile: str
    label: str  # a Label
    score: float
    rule: str | None = None
    hits: tuple[Hit, ...] = ()
    negatives: tuple[Hit, ...] = ()
    layer: str = "rules"  # which layer decided the class: "rules" or "learned"
    probability: float | None = None  # the learned layer's estimate, when it ran
    article_from: int | None = None  # the first sentence of the article page's text, if read

    @classmethod
    def stored(cls, profile: str, label: str, score: float, rule: str | None,
               evidence: dict[str, list[str]], layer: str = "rules") -> "Score":
        """A verdict read back from the database: its evidence without positions (a term found
        only in the article page stands in sentence 1, the others in sentence 0)."""
        article = set(evidence.get(ARTICLE, ()))
        hits = tuple(Hit(group, term, int(term in article), 0, 0) for group, terms in evidence.items()
                     if group not in ("negative", ARTICLE) for term in terms)
        negatives = tuple(Hit("-negative", term, 0, 0, 0) for term in evidence.get("negative", ()))
        return cls(profile, label, score, rule, hits, negatives, layer, article_from=1 if article else None)

    def evidence(self, headline_only: bool = False) -> dict[str, list[str]]:
        """Matched terms per group (then, under "article", those found only in the article
        page, and negatives under "negative"), in first-seen order; with `headline_only`, those
        of the first sentence (the headline) alone."""
        grouped: dict[str, list[str]] = {}
        for hit in self.hits:
            if headline_only and hit.sentence != 0:
                continue
            terms = grouped.setdefault(hit.group, [])
            if hit.term not in terms:
                terms.append(hit.term)
        article = [] if headline_only else self.article_terms()
        if article:
            grouped[ARTICLE] = article
        for hit in () if headline_only else self.negatives:
            terms = grouped.setdefault("negative", [])
            if hit.term not in terms:
                terms.append(hit.term)
        return grouped

    def article_terms(self) -> list[str]:
        """The matched terms found only in the article page's text, not in what the feed gave."""
        if self.article_from is None:
            return []
        in_feed = {hit.term for hit in self.hits if hit.sentence < self.article_from}
        return list(dict.fromkeys(hit.term for hit in self.hits if hit.term not in in_feed))

    def shown_evidence(self) -> dict[str, list[str]]:
        """The evidence as an alert shows it: a term found only in the article page is marked
        "(article)" ("place: Iraq (article)")."""
        article = set(self.article_terms())
        return {group: [f"{term} (article)" if term in article and group != "negative" else term
                        for term in terms]
                for group, terms in self.evidence().items() if group != ARTICLE}


LABELS = tuple(Label)


def label_rank(label: str) -> int:
    return LABELS.index(Label(label))


@dataclass(frozen=True)
class PollOutcome:
    """Summary of one feed poll, for the log line and the tests."""

    feed_name: str
    status: str  # a PollStatus
    new_items: int = 0
    matches: int = 0
    alerts: int = 0
    error: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """Of a feed's items, the keys (this feed's) and links (any feed's) already stored; links are
    looked up only for items whose key was not found."""

    keys: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    as_of: int | None = None  # the newest item id when this was read (None: unknown)
    titles: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # by key

    def changed(self, items: list["Item"]) -> list["Item"]:
        """Items whose key was seen with another title (a feed reusing a GUID)."""
        return [item for item in items if item.key in self.titles and self.titles[item.key] != item.title]

    def new(self, items: list["Item"]) -> list["Item"]:
        """The items not seen, and only the first of several with one key or link."""
        keys, urls, new = set(self.keys), set(self.urls), []
        for item in items:
            if item.key in keys or (item.url and item.url in urls):
                continue
            keys.add(item.key)
            if item.url:
                urls.add(item.url)
            new.append(item)
        return new


@dataclass(frozen=True)
class ScoredItem:
    """A new item and its verdicts that are not `none` (empty: it matched no profile)."""

    item: Item
    verdicts: tuple[Score, ...] = ()
    stale: bool = False  # published too long ago, or dated in the future: stored, never pages


@dataclass(frozen=True)
class PollPlan:
    """What one feed's poll writes, decided before the write transaction (pipeline.plan_poll)."""

    feed_id: int
    feed_name: str
    status: PollStatus
    etag: str | None
    last_modified: str | None
    new_items: tuple[ScoredItem, ...]
    hold_alerts: bool  # a new feed's back catalogue: stored and scored, never grouped or paged
    polled_at: datetime
    next_due_at: datetime
    seen_as_of: int | None = None  # Seen.as_of of the read the plan was made from
    # (key, link, title) of every entry the feed served; None (not modified, no entries): the stored ones stay
    in_feed: tuple[tuple[str, str | None, str], ...] | None = None


@dataclass(frozen=True)
class PendingMatch:
    """A stored match awaiting grouping, with its item and verdict."""

    match_id: int
    item: Item
    verdict: Score
    when: datetime  # when the report counts as made
    matched_at: datetime
    headline: dict[str, list[str]]  # the verdict's evidence in the headline alone


@dataclass(frozen=True)
class Message:
    """An alert before rendering: its kind and the template values; rendered once per channel."""

    kind: MessageKind
    values: dict


@dataclass(frozen=True)
class OutboxMessage:
    """One rendered message for one channel, to be written to the outbox."""

    channel: str
    kind: MessageKind
    format: str
    title: str
    body: str


@dataclass(frozen=True)
class Span:
    """When the attack happened, as far as the reports tell: [start, end], and whether a report
    named the day (exact) or it is guessed from when the report was made."""

    start: datetime
    end: datetime
    exact: bool = False

    def gap(self, other: "Span") -> timedelta:
        """How far apart two spans are: zero when they overlap, else the time between them
        (spans end where the next day begins: two days in a row are apart, by zero)."""
        return max(timedelta(0), other.start - self.end, self.start - other.end)

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.end and other.start < self.end

    def narrowed(self, other: "Span") -> "Span":
        """The overlap of two spans that overlap (what both reports allow); else this one."""
        start, end = max(self.start, other.start), min(self.end, other.end)
        if start >= end:
            return self
        return Span(start, end, self.exact or other.exact)



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
    headline: dict[str, list[str]] = field(default_factory=dict)  # evidence of the headline alone



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
    span: Span | None = None  # when the attack happened, as its reports tell



@dataclass(frozen=True)
class Decision:
    incident: Incident
    opened: bool
    changes: tuple[str, ...] = ()  # material changes that call for an update alert


FUTURE_SKEW = timedelta(hours=1)  # an item dated this far ahead of our clock still counts as now


def is_stale(published: datetime | None, now: datetime, max_item_age: timedelta) -> bool:
    """Published before `max_item_age` ago, or later than now (beyond a clock's skew): an old
    story a feed brings up again, or a wrong date; either way not news to page about."""
    return published is not None and not now - max_item_age <= published <= now + FUTURE_SKEW


def report_time(published: datetime | None, now: datetime) -> datetime:
    """When a report counts as made: its published time, unless missing or in the future."""
    return published if published is not None and published <= now else now
