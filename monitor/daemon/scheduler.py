"""The daemon's clock (APScheduler 3.x; the only module that imports it).

Jobs, each running at most once at a time:
- `tick` claims the feeds that are due and polls them;
- `dispatch` sends pending alerts;
- `digest:N`, one per digest route (cron schedule in its timezone), merges the alerts held for
  it into one message per channel (monitor/alerts/routing.py) and wakes the dispatcher;
- `ops` checks feed health and tells the admin channel about failing and silent feeds (monitor/daemon/health.py);
- `watch` (if `ops.watch_config`) reloads the watchlist and profiles when they change: a valid edit
  replaces the Runtime's config and scorers (same database engine) and the job intervals; a bad
  one is logged and told to the admin once, and the last good config keeps running. Digest jobs
  are registered again from the new config.

Every job reads `self.runtime` once when it starts, so a reload never mixes two configs in one
poll. SIGTERM/SIGINT set a stop flag: the poll finishes the feed it is storing (one transaction)
and leaves the rest to their lease, and the scheduler waits for running jobs before the process
exits.
"""

import logging
import signal
import threading
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ..alerts.deliver import dispatch, send_digest
from ..alerts.routing import Digest, due_digests
from ..logs import add_secrets
from ..pipeline import Runtime, poll
from .health import check_feeds
from .watch import ConfigWatcher

log = logging.getLogger("monitor.daemon")

OPS_EVERY = timedelta(minutes=1)
WATCH_EVERY = timedelta(seconds=2)


class Daemon:
    def __init__(self, runtime: Runtime, ops_every: timedelta = OPS_EVERY,
                 watch_every: timedelta = WATCH_EVERY):
        self.runtime = runtime
        self.ops_every, self.watch_every = ops_every, watch_every
        self.stop = threading.Event()
        self.watcher = ConfigWatcher(runtime.config) if runtime.config.source else None
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")

    def tick(self) -> None:
        try:
            poll(self.runtime, due_only=True, stop=self.stop)
        except Exception:  # one bad tick must not kill the daemon; the next one retries
            log.exception("poll tick failed")

    def dispatch(self) -> None:
        runtime = self.runtime
        try:
            dispatch(runtime.config, runtime.engine, runtime.clock)
        except Exception:
            log.exception("dispatch failed")

    def send_digest(self, digest: Digest) -> None:
        try:
            if send_digest(self.runtime, digest):
                self.scheduler.modify_job("dispatch", next_run_time=datetime.now(timezone.utc))
        except Exception:
            log.exception("digest %s failed", digest.key)

    def check_ops(self) -> None:
        try:
            check_feeds(self.runtime)
        except Exception:
            log.exception("ops check failed")

    def reload(self) -> None:
        """Take up a changed watchlist or profile (see monitor/daemon/watch.py)."""
        running = self.runtime
        try:
            loaded = self.watcher.poll(running)
        except Exception:
            log.exception("config reload failed; the last good config keeps running")
            return
        if loaded is None:
            return
        config = loaded.config
        if config.database != running.config.database:
            log.warning("the database setting changed: it takes effect at the next restart")
            config = config.model_copy(update={"database": running.config.database})
        add_secrets(config.secrets())
        self.runtime = Runtime(config, running.engine, clock=running.clock, scorers=loaded.scorers)
        self._schedule(reschedule=True)
        if not config.ops.watch_config:
            self.scheduler.remove_job("watch")
            log.info("ops.watch_config is off: config edits now need a restart")
        log.info("config reloaded: %d feeds, profiles %s, %d channels, %d routes", len(config.feeds),
                 ", ".join(config.profiles) or "none", len(config.channels), len(config.routes))

    def _schedule(self, reschedule: bool = False) -> None:
        """(Re)register the jobs whose timing comes from the config."""
        config, now = self.runtime.config, self.runtime.clock()
        for job_id, function, every in (("tick", self.tick, config.tick),
                                        ("dispatch", self.dispatch, config.dispatch.interval)):
            job = self.scheduler.get_job(job_id)
            if job is None:
                self.scheduler.add_job(function, "interval", seconds=every.total_seconds(),
                                       id=job_id, next_run_time=now)
            elif reschedule and job.trigger.interval != every:
                self.scheduler.reschedule_job(job_id, trigger="interval", seconds=every.total_seconds())
        self._schedule_digests(config)

    def _schedule_digests(self, config) -> None:
        """One cron job per digest route, replacing those of the previous config."""
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                self.scheduler.remove_job(job.id)
        for digest in due_digests(config):
            try:
                trigger = CronTrigger.from_crontab(digest.cron, timezone=digest.timezone)
            except ValueError as exc:
                log.error("routes[%d].digest %r: %s; this digest is not scheduled",
                          digest.route_index, digest.cron, exc)
                continue
            self.scheduler.add_job(self.send_digest, trigger, args=[digest],
                                   id=f"digest:{digest.route_index}")

    def run(self) -> None:
        self._schedule()
        self.scheduler.add_job(self.check_ops, "interval", seconds=self.ops_every.total_seconds(),
                               id="ops")
        if self.watcher and self.runtime.config.ops.watch_config:
            self.scheduler.add_job(self.reload, "interval",
                                   seconds=self.watch_every.total_seconds(), id="watch")
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        self.scheduler.start()  # blocks until shutdown
        log.info("stopped cleanly")

    def shutdown(self) -> None:
        """Stop after in-flight work (what SIGTERM does); callable from any thread."""
        self.stop.set()
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    def _on_signal(self, signum, _frame) -> None:
        log.info("received %s: finishing in-flight work, then stopping", signal.Signals(signum).name)
        self.shutdown()
