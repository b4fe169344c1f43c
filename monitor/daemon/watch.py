"""The config watcher: reload the watchlist and profiles once an edit has settled, keep the last
good version, tell the admin once per bad version, and hold back (and report) an edit that looks
like a file cut off part-way through being written."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from .. import metrics
from ..classify.scorer import ProfileScorer, load_scorers
from ..errors import ConfigError
from ..settings.config import Config, load_config
from ..store.ops import add_admin_message
from .health import admin_message, tell_admin

log = logging.getLogger("monitor.ops")

STABLE = timedelta(seconds=1)  # files unchanged this long are loaded (an editor may be mid-write)
DRASTIC_STABLE = timedelta(seconds=10)  # the same for an edit that drops what a cut-off file lacks


@dataclass(frozen=True)
class Loaded:
    config: Config
    scorers: dict[str, ProfileScorer]


@dataclass(frozen=True)
class Files:
    """The watched files as read at one moment: their content, and their mtime and size."""

    content: str  # sha256 over the paths and bytes
    stamps: tuple[tuple[int, int] | None, ...]


def drastic_changes(running: Config, edited: Config) -> list[str]:
    """What the edited config drops that a file cut off part-way through would also drop:
    every channel, every route, or more than half the feeds."""
    drops = []
    if running.channels and not edited.channels:
        drops.append(f"every channel ({len(running.channels)})")
    if running.routes and not edited.routes:
        drops.append(f"every route ({len(running.routes)})")
    gone = {feed.name for feed in running.feeds} - {feed.name for feed in edited.feeds}
    if len(gone) * 2 > len(running.feeds):
        drops.append(f"{len(gone)} of {len(running.feeds)} feeds ({', '.join(sorted(gone))})")
    return drops


class ConfigWatcher:
    """Notices edits to the watchlist, its profiles and their learned models, and loads them.

    An edit is loaded once the files have stayed the same (content, mtime and size) for STABLE by
    the runtime's clock, and only if they did not change while being loaded: a file half-way
    through being written is not taken for the new config. An edit that drops every channel,
    every route or most feeds waits longer (see `hold_for`) and is told to the admin when held
    back and when applied. A bad version is logged and told to the admin once."""

    def __init__(self, config: Config):
        self.path = config.source
        self.current = self.read(config).content
        self.seen: Files | None = None  # the files at the last poll, unchanged since `since`
        self.since: datetime | None = None
        self.rejected: str | None = None
        self.held: str | None = None  # a drastic edit told to the admin as held back
        self.last_rejection: tuple[datetime, str] | None = None  # when, and the file:line error

    def files(self, config: Config) -> list[Path]:
        directory = config.profiles_path
        profiles = sorted(p for pattern in ("*.yaml", "*.yml", "*.model.json")
                          for p in directory.glob(pattern)) if directory and directory.is_dir() else []
        return [self.path, *profiles]

    def read(self, config: Config) -> Files:
        digest, stamps = hashlib.sha256(), []
        for path in self.files(config):
            digest.update(str(path).encode() + b"\0")
            try:
                stat = path.stat()
                digest.update(path.read_bytes())
                stamps.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                digest.update(b"(unreadable)")
                stamps.append(None)
        return Files(digest.hexdigest(), tuple(stamps))

    @staticmethod
    def hold_for(running: Config) -> timedelta:
        """How long a drastic edit must stay: DRASTIC_STABLE, and two dispatch intervals so the
        held-back notice goes out through the running config's admin channel before it changes."""
        return max(DRASTIC_STABLE, 2 * running.dispatch.interval)

    def poll(self, runtime) -> Loaded | None:
        """The new config if the files changed, settled and load; None if unchanged, unsettled,
        held back or bad."""
        now, running = runtime.clock(), runtime.config
        files = self.read(running)
        if files != self.seen:
            self.seen, self.since = files, now
        if files.content == self.current:
            self.held = None
            return None
        stable_for = now - self.since
        if files.content == self.rejected or stable_for < STABLE:
            return None
        if files.content == self.held and stable_for < self.hold_for(running):
            return None
        loaded = self.load(runtime, files)
        if loaded is None:
            return None
        drops = drastic_changes(running, loaded.config)
        if drops:
            if stable_for < self.hold_for(running):
                self.hold_back(runtime, files, drops)
                return None
            self.tell_applied(runtime, loaded.config, drops)
        self.current, self.rejected, self.held = self.read(loaded.config).content, None, None
        metrics.config_reloaded()
        return loaded

    def load(self, runtime, files: Files) -> Loaded | None:
        """The config and scorers of these files; None if they do not load (told to the admin)
        or changed while being read."""
        try:
            config = load_config(self.path)
            loaded = Loaded(config, load_scorers(config.profiles, config.profiles_path))
        except ConfigError as exc:
            if self.read(runtime.config) != files:
                return None  # still being written: judge the version it settles on
            self.rejected = files.content
            self.last_rejection = (runtime.clock(), str(exc))
            metrics.config_rejected()
            log.error("config edit rejected, still running the last good config: %s",
                      "; ".join(map(str, exc.problems)))  # one log line, however many problems
            tell_admin(runtime, "[OPS] config edit rejected",
                       f"{exc}\n\nThe monitor keeps running the last good config. "
                       "Fix the file (check it with `monitor check`).\n")
            return None
        return loaded if self.read(runtime.config) == files else None

    def hold_back(self, runtime, files: Files, drops: list[str]) -> None:
        self.held = files.content
        wait = self.hold_for(runtime.config)
        applied_at = self.since + wait
        log.warning("config edit held back: it drops %s; applied at %s if it stays unchanged",
                    ", ".join(drops), applied_at.isoformat(timespec="seconds"))
        tell_admin(runtime, "[OPS] config edit held back",
                   f"The edited watchlist ({self.path}) drops {', '.join(drops)}.\n"
                   "A file cut off part-way through being written looks like this, so the edit "
                   f"is applied only if it stays unchanged for {_seconds(wait)} "
                   f"(at {applied_at:%Y-%m-%d %H:%M:%S UTC}); if the file changes before then, "
                   "this version is not applied. Until then the monitor keeps running the last "
                   "good config.\n")

    def tell_applied(self, runtime, config: Config, drops: list[str]) -> None:
        """Told through the new config's admin channel (or the log): the running one may be gone."""
        log.warning("config edit applied after staying unchanged: it drops %s", ", ".join(drops))
        message = admin_message(config, "[OPS] config edit applied",
                                f"The edited watchlist ({self.path}) stayed unchanged and is now "
                                f"running. It drops {', '.join(drops)}.\n")
        add_admin_message(runtime.engine, message, runtime.clock())


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g}s"
