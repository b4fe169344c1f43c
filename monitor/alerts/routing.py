"""Alert policy: which alerts wait, and until when. Pure functions over the watchlist: the
only place that decides where a match goes and when.

- Quiet hours (per route, local time in a timezone): an alert whose every immediate route is in
  its quiet period is held until the period ends, then goes out in one digest per channel.
- Digest routes (`digest: "<cron>"`): their alerts are held and go out as one summary per channel
  when the scheduler runs `send_digest` on the route's cron schedule.
- Rate limits (per channel) are applied when rows are claimed (store.outbox.claim_outbox).

A row reaches a channel through every route that names that channel and accepts the match
(profile, class, score); it goes out now if any of those routes is immediate and not quiet.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from ..model import DIGEST_HOLD, Hold, Label, Score, label_rank
from ..settings.config import Config, QuietHours, RouteConfig, check_cron

LOG_CHANNEL = "log"  # where incidents go when no route names the profile


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
    return f"{DIGEST_HOLD}{route.profile}|{route.digest}|{route.timezone}"


def due_digests(config: Config) -> list[Digest]:
    """The digest schedules of the watchlist, one per digest route (register one cron job each)."""
    return [Digest(index, route.digest, route.timezone, digest_key(route), route.channels)
            for index, route in enumerate(config.routes) if holds_for_digest(route)]


def holds_for_digest(route: RouteConfig) -> bool:
    """A digest route whose schedule can fire. One whose cron cannot be scheduled (the config was
    not checked, or a timezone changed) sends its alerts at once rather than holding them for
    ever."""
    return bool(route.digest) and _schedulable(route.digest, route.timezone)


@lru_cache(maxsize=64)
def _schedulable(cron: str, zone: str) -> bool:
    try:
        check_cron(cron, zone)
    except ValueError:
        return False
    return True


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
    immediate = [r for r in routes if not holds_for_digest(r)]
    if not immediate:
        return digest_key(routes[0]), None
    ends = [quiet_until(r.quiet_hours, now) if r.quiet_hours else None for r in immediate]
    if any(end is None for end in ends):
        return None
    return Hold.QUIET, min(ends)


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

def route_channels(config: Config, score: Score) -> list[str]:
    """Channels this verdict goes to. A profile no route mentions alerts incidents to the log."""
    routes = [r for r in config.routes if r.profile == score.profile]
    if not routes:
        return [LOG_CHANNEL] if score.label == Label.INCIDENT else []
    channels: list[str] = []
    for route in routes:
        if accepts(route, score.profile, score.label, score.score):
            channels += [c for c in route.channels if c not in channels]
    return channels
