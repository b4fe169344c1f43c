"""Prometheus metrics: what the pipeline, the dispatcher and the config watcher record (one call
at each place), in this module's own registry, and the outbox depth, read from the database when
/metrics is scraped (monitor/web/health.py serves `exposition`).

Labels stay few: feed, channel and profile names come from the watchlist; the other labels take
values from fixed sets (poll results, classes, message kinds, outbox statuses, the classes of
monitor.errors). No title, URL, error text or secret is ever a label value.
"""

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .errors import FeedError
from .model import OutboxStatus, PollPlan, PollStatus
from .store.reports import outbox_counts

log = logging.getLogger("monitor.metrics")

REGISTRY = CollectorRegistry()


class FeedCounter(Collector):
    """A counter with a `feed` label, one number per label set. prometheus_client's labelled
    Counter keeps an object per label set (a lock, a created time and its own `_created` series):
    with 50,000 feeds, the polls and items counters held 128 MB and took 2.7 s of CPU a scrape; as
    numbers, 26 MB and 0.9 s (bench/metrics.py). Incremented from the event loop and the poll's
    worker thread."""

    def __init__(self, name: str, documentation: str, labelnames: list[str],
                 registry: CollectorRegistry = REGISTRY):
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.counts: dict[tuple[str, ...], float] = {}
        self.lock = threading.Lock()
        registry.register(self)

    def inc(self, *labels: str, amount: float = 1) -> None:
        if len(labels) != len(self.labelnames) or not all(isinstance(label, str) for label in labels):
            raise ValueError(f"{self.name} counts by {', '.join(self.labelnames)}: got {labels!r}")
        with self.lock:
            self.counts[labels] = self.counts.get(labels, 0) + amount

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        with self.lock:
            counts = list(self.counts.items())
        for labels, value in counts:
            family.add_metric(labels, value)
        yield family


POLLS = FeedCounter("monitor_polls", "Feed polls by result (ok, not-modified, error)", ["feed", "result"])
FETCH_ERRORS = FeedCounter("monitor_fetch_errors", "Feeds that could not be fetched or read, by kind "
                           "(the error class: FetchTimeout, StatusError, BodyTooLarge, NotAFeed, ...)",
                           ["feed", "kind"])
ITEMS_SEEN = FeedCounter("monitor_items_seen", "Items read from a feed, stored before or not", ["feed"])
ITEMS_NEW = FeedCounter("monitor_items_new", "Items stored for the first time", ["feed"])
MATCHES = Counter("monitor_matches", "New items a profile matched, by class (related, incident)",
                  ["profile", "class"], registry=REGISTRY)
PAGES = Counter("monitor_pages", "Messages handed to a channel, by result: sent; failed (tried again "
                "later); dead (the last attempt failed)", ["channel", "kind", "result"], registry=REGISTRY)
POLL_DURATION = Histogram("monitor_poll_duration_seconds", "Wall time of one poll of the due feeds",
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300), registry=REGISTRY)
PUBLISH_TO_PAGE = Histogram("monitor_publish_to_page_seconds", "From an item's published time (its fetch "
                            "time when undated) to its page being accepted by the channel",
                            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400,
                                     259200, 604800), registry=REGISTRY)
RELOADS = Counter("monitor_config_reloads", "Edits of the watchlist or profiles, by result (applied, "
                  "rejected)", ["result"], registry=REGISTRY)
for _result in ("applied", "rejected"):  # shown at 0 from the start, so that rate() sees the first one
    RELOADS.labels(_result)

_PAGE_RESULT = {OutboxStatus.SENT: "sent", OutboxStatus.PENDING: "failed", OutboxStatus.DEAD: "dead"}


def poll_done(plan: PollPlan, items_seen: int, items_new: int) -> None:
    """A feed polled and stored: its result, the items it had, those new, and their matches (as
    planned: an item another worker stored meanwhile still counts here)."""
    POLLS.inc(plan.feed_name, plan.status)
    if items_seen:  # not a 304: most polls
        ITEMS_SEEN.inc(plan.feed_name, amount=items_seen)
        ITEMS_NEW.inc(plan.feed_name, amount=items_new)
    for scored in plan.new_items:
        for verdict in scored.verdicts:
            MATCHES.labels(verdict.profile, verdict.label).inc()


def poll_failed(feed: str, error: Exception) -> None:
    """A feed's poll failed; a fetch or parse error also counts by its class."""
    POLLS.inc(feed, PollStatus.ERROR)
    if isinstance(error, FeedError):
        FETCH_ERRORS.inc(feed, type(error).__name__)


def timed_poll(poll_async: Callable) -> Callable:
    """Decorates the async poll: its wall time goes into monitor_poll_duration_seconds."""
    @functools.wraps(poll_async)
    async def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await poll_async(*args, **kwargs)
        finally:
            POLL_DURATION.observe(time.perf_counter() - started)
    return timed


def page_done(row, status: str, now: datetime) -> None:
    """One send of an outbox row (a store.outbox.ClaimedMessage) ended in `status`; a page of an
    item that went out also records how long after the item's publication it did."""
    result = _PAGE_RESULT.get(status)
    if result is None:  # another dispatcher took the row over and records its own result
        return
    PAGES.labels(row.channel, row.kind, result).inc()
    if result == "sent" and row.reported_at is not None:
        PUBLISH_TO_PAGE.observe(max(0.0, (now - row.reported_at).total_seconds()))


def config_reloaded() -> None:
    RELOADS.labels("applied").inc()


def config_rejected() -> None:
    RELOADS.labels("rejected").inc()


class OutboxDepth(Collector):
    """monitor_outbox_depth{status}: outbox rows per status, counted when scraped. Without the
    database the metric is left out (the rest is still served; /healthz tells the outage)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = outbox_counts(self.engine)
        except SQLAlchemyError as exc:
            log.warning("outbox depth not scraped: the database did not answer (%s)", type(exc).__name__)
            return
        depth = GaugeMetricFamily("monitor_outbox_depth", "Outbox rows by status", labels=["status"])
        for status in OutboxStatus:
            depth.add_metric([status], counts.get(status, 0))
        yield depth


class _Scrape(Collector):
    """The registry's metrics and the outbox depth of one database, as one collector."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        yield from REGISTRY.collect()
        yield from OutboxDepth(self.engine).collect()


def exposition(engine: Engine) -> bytes:
    """Every metric, in the Prometheus text format (content type CONTENT_TYPE_LATEST)."""
    return generate_latest(_Scrape(engine))
