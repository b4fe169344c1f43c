"""One poll, as in the design's data flow: claim due feeds -> fetch -> parse -> new items ->
classify -> store items and matches in one transaction per feed; then, once every feed of the
poll is stored, group the new matches into incidents and write the outbox rows in one
transaction.

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
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from .alerts.render import outbox_rows, render_alert, render_update
from .alerts.routing import route_channels
from .classify.scorer import ProfileScorer, load_scorers
from .errors import FetchError, ParseError, StatusError
from .incidents import Report
from .ingest.fetch import fetch_all
from .ingest.parse import parse_feed
from .model import FetchResult, Item, PollOutcome, Score
from .settings.config import Config
from .store import Feed, ItemRow, MatchRow, session_scope, utcnow
from .store.feeds import (
    ClaimedFeed,
    claim_feeds,
    known_keys,
    known_urls,
    mark_feed_success,
    record_feed_error,
    sync_feeds,
)
from .store.incidents import PendingMatch, Role, group_report, pending_matches

log = logging.getLogger("monitor.poll")
GROUP_AFTER = 5.0  # seconds a poll waits for slow feeds before grouping what has arrived



@dataclass
class Runtime:
    """What a poll needs, built once per loaded config."""

    config: Config
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    scorers: dict[str, ProfileScorer] = field(default_factory=dict)

    def __post_init__(self):
        if not self.scorers:
            self.scorers = load_scorers(self.config.profiles, self.config.profiles_path)


def poll(runtime: Runtime, feed_names: list[str] | None = None, due_only: bool = False,
         stop: threading.Event | None = None) -> list[PollOutcome]:
    """Poll the named (default: all) feeds once. Returns one outcome per feed polled."""
    return asyncio.run(poll_async(runtime, feed_names, due_only, stop))


async def poll_async(runtime: Runtime, feed_names: list[str] | None = None, due_only: bool = False,
                     stop: threading.Event | None = None) -> list[PollOutcome]:
    config, now = runtime.config, runtime.clock()
    feeds = [f for f in config.feeds if feed_names is None or f.name in feed_names]
    sync_feeds(runtime.engine, [(f.name, f.url) for f in feeds], now)
    claims = {c.state.name: c for c in claim_feeds(runtime.engine, [f.name for f in feeds], now, due_only)}
    outcomes, alerts = [], Counter()
    waiting = asyncio.create_task(_group_while_slow_feeds_answer(runtime, alerts))
    try:
        async for state, result in fetch_all([c.state for c in claims.values()], config.fetch):
            if stop is not None and stop.is_set():
                break  # unprocessed claims expire after their lease and are polled again
            outcomes.append(process_fetch(runtime, claims[state.name], result))
    finally:
        waiting.cancel()
    return finish_poll(runtime, outcomes, alerts)


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


def process_fetch(runtime: Runtime, claim: ClaimedFeed, result: FetchResult | FetchError) -> PollOutcome:
    """Everything after the HTTP exchange for one feed; a failure is recorded on the feed."""
    config, now = runtime.config, runtime.clock()
    interval = config.feed_interval(next(f for f in config.feeds if f.name == claim.state.name))
    try:
        if isinstance(result, FetchError):
            raise result
        items = [] if result.not_modified else parse_feed(result.body, claim.state.name,
                                                          result.final_url, result.content_type)
    except (FetchError, ParseError) as exc:
        retry_after = exc.retry_after if isinstance(exc, StatusError) else None
        record_feed_error(runtime.engine, claim.id, str(exc), now, interval,
                          config.fetch.max_backoff, retry_after)
        return PollOutcome(claim.state.name, "error", error=str(exc))
    status = "not-modified" if result.not_modified else "ok"
    try:
        return _store_poll(runtime, claim, result, items, status, interval, now)
    except Exception as exc:  # e.g. a value the database refuses: rolled back, kept on the feed
        log.exception("storing feed %s failed", claim.state.name)
        error = f"could not store the items: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        record_feed_error(runtime.engine, claim.id, error, now, interval, config.fetch.max_backoff)
        return PollOutcome(claim.state.name, "error", error=error)


def _store_poll(runtime: Runtime, claim: ClaimedFeed, result: FetchResult, items: list[Item],
                status: str, interval, now: datetime) -> PollOutcome:
    """Items and matches of one feed's poll, in one transaction; grouping comes after the poll."""
    with session_scope(runtime.engine) as session:
        feed = session.get(Feed, claim.id)
        new_items = _new_items(session, claim.id, items)
        alert = runtime.config.first_poll_alerts or not claim.first_poll
        scored = [(item, _verdicts(runtime, item)) for item in new_items]
        _insert_unmatched(session, claim.id, [item for item, verdicts in scored if not verdicts], now)
        matches = sum(_store_match(session, claim.id, item, verdicts, now, alert)
                      for item, verdicts in scored if verdicts)
        mark_feed_success(feed, status, result.etag, result.last_modified, now, interval, len(new_items))
        session.add(feed)
    return PollOutcome(claim.state.name, status, len(new_items), matches,
                       extra={"alerts_held": not alert})


def _new_items(session, feed_id: int, items: list[Item]) -> list[Item]:
    """Items not seen before: neither this feed's key nor (from any feed) the same canonical URL."""
    seen_keys = known_keys(session, feed_id, [i.key for i in items])
    seen_urls = known_urls(session, [i.url for i in items if i.url])
    new = []
    for item in items:
        if item.key in seen_keys or (item.url and item.url in seen_urls):
            continue
        seen_keys.add(item.key)
        if item.url:
            seen_urls.add(item.url)
        new.append(item)
    return new


def _verdicts(runtime: Runtime, item: Item) -> list[Score]:
    """The item's verdicts that are not `none`, one per profile at most."""
    verdicts = (scorer.score(item.title, item.text) for scorer in runtime.scorers.values())
    return [verdict for verdict in verdicts if verdict.label != "none"]


def _item_values(feed_id: int, item: Item, now: datetime) -> dict:
    return dict(feed_id=feed_id, key=item.key, url=item.url, title=item.title, text=item.text,
                published_at=item.published, fetched_at=now)


def _insert_unmatched(session, feed_id: int, items: list[Item], now: datetime) -> None:
    """Most items match nothing: one multi-row INSERT, no ORM objects (a third of a poll's time)."""
    if items:
        session.execute(insert(ItemRow), [_item_values(feed_id, item, now) for item in items])


def _store_match(session, feed_id: int, item: Item, verdicts: list[Score], now: datetime,
                 alert: bool) -> int:
    """The item and its verdicts. A new feed's back catalogue (not `alert`) is stored as such,
    never grouped, so that later reports of the same events page; the rest await grouping."""
    row = ItemRow(**_item_values(feed_id, item, now))
    session.add(row)
    session.flush()
    session.add_all([MatchRow(item_id=row.id, profile=score.profile, label=score.label,
                              score=score.score, rule=score.rule, evidence=score.evidence(),
                              headline=score.evidence(headline_only=True), layer=score.layer,
                              created_at=now,
                              role=None if alert else Role.STORED)
                     for score in verdicts])
    return len(verdicts)


def _group_or_leave_pending(runtime: Runtime) -> Counter:
    try:
        return group_pending(runtime)
    except Exception:  # rolled back: the matches stay pending for the next poll's grouping
        log.exception("grouping the poll's matches failed; they are grouped at the next poll")
        return Counter()


def group_pending(runtime: Runtime) -> Counter:
    """Group every match awaiting it, in report-time order, and write its outbox rows.
    Returns the number of outbox rows written per feed."""
    alerts: Counter = Counter()
    with session_scope(runtime.engine) as session:
        for pending in pending_matches(session):
            scorer = runtime.scorers.get(pending.verdict.profile)
            if scorer is None:  # the profile was removed from the watchlist meanwhile
                pending.match.role = Role.STORED
                session.add(pending.match)
                continue
            message = _group_and_render(session, pending, scorer.profile.incidents)
            if message:
                channels = route_channels(runtime.config, pending.verdict)
                rows = outbox_rows(runtime.config, pending.match.id, message, channels,
                                   pending.match.created_at)
                session.add_all(rows)
                alerts[pending.item.feed_name] += len(rows)
    return alerts


def _group_and_render(session, pending: PendingMatch, settings) -> tuple[str, str] | None:
    """Put the match in its incident; return the alert to send (title, body), if any.

    The report that opens an incident alerts; one with a material change sends an update;
    other reports join silently. A related item outside any incident alerts as itself (where a
    route takes related items); an incident-class report left as context does not."""
    item, score, match = pending.item, pending.verdict, pending.match
    report = Report(str(match.id), score.profile, score.label, pending.when,
                    item.title, item.text, score.evidence(), match.headline)
    grouped = group_report(session, report, settings)
    match.role = Role.ALONE
    session.add(match)
    if grouped is None:  # context about an earlier attack never pages; a related item may
        return render_alert(item, score) if score.label != "incident" else None
    decision, incident = grouped
    match.incident_id = incident.id
    match.role = Role.OPENED if decision.opened else (Role.UPDATE if decision.changes else Role.JOINED)
    if decision.opened:
        return render_alert(item, score)
    if decision.changes:
        return render_update(item, score, incident, decision.changes)
    return None


def _log_outcome(outcome: PollOutcome) -> None:
    if outcome.status == "error":
        log.warning("poll feed=%s status=error error=%s", outcome.feed_name, outcome.error)
    else:
        log.info("poll feed=%s status=%s new_items=%d matches=%d alerts=%d%s", outcome.feed_name,
                 outcome.status, outcome.new_items, outcome.matches, outcome.alerts,
                 " (first poll: stored and scored, not alerted)"
                 if outcome.extra.get("alerts_held") and outcome.new_items else "")
