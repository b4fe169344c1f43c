"""Retention clean-up: what the watchlist's `retention` periods let go, deleted in short batches
(the rules and queries are in monitor/store/retention.py). The daemon runs it daily; `monitor
prune` runs it (or, with --dry-run, counts it) once."""

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from .settings.config import Config
from .settings.profile import IncidentSettings
from .store.database import vacuum_if_unattended
from .store.retention import Cutoffs, Pruned, prune

log = logging.getLogger("monitor.retention")

CLOSED_MARGIN = timedelta(days=1)  # beyond the longest time an incident can take reports
MIN_BEYOND_MAX_AGE = timedelta(days=1)


def cutoffs(config: Config, now: datetime) -> Cutoffs:
    """Rows older than these go. An incident is closed once no report could still join it: a report
    counts from its published time, which may be up to max_item_age ago (older ones never group)."""
    windows = [IncidentSettings(), *(profile.incidents for profile in config.profiles.values())]
    longest = max(max(w.window_hours, w.followup_window_hours) for w in windows)
    closed_before = now - config.max_item_age - timedelta(hours=longest) - CLOSED_MARGIN
    items, matches = kept_for(config, config.retention.items), kept_for(config, config.retention.matches)
    return Cutoffs(items_before=None if items is None else now - items,
                   matches_before=None if matches is None else now - matches,
                   closed_before=closed_before)


def kept_for(config: Config, period: timedelta | None) -> timedelta | None:
    """How long rows are kept: the period, but at least max_item_age and a day. A deleted item
    that a feed brings again is new again (items a feed still serves are kept for that reason);
    past max_item_age, a dated one is stale and never pages."""
    return None if period is None else max(period, config.max_item_age + MIN_BEYOND_MAX_AGE)


def prune_database(config: Config, engine: Engine, now: datetime, dry_run: bool = False) -> Pruned:
    """Delete (or with `dry_run` count) what is older than the retention periods; then, where the
    server runs no autovacuum, VACUUM the tables so that the space is used again."""
    pruned = prune(engine, cutoffs(config, now), dry_run=dry_run)
    if not dry_run:
        _vacuum(engine)
    return pruned


def _vacuum(engine: Engine) -> None:
    """What was pruned is committed: a VACUUM that fails (a standby, a statement timeout) is
    logged, and the prune stands."""
    try:
        tables = vacuum_if_unattended(engine)
    except Exception as exc:  # noqa: BLE001 - the next prune tries again
        log.warning("retention: could not vacuum the tables (%s: %s); the next prune tries again",
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return
    if tables:
        log.info("retention: vacuumed %s (the database server runs no autovacuum)", ", ".join(tables))


def describe(pruned: Pruned) -> str:
    return (f"{pruned.items} items, {pruned.matches} matches, {pruned.incidents} incidents, "
            f"{pruned.outbox} outbox rows")
