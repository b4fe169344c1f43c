"""The config watcher: reload the watchlist and profiles when they change, keep the last
good version, and tell the admin once per bad version."""

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ..classify.scorer import ProfileScorer, load_scorers
from ..errors import ConfigError
from ..settings.config import Config, load_config
from .health import tell_admin

log = logging.getLogger("monitor.ops")


@dataclass(frozen=True)
class Loaded:
    config: Config
    scorers: dict[str, ProfileScorer]


class ConfigWatcher:
    """Notices edits to the watchlist, its profiles and their learned models, and loads them.

    A version of the files is acted on once it has been read the same twice in a row (an editor
    may be half-way through writing it). A bad version is logged and told to the admin once."""

    def __init__(self, config: Config):
        self.path = config.source
        self.current = self.pending = self.version(config)
        self.rejected: str | None = None

    def files(self, config: Config) -> list[Path]:
        directory = config.profiles_path
        profiles = sorted(p for pattern in ("*.yaml", "*.yml", "*.model.json")
                          for p in directory.glob(pattern)) if directory and directory.is_dir() else []
        return [self.path, *profiles]

    def version(self, config: Config) -> str:
        digest = hashlib.sha256()
        for path in self.files(config):
            digest.update(str(path).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"(unreadable)")
        return digest.hexdigest()

    def poll(self, runtime) -> Loaded | None:
        """The new config if the files changed and load; None if unchanged, unsettled or bad."""
        version = self.version(runtime.config)
        settled, self.pending = version == self.pending, version
        if version == self.current or not settled or version == self.rejected:
            return None
        try:
            config = load_config(self.path)
            loaded = Loaded(config, load_scorers(config.profiles, config.profiles_path))
        except ConfigError as exc:
            self.rejected = version
            log.error("config edit rejected, still running the last good config: %s", exc)
            tell_admin(runtime, "[OPS] config edit rejected",
                       f"{exc}\n\nThe monitor keeps running the last good config. "
                       "Fix the file (check it with `monitor check`).\n")
            return None
        self.current, self.rejected = self.version(config), None
        return loaded
