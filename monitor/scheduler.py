"""The daemon's clock (APScheduler 3.x; the only module that imports it).

Two jobs: `tick` claims the feeds that are due and polls them; `dispatch` sends pending alerts.
Each runs at most once at a time. SIGTERM/SIGINT set a stop flag: the poll finishes the feed
it is storing (one transaction) and leaves the rest to their lease, and the scheduler waits for
running jobs before the process exits.
"""

import logging
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from .notify import dispatch
from .pipeline import Runtime, poll

log = logging.getLogger("monitor.daemon")


class Daemon:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.stop = threading.Event()
        self.scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC")

    def tick(self) -> None:
        try:
            poll(self.runtime, due_only=True, stop=self.stop)
        except Exception:  # one bad tick must not kill the daemon; the next one retries
            log.exception("poll tick failed")

    def dispatch(self) -> None:
        try:
            dispatch(self.runtime.config, self.runtime.engine, self.runtime.clock)
        except Exception:
            log.exception("dispatch failed")

    def run(self) -> None:
        config = self.runtime.config
        self.scheduler.add_job(self.tick, "interval", seconds=config.tick.total_seconds(),
                               id="tick", next_run_time=self.runtime.clock())
        self.scheduler.add_job(self.dispatch, "interval",
                               seconds=config.dispatch.interval.total_seconds(), id="dispatch",
                               next_run_time=self.runtime.clock())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.scheduler.start()  # blocks until shutdown
        log.info("stopped cleanly")

    def _on_signal(self, signum, _frame) -> None:
        log.info("received %s: finishing in-flight work, then stopping", signal.Signals(signum).name)
        self.stop.set()
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()
