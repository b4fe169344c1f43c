"""The daemon's clock (APScheduler 3.x; the only module that imports it).

Jobs, each running at most once at a time:
- `tick` claims the feeds that are due and polls them; after each, the next tick is moved to
  when the next feed falls due (a due feed waits for no interval);
- `dispatch` sends pending alerts; a poll that writes messages wakes it at once (Runtime.on_outbox),
  and if it is running it goes round again;
- `digest:N`, one per digest route (cron schedule in its timezone), merges the alerts held for
  it into one message per channel (monitor/alerts/routing.py) and wakes the dispatcher;
- `ops` checks feed health and tells the admin channel about failing and silent feeds (monitor/daemon/health.py);
- `prune`, daily from PRUNE_FIRST_AFTER after the start, deletes what is older than the watchlist's
  `retention` periods, in short batches (monitor/retention.py);
- `watch` (if `ops.watch_config`) reloads the watchlist and profiles when they change: a valid edit
  replaces the Runtime's config and scorers (same database engine) and the job intervals; a bad
  one is logged and told to the admin once, and the last good config keeps running. Digest jobs
  are registered again from the new config.

Every job reads `self.runtime` once when it starts, so a reload never mixes two configs in one
poll. Ticks may overlap (up to TICKS_IN_FLIGHT): a feed that answers slowly holds only its own
tick, and the next tick polls the feeds that fall due meanwhile.

SIGTERM/SIGINT set a stop flag and stop the scheduler without waiting inside it (waiting there
holds its locks, which a running job may need): a poll abandons its fetches, finishes the feed it
is storing (one transaction) and gives its other claims back at once; the dispatcher stops
between two messages. The process exits when the running jobs are done, or after STOP_WITHIN
whatever is still running (a message mid-send is then `uncertain`, never sent twice).
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from ..alerts.deliver import dispatch, send_digest
from ..alerts.routing import Digest, due_digests
from ..logs import add_secrets
from ..pipeline import Runtime, poll
from ..retention import describe, prune_database
from ..store.feeds import next_due
from .health import check_feeds
from .watch import ConfigWatcher

log = logging.getLogger("monitor.daemon")

OPS_EVERY = timedelta(minutes=1)
PRUNE_EVERY = timedelta(days=1)
PRUNE_FIRST_AFTER = timedelta(minutes=10)  # not in the rush of a start; restarts do not skip it
WATCH_EVERY = timedelta(seconds=2)
TICKS_IN_FLIGHT = 4
STOP_WITHIN = 10.0  # seconds from SIGTERM to exit, whatever is running (compose allows 30)
SUMMARY_EVERY = 60.0  # seconds between the log lines of a job that keeps failing


class FailureLog:
    """A job's failures as a person wants to read them: the first with its traceback, then one
    line per `every` seconds while it keeps failing, and one when it works again (a database
    outage must not print a traceback twice a second)."""

    def __init__(self, job: str, every: float = SUMMARY_EVERY):
        self.job, self.every = job, every
        self.failures = self.unreported = 0
        self.reported_at = 0.0

    def failed(self, exc: Exception) -> None:
        self.failures += 1
        self.unreported += 1
        now = time.monotonic()
        if self.failures == 1:
            log.exception("%s failed", self.job)
        elif now - self.reported_at >= self.every:
            log.error("%s still failing: %d more times since the last report; last error: %s: %s",
                      self.job, self.unreported - 1, type(exc).__name__, str(exc).splitlines()[0][:300])
        else:
            return
        self.reported_at, self.unreported = now, 0

    def succeeded(self) -> None:
        if self.failures:
            log.warning("%s works again after %d failures", self.job, self.failures)
        self.failures = self.unreported = 0


class Daemon:
    def __init__(self, runtime: Runtime, ops_every: timedelta = OPS_EVERY,
                 watch_every: timedelta = WATCH_EVERY, summary_every: float = SUMMARY_EVERY):
        self.runtime = runtime
        self.failures = {job: FailureLog(name, summary_every) for job, name in
                         (("tick", "poll tick"), ("dispatch", "dispatch"), ("ops", "ops check"),
                                           ("prune", "retention prune"))}
        self.ops_every, self.watch_every = ops_every, watch_every
        self.stop = threading.Event()
        self.dispatching = threading.Event()  # the dispatch job is running
        self.dispatch_wanted = threading.Event()  # messages were written since it last looked
        runtime.on_outbox = self.wake_dispatch
        self.running: set[threading.Thread] = set()  # threads running a job now
        self.watcher = ConfigWatcher(runtime.config) if runtime.config.source else None
        self.last_tick_at: datetime | None = None  # the end of the last tick that polled (for /readyz)
        self.loaded_at = runtime.clock()  # when the running config was loaded (start or reload)
        self.web = None  # the web server (web/server.py), while running
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(4), "poll": ThreadPoolExecutor(TICKS_IN_FLIGHT)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")

    def tick(self) -> None:
        with self._job():
            try:
                poll(self.runtime, due_only=True, stop=self.stop)
            except Exception as exc:  # one bad tick must not kill the daemon; the next one retries
                self.failures["tick"].failed(exc)
                return
            self.failures["tick"].succeeded()
            self.last_tick_at = self.runtime.clock()
            self._wake_tick_when_due()

    def _wake_tick_when_due(self) -> None:
        """Run the next tick when the next feed falls due, not at the next `tick` interval."""
        try:
            due = next_due(self.runtime.engine)
        except Exception:  # the interval's tick comes anyway
            log.debug("could not read when the next feed is due", exc_info=True)
            return
        if due is None:
            return
        wait = (due.replace(tzinfo=due.tzinfo or timezone.utc) - self.runtime.clock()).total_seconds()
        self._run_soon("tick", max(0.0, wait))

    def wake_dispatch(self) -> None:
        """New messages in the outbox: send them now, not at the next dispatch interval."""
        self.dispatch_wanted.set()
        if not self.dispatching.is_set():  # a running dispatcher sees the flag and goes round again
            self._run_soon("dispatch", 0.0)

    def _run_soon(self, job_id: str, seconds: float) -> None:
        """Move the job's next run earlier (never later than the interval's)."""
        at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        try:
            job = self.scheduler.get_job(job_id)
            if job is not None and job.next_run_time is not None and at < job.next_run_time:
                self.scheduler.modify_job(job_id, next_run_time=at)
        except (JobLookupError, SchedulerNotRunningError):  # removed, or stopping
            pass

    def dispatch(self) -> None:
        with self._job():
            self.dispatching.set()
            try:
                while True:
                    self.dispatch_wanted.clear()
                    runtime = self.runtime
                    dispatch(runtime.config, runtime.engine, runtime.clock, stop=self.stop)
                    if not self.dispatch_wanted.is_set() or self.stop.is_set():
                        break
            except Exception as exc:
                self.failures["dispatch"].failed(exc)
            else:
                self.failures["dispatch"].succeeded()
            finally:
                self.dispatching.clear()

    @contextmanager
    def _job(self):
        """Count the calling thread as running a job (the stop waits for those, within bounds)."""
        thread = threading.current_thread()
        self.running.add(thread)
        try:
            yield
        finally:
            self.running.discard(thread)

    def send_digest(self, digest: Digest) -> None:
        try:
            if send_digest(self.runtime, digest):
                self.wake_dispatch()
        except Exception:
            log.exception("digest %s failed", digest.key)

    def check_ops(self) -> None:
        try:
            check_feeds(self.runtime)
        except Exception as exc:
            self.failures["ops"].failed(exc)
        else:
            self.failures["ops"].succeeded()

    def prune(self) -> None:
        runtime = self.runtime
        with self._job():
            try:
                pruned = prune_database(runtime.config, runtime.engine, runtime.clock())
            except Exception as exc:  # the next day's run tries again; the daemon goes on
                self.failures["prune"].failed(exc)
                return
        self.failures["prune"].succeeded()
        if pruned.total():
            log.info("retention: deleted %s", describe(pruned))

    def reload(self) -> None:
        """Take up a changed watchlist or profile (see monitor/daemon/watch.py)."""
        running = self.runtime
        if self.stop.is_set():
            return
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
        if config.web != running.config.web:
            log.warning("the web setting changed: it takes effect at the next restart")
        self.runtime = Runtime(config, running.engine, clock=running.clock, scorers=loaded.scorers,
                               on_outbox=self.wake_dispatch)
        self.loaded_at = running.clock()
        if self.stop.is_set():  # stopping: the new config is kept for nothing, no job to change
            return
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
                ticks = dict(executor="poll", max_instances=TICKS_IN_FLIGHT) if job_id == "tick" else {}
                self.scheduler.add_job(function, "interval", seconds=every.total_seconds(),
                                       id=job_id, next_run_time=now, **ticks)
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

    def run(self) -> bool:
        """Run until stopped. True if every job ended in time; False if some were abandoned
        (the caller should then end the process: the pool's threads keep it alive)."""
        self._schedule()
        self.scheduler.add_job(self.check_ops, "interval", seconds=self.ops_every.total_seconds(),
                               id="ops")
        self.scheduler.add_job(self.prune, "interval", seconds=PRUNE_EVERY.total_seconds(), id="prune",
                               next_run_time=datetime.now(timezone.utc) + PRUNE_FIRST_AFTER)
        if self.watcher and self.runtime.config.ops.watch_config:
            self.scheduler.add_job(self.reload, "interval",
                                   seconds=self.watch_every.total_seconds(), id="watch")
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        if self.runtime.config.web is not None:
            from ..web.server import start_web  # the web stack is loaded only when it serves
            self.web = start_web(self.runtime.config.web, lambda: self.runtime, lambda: self.last_tick_at,
                                 lambda: self.loaded_at,
                                 lambda: self.watcher.last_rejection if self.watcher else None)
        self.scheduler.start()  # blocks until shutdown
        stopping = time.monotonic()
        if self.web:  # told to stop by shutdown(); it ends while the jobs do
            self.web.stop()
            self.web.join(STOP_WITHIN / 2)
        if self._wait_for_jobs(STOP_WITHIN - (time.monotonic() - stopping)):
            log.info("stopped cleanly")
            return True
        log.error("stopping: jobs still running after %gs are abandoned", STOP_WITHIN)
        return False

    def shutdown(self) -> None:
        """Stop (what SIGTERM does); callable from any thread. Running jobs see `stop` and end."""
        self.stop.set()
        if self.web:
            self.web.stop()
        try:
            self.scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:
            pass

    def _wait_for_jobs(self, seconds: float) -> bool:
        """Wait for the running jobs to end, at most `seconds`. True if they all did."""
        deadline = time.monotonic() + seconds
        for thread in list(self.running):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.running)

    def _on_signal(self, signum, _frame) -> None:
        log.info("received %s: finishing in-flight work, then stopping", signal.Signals(signum).name)
        self.shutdown()
