"""Plain data passed between the pipeline stages (fetch -> parse -> classify -> store -> notify)."""

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(frozen=True)
class Score:
    """The classifier's verdict on one item for one profile."""

    profile: str
    label: str  # "incident" | "related" | "none"
    score: float
    rule: str | None = None
    hits: tuple[Hit, ...] = ()
    negatives: tuple[Hit, ...] = ()
    layer: str = "rules"  # which layer decided the class: "rules" or "learned"
    probability: float | None = None  # the learned layer's estimate, when it ran

    @classmethod
    def stored(cls, profile: str, label: str, score: float, rule: str | None,
               evidence: dict[str, list[str]], layer: str = "rules") -> "Score":
        """A verdict read back from the database: its evidence without positions."""
        hits = tuple(Hit(group, term, 0, 0, 0) for group, terms in evidence.items()
                     if group != "negative" for term in terms)
        negatives = tuple(Hit("-negative", term, 0, 0, 0) for term in evidence.get("negative", ()))
        return cls(profile, label, score, rule, hits, negatives, layer)

    def evidence(self, headline_only: bool = False) -> dict[str, list[str]]:
        """Matched terms per group (negatives under "negative"), in first-seen order; with
        `headline_only`, those of the first sentence (the headline) alone."""
        grouped: dict[str, list[str]] = {}
        for hit in self.hits:
            if headline_only and hit.sentence != 0:
                continue
            terms = grouped.setdefault(hit.group, [])
            if hit.term not in terms:
                terms.append(hit.term)
        for hit in () if headline_only else self.negatives:
            terms = grouped.setdefault("negative", [])
            if hit.term not in terms:
                terms.append(hit.term)
        return grouped


LABELS = ("none", "related", "incident")


def label_rank(label: str) -> int:
    return LABELS.index(label)


@dataclass(frozen=True)
class PollOutcome:
    """Summary of one feed poll, for the log line and the tests."""

    feed_name: str
    status: str  # "ok", "not-modified", "error"
    new_items: int = 0
    matches: int = 0
    alerts: int = 0
    error: str | None = None
    extra: dict = field(default_factory=dict)
