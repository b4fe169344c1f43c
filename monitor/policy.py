"""Alert policy: which alerts wait, and until when. Pure functions over the watchlist, plus the
digest entry points the scheduler calls.

- Quiet hours (per route, local time in a timezone): an alert whose every immediate route is in
  its quiet period is held until the period ends, then goes out in one digest per channel.
- Digest routes (`digest: "<cron>"`): their alerts are held and go out as one summary per channel
  when the scheduler runs `send_digest` on the route's cron schedule.
- Rate limits (per channel) are applied when rows are claimed (store.queries.claim_outbox).

A row reaches a channel through every route that names that channel and accepts the match
(profile, class, score); it goes out now if any of those routes is immediate and not quiet.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .config import Config, QuietHours, RouteConfig
from .datatypes import label_rank


@dataclass(frozen=True)
class Digest:
    """One digest route's schedule: `cron` (5 fields, minute hour day month weekday) in
    `timezone`; build the trigger with apscheduler's CronTrigger.from_crontab(cron, timezone)."""

    route_index: int
    cron: str
    timezone: str
    key: str  # what held rows of this route carry in outbox.hold
    channels: tuple[str, ...]


def digest_key(route: RouteConfig) -> str:
    return f"digest:{route.profile}|{route.digest}|{route.timezone}"


def due_digests(config: Config) -> list[Digest]:
    """The digest schedules of the watchlist, one per digest route (register one cron job each)."""
    return [Digest(index, route.digest, route.timezone, digest_key(route), route.channels)
            for index, route in enumerate(config.routes) if route.digest]


def send_digest(runtime, digest: Digest, now: datetime | None = None) -> list[int]:
    """Turn the alerts held for `digest` into one outbox row per channel (a summary of every
    match routed there since the last digest) and return the new rows' ids; the dispatcher sends
    them with the usual guarantees (call notify.dispatch right after to send them now). Safe to
    call from several workers: each held alert goes into exactly one digest. Nothing held: no row.

    Call it from an APScheduler job: CronTrigger.from_crontab(digest.cron, timezone=digest.timezone).
    """
    from .notify import apply_policy  # notify imports this module
    return apply_policy(runtime.config, runtime.engine, now or runtime.clock(), digest=digest.key)


def accepts(route: RouteConfig, profile: str, label: str, score: float) -> bool:
    return (route.profile == profile and label_rank(label) >= label_rank(route.min_class)
            and score >= route.min_score)


def hold_for(config: Config, channel: str, profile: str, label: str, score: float,
             now: datetime) -> tuple[str, datetime | None] | None:
    """Why and until when an alert for `channel` waits: ("quiet", end of quiet hours),
    (digest key, None) for a digest route, or None to send it now."""
    routes = [r for r in config.routes if channel in r.channels and accepts(r, profile, label, score)]
    if not routes:
        return None
    immediate = [r for r in routes if not r.digest]
    if not immediate:
        return digest_key(routes[0]), None
    ends = [quiet_until(r.quiet_hours, now) if r.quiet_hours else None for r in immediate]
    if any(end is None for end in ends):
        return None
    return "quiet", min(ends)


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end (UTC) of the quiet period `now` falls in, or None outside quiet hours."""
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    today = local.date()
    start = datetime.combine(today, quiet.start, zone)
    end = datetime.combine(today, quiet.end, zone)
    if quiet.start < quiet.end:
        inside = start <= local < end
    else:  # overnight, e.g. 22:00-07:00
        inside = local >= start or local < end
        if local >= start:
            end = datetime.combine(today + timedelta(days=1), quiet.end, zone)
    return end.astimezone(timezone.utc) if inside else None
