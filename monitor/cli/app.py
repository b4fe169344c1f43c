"""The `monitor` application object and what every command shares: loading the watchlist,
opening the database, one-line errors (exit code 2)."""

import logging
import os
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..classify.scorer import ProfileScorer, load_scorers
from ..errors import ConfigError, MonitorError
from ..logs import setup_logging
from ..pipeline import Runtime
from ..settings.config import Config, load_config, parse_duration
from ..settings.profile import load_profiles
from ..store import open_database, utcnow
from ..tools.demo import PACKAGED_PROFILES

app = typer.Typer(help="Watch news feeds and alert on incidents that match a profile.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"monitor {package_version('news-incident-monitor')}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                   help="Print the version and exit")] = False,
             log_level: Annotated[Optional[str], typer.Option(
                 "--log-level", envvar="MONITOR_LOG_LEVEL",
                 help="DEBUG, INFO (default), WARNING or ERROR")] = None) -> None:
    if log_level is not None:
        if log_level.upper() not in LOG_LEVELS:
            fail(f"--log-level {log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        LOG_LEVEL[0] = getattr(logging, log_level.upper())


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LEVEL = [logging.INFO]  # set by --log-level / MONITOR_LOG_LEVEL before a command runs
ConfigOption = Annotated[Path, typer.Option("--config", "-c", envvar="MONITOR_CONFIG",
                                            help="Watchlist YAML file")]


def fail(message: str, code: int = 2) -> None:
    """`error: ` and each line of `message` on stderr (a ConfigError: one problem a line), then exit."""
    for line in message.splitlines() or [""]:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def load(path: Path, secrets: bool = True) -> Config:
    """The watchlist; with `secrets=False` (commands that only read the database), a channel
    whose ${VAR} is unset loads with a placeholder instead of stopping the command."""
    try:
        return load_config(path, environ=None if secrets else _WithoutSecrets(os.environ))
    except ConfigError as exc:
        fail(str(exc))


class _WithoutSecrets(dict):
    """The environment, with every unset variable read as a placeholder."""

    def __contains__(self, name) -> bool:
        return True

    def __missing__(self, name) -> str:
        return "unset-in-this-environment"


def runtime_for(config: Config) -> Runtime:
    setup_logging(config.secrets(), LOG_LEVEL[0])
    try:
        return Runtime(config, open_database(config.database))
    except MonitorError as exc:
        fail(str(exc))
    except Exception as exc:  # a database that cannot be reached or migrated
        fail(f"database {public_db(config.database)}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


def public_db(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def profiles_for_scoring(config: Path) -> tuple[dict, Path]:
    """Profiles of the watchlist if there is one, else the packaged ones; and their folder."""
    try:
        if config.exists():
            loaded = load_config(config)
            return loaded.profiles, loaded.profiles_path
        return load_profiles(PACKAGED_PROFILES), PACKAGED_PROFILES
    except ConfigError as exc:
        fail(str(exc))


def chosen_profiles(config: Path, only: str | None = None) -> tuple[dict, Path]:
    """The profiles to use (all, or the one named by --profile) and their folder."""
    profiles, directory = profiles_for_scoring(config)
    if only:
        if only not in profiles:
            fail(f"unknown profile {only!r}; known: {', '.join(sorted(profiles)) or 'none'}")
        profiles = {only: profiles[only]}
    return profiles, directory


def scorers_for(config: Path, only: str | None = None) -> dict[str, ProfileScorer]:
    profiles, directory = chosen_profiles(config, only)
    try:
        return load_scorers(profiles, directory)
    except ConfigError as exc:
        fail(str(exc))


def since_start(value: str):
    """The start of a --since window ("24h", "7d") as an aware UTC datetime."""
    try:
        return utcnow() - parse_duration(value)
    except ValueError as exc:
        fail(f"--since: {exc}")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")


