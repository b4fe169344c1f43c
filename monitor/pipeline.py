"""One poll, as in the design's data flow: claim due feeds -> fetch -> for each feed as it
answers, `refresh_feed`: parse -> new items -> (their article pages, ingest/article.py, for
the items that ask for one: `full_text`) -> classify -> plan (pure) -> store.apply_poll (one
short transaction per feed); then, once every feed of the poll is stored, `group_pending`: group
the new matches into incidents, route and render their pages, and write the outbox rows in one
transaction. The dispatcher (alerts/deliver.py) sends them.

Grouping after the poll, in published order across feeds, makes the pages independent of which
feed answered first (of those that answer within GROUP_AFTER seconds: a slow feed does not hold
back the pages of the others longer than that). A match stored but not yet grouped (role NULL)
is picked up by the next poll's grouping if the process dies or the database fails in between,
so no alert is lost.

`poll` is the single code path of `monitor poll`, the daemon's tick, the demo and the replay.
"""

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from . import metrics
from .alerts.render import message_for, outbox_messages
from .alerts.routing import route_channels
from .classify.scorer import ProfileScorer, load_scorers
from .errors import FetchError, ParseError, StatusError
from .incidents import assign, role_of
from .ingest.article import ArticlePages, RobotsRules
from .ingest.fetch import fetch_all
from .ingest.parse import Entry, read_entries
from .model import (
    Decision,
    FetchResult,
    Item,
    Label,
    PendingMatch,
    PollOutcome,
    PollPlan,
    PollStatus,
    Report,
    Role,
    Score,
    ScoredItem,
    Seen,
    is_stale,
)
from .settings.config import Config, FeedConfig
from .settings.profile import IncidentSettings
from .store import utcnow
from .store.database import analyzed_items, refresh_statistics
from .store.feeds import ClaimedFeed, claim_feeds, record_feed_error, release_feeds, sync_feeds
from .store.incidents import Grouping, grouping
from .store.items import SeenQuery, apply_poll, apply_polls, seen_in_feeds, seen_items
from .store.workers import worker_id
from .text import lede, with_article

log = logging.getLogger("monitor.poll")
GROUP_AFTER = 5.0  # seconds a poll waits for slow feeds before grouping what has arrived
STOP_CHECK = 0.2  # seconds between looks at the stop flag while feeds are fetched
CLAIMS_PER_FETCH_SLOT = 25  # a due-only poll claims at most this many feeds per fetch.concurrency;
# the daemon's next tick follows at once while feeds are still due, and other workers share them
UNCHANGED_BATCH = 200  # feeds whose new state is written in one transaction (UnchangedFeeds)
ANALYZE_AFTER = 10_000  # new rows stored by this process before the table statistics are refreshed,
ANALYZE_FIRST = 200  # or, in a small table, as many as it held when last analyzed, and at least these
SHORT_TEXT = 400  # characters: a feed's text shorter than this is a teaser (full_text: auto)
MAX_ARTICLES = 20  # article pages read per feed and poll


@dataclass
class Runtime:
    """What a poll needs, built once per loaded config."""

    config: Config
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    scorers: dict[str, ProfileScorer] = field(default_factory=dict)
    on_outbox: Callable[[], None] | None = None  # told when grouping wrote messages (the daemon wakes its dispatcher)
    robots: RobotsRules = field(default_factory=RobotsRules)  # sites' robots.txt, kept across polls

    _feeds: dict[str, FeedConfig] = field(default_factory=dict, init=False, repr=False)
    _feeds_of: Config | None = field(default=None, init=False, repr=False)
    _synced: Config | None = field(default=None, init=False, repr=False)
    _stored_since_analyze: int = field(default=0, init=False, repr=False)
    _analyzed_items: int | None = field(default=None, init=False, repr=False)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self):
        if not self.scorers:
            self.scorers = load_scorers(self.config.profiles, self.config.profiles_path)

    def interval(self, feed_name: str) -> timedelta:
        """A feed's poll interval, found by name in a dict (a watchlist may hold thousands)."""
        return self.config.feed_interval(self._feed(feed_name))

    def full_text(self, feed_name: str) -> str:
        """When the feed's items have their article page read: auto, always or never."""
        return self.config.feed_full_text(self._feed(feed_name))

    def _feed(self, feed_name: str) -> FeedConfig:
        if self._feeds_of is not self.config:
            self._feeds, self._feeds_of = {f.name: f for f in self.config.feeds}, self.config
        return self._feeds[feed_name]

    def sync_watchlist(self, now: datetime) -> None:
        """Bring the feed table in line with the watchlist, once per loaded config (a poll of a
        large watchlist does not read every feed row each time)."""
        if self._synced is not self.config:
            self.count_stored(sync_feeds(self.engine, [(f.name, f.url) for f in self.config.feeds], now))
            self._synced = self.config

    def count_stored(self, new_rows: int) -> None:
        """After many new rows (items, feeds), refresh the database's statistics (see
        refresh_statistics): every ANALYZE_AFTER rows, and sooner while the item table is small,
        each time it has doubled. A statement a connection has prepared keeps the plan made when
        it was first run until the next ANALYZE; made on a nearly empty table, that plan scans it.
        Before the doubling, a first poll of 300 feeds' 9,900 items took 18 s instead of 3: each
        feed's lookup scanned every item stored so far, for each of its entries."""
        if self.engine.dialect.name != "postgresql":  # SQLite plans each statement with what it has
            return
        try:
            if self._analyze_due(new_rows):
                self._analyzed_items = refresh_statistics(self.engine) or 0
        except Exception:  # only slower queries follow; what was stored stays stored
            log.exception("could not refresh the database's table statistics")

    def _analyze_due(self, new_rows: int) -> bool:
        """Count the rows; True (and the count starts again) when an ANALYZE is due. The poll's
        worker thread counts items, the event loop's feeds: one at a time, so none is lost."""
        with self._count_lock:
            self._stored_since_analyze += new_rows
            if self._analyzed_items is None:
                self._analyzed_items = 0  # if the read fails: as if empty, until an ANALYZE counts the rows
                self._analyzed_items = analyzed_items(self.engine) or 0
            if self._stored_since_analyze < min(ANALYZE_AFTER, max(ANALYZE_FIRST, self._analyzed_items)):
                return False
            self._stored_since_analyze = 0
            return True


def poll(runtime: Runtime, feed_names: list[str] | None = None, due_only: bool = False,
         stop: threading.Event | None = None) -> list[PollOutcome]:
    """Poll the named (default: all) feeds once. Returns one outcome per feed polled."""
    return asyncio.run(poll_async(runtime, feed_names, due_only, stop))


@metrics.timed_poll
async def poll_async(runtime: Runtime, feed_names: list[str] | None = None, due_only: bool = False,
                     stop: threading.Event | None = None) -> list[PollOutcome]:
    now, worker = runtime.clock(), worker_id()
    runtime.sync_watchlist(now)
    batch = CLAIMS_PER_FETCH_SLOT * runtime.config.fetch.concurrency if due_only else None
    claims = {c.state.name: c for c in claim_feeds(runtime.engine, feed_names, now, due_only, worker=worker,
                                                   limit=batch)}
    outcomes, alerts = [], Counter()
    waiting = asyncio.create_task(_group_while_slow_feeds_answer(runtime, alerts))
    refreshing = asyncio.create_task(_refresh_as_they_answer(runtime, claims, outcomes))
    try:
        await _until_done_or_stopped(refreshing, stop)
    finally:
        waiting.cancel()
        refreshing.cancel()
        _give_back(runtime, worker)
    return finish_poll(runtime, outcomes, alerts)


async def _refresh_as_they_answer(runtime: Runtime, claims: dict[str, ClaimedFeed],
                                  outcomes: list[PollOutcome]) -> None:
    """Each feed is refreshed as it answers, in a task of its own: one waiting for its article
    pages holds up no other. Parsing, scoring and storing run on one worker thread, so that the
    event loop goes on fetching meanwhile; at most twice `fetch.concurrency` feeds are between
    their answer and their store (a body is dropped once its feed is stored), and fetching waits
    when they are. Outcomes are kept in the order the feeds answered."""
    refreshing: list[asyncio.Future] = []
    slots = asyncio.Semaphore(2 * runtime.config.fetch.concurrency)
    worker = ThreadPoolExecutor(1, thread_name_prefix="refresh")
    unchanged, writes = UnchangedFeeds(runtime.engine, worker), NewItemWrites(runtime, worker)
    lookups = SeenLookups(runtime, worker)
    async with ArticlePages(runtime.config.fetch, runtime.robots) as pages:
        try:
            async for state, result in fetch_all([c.state for c in claims.values()], runtime.config.fetch):
                if isinstance(result, FetchResult) and result.not_modified:
                    # Nothing to parse, look up or score: done here, cheaper than a thread hop.
                    refreshing.append(_done(refresh_feed(runtime, claims[state.name], result, unchanged)))
                    continue
                await slots.acquire()
                task = asyncio.create_task(refresh_feed_async(runtime, claims[state.name], result, pages,
                                                              lookups, worker, unchanged, writes))
                task.add_done_callback(lambda _: slots.release())
                refreshing.append(task)
            for task in refreshing:
                outcomes.append(await task)
            await unchanged.flush()
        finally:  # stopped, or a feed failed: the others end before their pages' client closes
            unfinished = [task for task in refreshing if not task.done()]
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            worker.shutdown(wait=True, cancel_futures=True)  # the feed being stored is finished


async def _until_done_or_stopped(task: asyncio.Task, stop: threading.Event | None) -> None:
    """Wait for the task; when `stop` is set, abandon it (its fetches are cancelled)."""
    while not task.done():
        if stop is not None and stop.is_set():
            task.cancel()
            return
        await asyncio.wait({task}, timeout=STOP_CHECK)
    task.result()  # raises what the task raised


def _give_back(runtime: Runtime, worker: str) -> None:
    """Claims not finished (a stop, a failure) are released at once, not held for the lease."""
    try:
        released = release_feeds(runtime.engine, worker)
    except Exception:  # the database is gone too: the claims end with their lease
        log.exception("could not release the feeds claimed by this poll")
        return
    if released:
        log.info("released %d feeds not polled to the end; they are due again", released)


async def _group_while_slow_feeds_answer(runtime: Runtime, alerts: Counter) -> None:
    """Feeds that answer within GROUP_AFTER seconds are grouped together, in published order;
    what a slow feed keeps waiting is grouped then, and every GROUP_AFTER seconds after."""
    while True:
        await asyncio.sleep(GROUP_AFTER)
        alerts.update(_group_or_leave_pending(runtime))


def finish_poll(runtime: Runtime, outcomes: list[PollOutcome], alerts: Counter | None = None
                ) -> list[PollOutcome]:
    """Group what the poll stored and log each feed's outcome with the alerts it led to."""
    alerts = (alerts or Counter()) + _group_or_leave_pending(runtime)
    outcomes = [replace(o, alerts=alerts.get(o.feed_name, 0)) for o in outcomes]
    for outcome in outcomes:
        _log_outcome(outcome)
    return outcomes


def _done(outcome: PollOutcome) -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    done.set_result(outcome)
    return done


def refresh_feed(runtime: Runtime, claim: ClaimedFeed, result: FetchResult | FetchError,
                 unchanged: "UnchangedFeeds | None" = None) -> PollOutcome:
    """Everything after the HTTP exchange for one feed, in order: parse the body; ask the store
    which items it has seen; classify the new ones and decide what to write (plan_poll: pure,
    outside any transaction); write it in one short transaction (store.apply_poll). Grouping and
    alerts follow once the poll's feeds are stored (group_pending). A failure is kept on the feed.
    No article page is read here (`monitor replay`); a poll reads them with refresh_feed_async."""
    read = _read_feed(runtime, claim, result)
    return read if isinstance(read, PollOutcome) else _store_feed(runtime, claim, result, read, unchanged)


async def refresh_feed_async(runtime: Runtime, claim: ClaimedFeed, result: FetchResult | FetchError,
                             pages: ArticlePages, lookups: "SeenLookups", worker: Executor | None = None,
                             unchanged: "UnchangedFeeds | None" = None,
                             writes: "NewItemWrites | None" = None) -> PollOutcome:
    """refresh_feed, with the article pages of the new items that ask for one (full_text) read
    between asking the store and classifying: their text is scored and stored with the item's.
    The work that is not waiting (parse, score, store) runs on `worker`; the store is asked
    together with other feeds' (`lookups`, on the same worker), and with `writes`, new items are
    stored together with other feeds' (NewItemWrites)."""
    loop = asyncio.get_running_loop()
    entries = await loop.run_in_executor(worker, _entries_or_failure, runtime, claim, result)
    if isinstance(entries, PollOutcome):
        return entries
    read, wanted = await asyncio.wrap_future(lookups.add(claim, entries))
    if wanted:
        texts = await pages.texts([item.url for item in wanted])
        read = replace(read, items=[replace(item, text=with_article(item.text, texts[item.url]))
                                    if item.url in texts else item for item in read.items])
    if writes is None:
        return await loop.run_in_executor(worker, _store_feed, runtime, claim, result, read, unchanged)
    plan = await loop.run_in_executor(worker, _plan_feed, runtime, claim, result, read)
    if not plan.new_items and unchanged is not None:
        unchanged.add(plan)
        return _stored(plan, read, 0, 0)
    try:
        new_items, matches = await asyncio.wrap_future(writes.add(plan))
    except Exception as exc:  # noqa: BLE001 - kept on the feed, as _store_feed does
        return await loop.run_in_executor(worker, _store_failed, runtime, claim, read, exc)
    return _stored(plan, read, new_items, matches)


def _choose(runtime: Runtime, claim: ClaimedFeed, entries: list[Entry], seen: Seen
            ) -> tuple["_FeedRead", list[Item]]:
    read = _feed_read(runtime, claim, entries, seen)
    return read, _wanting_article(runtime, claim, read)


@dataclass(frozen=True)
class _FeedRead:
    """A feed's new items, which of its entries the store has seen, and what it serves now (the
    (key, link, title) of every entry), when the poll read them."""

    items: list[Item]
    seen: Seen
    now: datetime
    interval: timedelta
    hold_alerts: bool  # a new feed's back catalogue: stored and scored, never paged
    served: tuple[tuple[str, str | None, str], ...] = ()


def _read_feed(runtime: Runtime, claim: ClaimedFeed, result: FetchResult | FetchError
               ) -> _FeedRead | PollOutcome:
    entries = _entries_or_failure(runtime, claim, result)
    if isinstance(entries, PollOutcome):
        return entries
    seen = Seen() if not entries else seen_items(runtime.engine, claim.id, entries, claim.first_poll,
                                                 claim.served)
    return _feed_read(runtime, claim, entries, seen)


def _entries_or_failure(runtime: Runtime, claim: ClaimedFeed, result: FetchResult | FetchError
                        ) -> list[Entry] | PollOutcome:
    try:
        return _entries_of(claim, result)
    except (FetchError, ParseError) as exc:
        metrics.poll_failed(claim.state.name, exc)
        return _failed(runtime, claim, str(exc), runtime.clock(), runtime.interval(claim.state.name),
                       _retry_after(exc))


def _feed_read(runtime: Runtime, claim: ClaimedFeed, entries: list[Entry], seen: Seen) -> _FeedRead:
    _log_reused_ids(claim.state.name, seen.changed(entries))
    return _FeedRead([entry.item() for entry in seen.new(entries)], seen, runtime.clock(),
                     runtime.interval(claim.state.name),
                     claim.first_poll and not runtime.config.first_poll_alerts,
                     tuple((entry.key, entry.url, entry.title) for entry in entries))


def _wanting_article(runtime: Runtime, claim: ClaimedFeed, read: _FeedRead) -> list[Item]:
    """The new items whose article page is read: none of a new feed's back catalogue (it never
    pages, and a feed's first poll would ask one site for dozens of pages at once), none that is
    too old to page, at most MAX_ARTICLES per feed and poll."""
    mode = runtime.full_text(claim.state.name)
    if mode == "never" or read.hold_alerts:
        return []
    wanted = [item for item in read.seen.new(read.items)
              if not is_stale(item.published, read.now, runtime.config.max_item_age)
              and wants_article(item, mode, runtime.scorers)]
    if len(wanted) > MAX_ARTICLES:
        log.info("feed=%s: %d new items ask for their article page; the first %d are read",
                 claim.state.name, len(wanted), MAX_ARTICLES)
    return wanted[:MAX_ARTICLES]


def wants_article(item: Item, mode: str, scorers: dict[str, ProfileScorer]) -> bool:
    """Whether reading the item's article page may make it an incident: it has a link, its feed
    gave little (`auto`: under SHORT_TEXT characters; `always`: whatever it gave), it passes some
    profile's cheap pre-filter (a term of a group an incident rule requires) and no profile finds
    it an incident on the feed's text alone."""
    if mode == "never" or not item.url or (mode == "auto" and len(item.text) >= SHORT_TEXT):
        return False
    passing = [s for s in scorers.values() if s.rules.prefilter(item.title, item.text)]
    return bool(passing) and all(s.score(item.title, item.text).label != Label.INCIDENT for s in passing)


class UnchangedFeeds:
    """Polls that brought nothing new (most of them: a 304, or only items seen before) write only
    their feed's new state; those are written together on the poll's worker thread, every
    UNCHANGED_BATCH feeds and at `flush`, one transaction instead of one per feed. `add` is
    called from the event loop (304s) and from the worker. Feeds whose write fails or never
    comes (a stop) stay claimed until the poll gives its claims back: they are due again."""

    def __init__(self, engine: Engine, worker: Executor):
        self.engine, self.worker = engine, worker
        self.plans: list[PollPlan] = []
        self.writes: list[Future] = []
        self.lock = threading.Lock()

    def add(self, plan: PollPlan) -> None:
        with self.lock:
            self.plans.append(plan)
            if len(self.plans) < UNCHANGED_BATCH:
                return
        self._write()

    async def flush(self) -> None:
        """Write what is left and wait for every write of the poll."""
        self._write()
        for write in self.writes:
            try:
                await asyncio.wrap_future(write)
            except Exception:  # the feeds are given back when the poll ends, due again
                log.exception("could not store the state of feeds that brought nothing new")

    def _write(self) -> None:
        with self.lock:
            plans, self.plans = self.plans, []
        if plans:
            self.writes.append(self.worker.submit(apply_polls, self.engine, plans))


class WorkerBatches:
    """Requests answered several at a time on the poll's worker thread: each `add` queues a job
    behind the work already waiting there, and the first of those jobs to run answers every
    request added by then (`answer`, in one statement or transaction). A busy worker (a first
    poll of many feeds) answers many at a time; an idle one answers each at once, so no page
    waits on others. Each subclass's `add` is called from the event loop."""

    def __init__(self, runtime: Runtime, worker: Executor):
        self.runtime, self.worker = runtime, worker
        self.waiting: list[tuple[Any, Future]] = []
        self.lock = threading.Lock()

    def _queue(self, request) -> Future:
        """The request's answer, once the worker has run `answer` on it."""
        answered: Future = Future()
        with self.lock:
            self.waiting.append((request, answered))
        self.worker.submit(self._answer_waiting)
        return answered

    def _answer_waiting(self) -> None:
        with self.lock:
            batch, self.waiting = self.waiting, []
        batch = [(request, answered) for request, answered in batch
                 if answered.set_running_or_notify_cancel()]  # a cancelled one's feed task is gone
        if batch:
            self.answer(batch)

    def answer(self, batch: list[tuple[Any, Future]]) -> None:
        """Set each request's future: its result or its exception."""
        raise NotImplementedError


class SeenLookups(WorkerBatches):
    """Which entries of the feeds that answered the store has seen, asked for several feeds in one
    statement (store.seen_in_feeds)."""

    def add(self, claim: ClaimedFeed, entries: list[Entry]) -> Future:
        """(_FeedRead, [Item wanting its article page]), once looked up."""
        return self._queue((claim, entries))

    def answer(self, batch: list[tuple[tuple[ClaimedFeed, list[Entry]], Future]]) -> None:
        try:
            seen = seen_in_feeds(self.runtime.engine, [SeenQuery(claim.id, entries, claim.first_poll, claim.served)
                                                       for (claim, entries), _ in batch])
        except Exception as exc:  # the database is gone: as one feed's lookup would, it fails the poll
            for _, read in batch:
                read.set_exception(exc)
            return
        for ((claim, entries), read), feed_seen in zip(batch, seen):
            try:
                read.set_result(_choose(self.runtime, claim, entries, feed_seen))
            except Exception as exc:  # noqa: BLE001 - raised where the feed's task awaits it
                read.set_exception(exc)


class NewItemWrites(WorkerBatches):
    """Polls that brought new items, stored several in one transaction (store.apply_polls). A
    batch the database refuses is stored again feed by feed: a bad row fails its own feed only."""

    def add(self, plan: PollPlan) -> Future:
        """The (new items, matches) stored, once written."""
        return self._queue(plan)

    def answer(self, batch: list[tuple[PollPlan, Future]]) -> None:
        try:
            counts = apply_polls(self.runtime.engine, [plan for plan, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning("storing %d feeds' new items together failed (%s); each is stored on its own",
                        len(batch), type(exc).__name__)
            counts = [self._write_alone(plan, written) for plan, written in batch]
        else:
            for (_, written), stored in zip(batch, counts):
                written.set_result(stored)
        self.runtime.count_stored(sum(new_items for new_items, _ in counts))

    def _write_alone(self, plan: PollPlan, written: Future) -> tuple[int, int]:
        try:
            stored = apply_poll(self.runtime.engine, plan)
        except Exception as exc:
            written.set_exception(exc)
            return 0, 0
        written.set_result(stored)
        return stored


def _store_feed(runtime: Runtime, claim: ClaimedFeed, result: FetchResult, read: _FeedRead,
                unchanged: UnchangedFeeds | None = None) -> PollOutcome:
    plan = _plan_feed(runtime, claim, result, read)
    try:
        if unchanged is not None and not plan.new_items:
            unchanged.add(plan)
            new_items = matches = 0
        else:
            new_items, matches = apply_poll(runtime.engine, plan)
            runtime.count_stored(new_items)  # mid-poll: a first poll of thousands of feeds needs it
    except Exception as exc:  # e.g. a value the database refuses: rolled back, kept on the feed
        return _store_failed(runtime, claim, read, exc)
    return _stored(plan, read, new_items, matches)


def _plan_feed(runtime: Runtime, claim: ClaimedFeed, result: FetchResult, read: _FeedRead) -> PollPlan:
    return plan_poll(claim, result, read.items, read.seen, runtime.scorers, read.now, read.interval,
                     hold_alerts=read.hold_alerts, max_item_age=runtime.config.max_item_age,
                     served=read.served)


def _stored(plan: PollPlan, read: _FeedRead, new_items: int, matches: int) -> PollOutcome:
    metrics.poll_done(plan, len(read.served), new_items)
    return PollOutcome(plan.feed_name, plan.status, new_items, matches, extra={"alerts_held": plan.hold_alerts})


def _store_failed(runtime: Runtime, claim: ClaimedFeed, read: _FeedRead, exc: Exception) -> PollOutcome:
    log.error("storing feed %s failed", claim.state.name, exc_info=exc)
    metrics.poll_failed(claim.state.name, exc)
    return _failed(runtime, claim, f"could not store the items: {type(exc).__name__}: "
                   f"{str(exc).splitlines()[0][:300]}", read.now, read.interval)


def plan_poll(claim: ClaimedFeed, result: FetchResult, items: list[Item], seen: Seen,
              scorers: dict[str, ProfileScorer], now: datetime, interval: timedelta,
              hold_alerts: bool, max_item_age: timedelta = timedelta(days=7),
              served: tuple[tuple[str, str | None, str], ...] | None = None) -> PollPlan:
    """What one feed's poll stores: its items not seen before, each with its verdicts (and
    whether it is too old or dated in the future to page), and the feed's new state, with the
    (key, link, title) of every entry it serves (`served`; by default those of `items`). Pure: reads
    nothing, writes nothing."""
    scored = tuple(ScoredItem(item, tuple(_verdicts(scorers, item)),
                              is_stale(item.published, now, max_item_age)) for item in seen.new(items))
    status = PollStatus.NOT_MODIFIED if result.not_modified else PollStatus.OK
    return PollPlan(claim.id, claim.state.name, status, result.etag, result.last_modified, scored,
                    hold_alerts, now, now + interval, seen.as_of,
                    in_feed=(served if served is not None else tuple((i.key, i.url, i.title) for i in items)) or None)


def _entries_of(claim: ClaimedFeed, result: FetchResult | FetchError) -> list[Entry]:
    if isinstance(result, FetchError):
        raise result
    if result.not_modified:
        return []
    return read_entries(result.body, claim.state.name, result.final_url, result.content_type)


def _log_reused_ids(feed: str, changed: list[Item]) -> None:
    """A feed that reuses an item's id for another story: the first version stays stored (the
    id is what tells a feed's items apart); say so, rather than dropping it silently."""
    if changed:
        log.info("feed=%s: %d items came again under a stored id with another title; the first "
                 "version is kept (e.g. id %r: %r)", feed, len(changed), changed[0].key[:80],
                 changed[0].title[:120])


def _retry_after(exc: Exception) -> float | None:
    return exc.retry_after if isinstance(exc, StatusError) else None


def _failed(runtime: Runtime, claim: ClaimedFeed, error: str, now: datetime, interval: timedelta,
            retry_after: float | None = None) -> PollOutcome:
    record_feed_error(runtime.engine, claim.id, error, now, interval, runtime.config.fetch.max_backoff,
                      retry_after)
    return PollOutcome(claim.state.name, PollStatus.ERROR, error=error)


def _verdicts(scorers: dict[str, ProfileScorer], item: Item) -> list[Score]:
    """The item's verdicts that are not `none`, one per profile at most."""
    verdicts = (scorer.label(item.title, item.text) for scorer in scorers.values())
    return [verdict for verdict in verdicts if verdict is not None]


def _group_or_leave_pending(runtime: Runtime) -> Counter:
    try:
        return group_pending(runtime)
    except Exception:  # rolled back: the matches stay pending for the next poll's grouping
        log.exception("grouping the poll's matches failed; they are grouped at the next poll")
        return Counter()


def group_pending(runtime: Runtime) -> Counter:
    """Group every match awaiting it, in report-time order, and write the outbox rows of the pages
    it leads to, in one transaction. Returns the number of outbox rows written per feed."""
    alerts: Counter = Counter()
    with grouping(runtime.engine) as batch:
        for pending in batch.pending():
            scorer = runtime.scorers.get(pending.verdict.profile)
            if scorer is None:  # the profile was removed from the watchlist meanwhile
                batch.save(pending.match_id, Role.STORED)
                continue
            decision = _group(batch, pending, scorer.profile.incidents)
            message = message_for(pending.item, pending.verdict, decision, scorer.profile)
            if message is not None:
                channels = route_channels(runtime.config, pending.verdict)
                batch.add_outbox(pending.match_id, outbox_messages(runtime.config, message, channels),
                                 pending.matched_at)
                alerts[pending.item.feed_name] += len(channels)
    if alerts and runtime.on_outbox is not None:
        runtime.on_outbox()
    return alerts


def _group(batch: Grouping, pending: PendingMatch, settings: IncidentSettings) -> Decision | None:
    """Put the match in its incident (or in none) and record where it went."""
    score = pending.verdict
    report = Report(str(pending.match_id), score.profile, score.label, pending.when, pending.item.title,
                    lede(pending.item.text), score.evidence(), pending.headline)
    hours = max(settings.window_hours, settings.followup_window_hours)
    decision = assign(report, batch.open_incidents(score.profile, report.when - timedelta(hours=hours)),
                      settings)
    batch.save(pending.match_id, role_of(decision), decision)
    return decision


def _log_outcome(outcome: PollOutcome) -> None:
    if outcome.status == PollStatus.ERROR:
        log.warning("poll feed=%s status=error error=%s", outcome.feed_name, outcome.error)
    else:
        level = logging.DEBUG if outcome.status == PollStatus.NOT_MODIFIED else logging.INFO
        log.log(level, "poll feed=%s status=%s new_items=%d matches=%d alerts=%d%s", outcome.feed_name,
                outcome.status, outcome.new_items, outcome.matches, outcome.alerts,
                " (first poll: stored and scored, not alerted)"
                if outcome.extra.get("alerts_held") and outcome.new_items else "")
