"""Operations alerts: the monitor telling its admin about itself.

- A feed that has been failing for `ops.feed_failing_after` gets one alert; one more when it
  recovers.
- A feed that brings no new item for `ops.silent_factor` times its usual gap between items (and
  at least `ops.silent_minimum`) gets one alert; one more when it speaks again.
- An edit to the watchlist or a profile that does not load is reported once per bad version of
  the files (`ConfigWatcher`); the daemon keeps the last good config.

Alerts are outbox rows without a match (kind `ops`) for `admin_channel`, or for the log when
there is none; the dispatcher sends them like any alert (retries, never twice). The decisions are
pure functions of a feed's health (its feed row and item times), what was reported before, and
the clock. What was reported is kept in the `ops_alert` table, one row per feed and condition
while the condition is watched or reported, and changes in the same transaction as the outbox row,
so a restart neither repeats an alert nor forgets the recovery, and several workers on one
database write each alert once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from ..alerts.routing import LOG_CHANNEL
from ..model import MessageKind, OutboxMessage
from ..settings.config import Config, OpsConfig
from ..store.ops import add_admin_message, feed_records, forget_feeds, ops_watches, record_transition

log = logging.getLogger("monitor.ops")


FAILING, SILENT = "failing", "silent"


RECENT_ITEMS = 50  # the usual gap is the median over this many newest items


MIN_GAPS = 3       # fewer gaps than this: no usual cadence yet, no silence alert


# ---- plain data and the pure decisions -----------------------------------------------------

@dataclass(frozen=True)
class FeedHealth:
    """What the checks need to know about one feed."""

    name: str
    last_status: str | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    error_count: int = 0
    last_new_item_at: datetime | None = None  # when the newest item was fetched
    usual_gap: timedelta | None = None        # median gap between recent items

    @property
    def failing(self) -> bool:
        return self.last_status == "error"


@dataclass(frozen=True)
class Watch:
    """A stored ops_alert row."""

    since: datetime
    reported_at: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """What to do about one feed condition: `watch` (start timing, no alert), `raise` (alert),
    `clear` (recovery alert), `forget` (stop timing, no alert)."""

    feed: str
    kind: str
    action: str
    since: datetime
    title: str = ""
    body: str = ""


def failing_transition(health: FeedHealth, watch: Watch | None, now: datetime,
                       ops: OpsConfig) -> Transition | None:
    """Failing from the first error seen; alert once it lasts `feed_failing_after`."""
    if health.failing:
        if watch is not None and watch.reported_at is not None:
            return None
        since = watch.since if watch else health.last_error_at or now
        if now - since >= ops.feed_failing_after:
            return Transition(health.name, FAILING, "raise", since,
                              f"[OPS] feed {health.name} failing for {_span(now - since)}",
                              f"Feed {health.name} has failed every fetch since "
                              f"{_when(since)} ({health.error_count} errors in a row).\n"
                              f"Last error: {health.last_error}\n"
                              f"Last success: {_when(health.last_success_at)}\n"
                              "It is retried with backoff; check it with `monitor feeds`.\n")
        return None if watch else Transition(health.name, FAILING, "watch", since)
    if watch is None:
        return None
    if watch.reported_at is None:
        return Transition(health.name, FAILING, "forget", watch.since)
    return Transition(health.name, FAILING, "clear", watch.since,
                      f"[OPS] feed {health.name} recovered",
                      f"Feed {health.name} is fetched again ({_when(health.last_success_at)}) "
                      f"after failing for {_span((health.last_success_at or now) - watch.since)}.\n")


def silent_threshold(usual_gap: timedelta, ops: OpsConfig) -> timedelta:
    return max(usual_gap * ops.silent_factor, ops.silent_minimum)


def silent_transition(health: FeedHealth, watch: Watch | None, now: datetime,
                      ops: OpsConfig) -> Transition | None:
    """Silent: fetched (not failing) but no new item for far longer than usual; speaks again
    with the next new item."""
    last = health.last_new_item_at
    if watch is not None:
        if last is not None and last > watch.since:
            return Transition(health.name, SILENT, "clear", watch.since,
                              f"[OPS] feed {health.name} speaks again",
                              f"Feed {health.name} brought a new item at {_when(last)}, the first "
                              f"since {_when(watch.since)}.\n")
        return None
    if health.failing or last is None or health.usual_gap is None:
        return None
    threshold = silent_threshold(health.usual_gap, ops)
    if now - last < threshold:
        return None
    return Transition(health.name, SILENT, "raise", last,
                      f"[OPS] feed {health.name} silent for {_span(now - last)}",
                      f"Feed {health.name} is fetched without errors but has brought no new item "
                      f"since {_when(last)}. It usually brings one every "
                      f"{_span(health.usual_gap)} (alert after {_span(threshold)}).\n"
                      "Has its URL or format changed?\n")


def usual_gap(times: list[datetime]) -> timedelta | None:
    """Median gap between consecutive distinct item times, or None without enough of them."""
    ordered = sorted(set(times))
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:])]
    return median(gaps) if len(gaps) >= MIN_GAPS else None


def _span(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "",
             f"{minutes}m" if minutes and not days else ""]
    return " ".join(p for p in parts if p) or "under a minute"


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


# ---- the check job --------------------------------------------------------------------------

def check_feeds(runtime, now: datetime | None = None) -> list[Transition]:
    """Decide the ops alerts of every watched feed and queue them. Returns the transitions applied."""
    config, engine = runtime.config, runtime.engine
    now = now or runtime.clock()
    runtime.sync_watchlist(now)
    healths = feed_health(engine)
    watches = {key: Watch(*value) for key, value in ops_watches(engine).items()}
    gone = {feed for feed, _ in watches} - {health.name for health in healths}
    if gone:  # feeds removed from the watchlist (or never polled): nothing more to say
        forget_feeds(engine, gone)
    applied = []
    for health in healths:
        for kind, decide in ((FAILING, failing_transition), (SILENT, silent_transition)):
            transition = decide(health, watches.get((health.name, kind)), now, config.ops)
            if transition and _apply(config, engine, transition, watches.get((health.name, kind)), now):
                applied.append(transition)
    return applied


def feed_health(engine) -> list[FeedHealth]:
    """Health of the watched feeds that have a feed row, from that row and their newest items."""
    return [FeedHealth(r.name, r.last_status, r.last_error, r.last_error_at, r.last_success_at,
                       r.error_count, last_new_item_at=max((fetched for _, fetched in r.recent), default=None),
                       usual_gap=usual_gap([published or fetched for published, fetched in r.recent]))
            for r in feed_records(engine, RECENT_ITEMS)]


def _apply(config: Config, engine, transition: Transition, before: Watch | None,
           now: datetime) -> bool:
    """Record the transition and, for `raise` and `clear`, write its alert to the outbox, in one
    transaction. False if another worker already did."""
    alerts = transition.action in ("raise", "clear")
    message = admin_message(config, transition.title, transition.body) if alerts else None
    if not record_transition(engine, transition.feed, transition.kind, transition.action, transition.since,
                             before is not None, now, message):
        return False
    if alerts:
        log.warning("ops alert: %s", transition.title)
    return True


def admin_message(config: Config, title: str, body: str) -> OutboxMessage:
    """An ops alert for the admin channel, or for the log without one."""
    return OutboxMessage(config.admin_channel or LOG_CHANNEL, MessageKind.OPS, "text", title, body)


def tell_admin(runtime, title: str, body: str) -> None:
    add_admin_message(runtime.engine, admin_message(runtime.config, title, body), runtime.clock())
