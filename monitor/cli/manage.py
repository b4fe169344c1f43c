"""Commands that set up and look after a monitor: init, prune, feeds import and feeds export."""

import json
import os
import shlex
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError

from ..errors import ConfigError, InputError
from ..retention import kept_for, prune_database
from ..settings.config import DEFAULT_CONFIG, FeedConfig, load_config
from .app import ConfigOption, _WithoutSecrets, app, fail, load, public_db, runtime_for
from .inspect import feeds_app
from .output import JSON_HELP

Folder = Annotated[Path, typer.Argument(help="Folder to write into (made if missing)")]


@app.command()
def init(directory: Folder = Path("."),
         force: Annotated[bool, typer.Option("--force", help="Overwrite the files there")] = False) -> None:
    """Write a starter watchlist, the packaged profiles and a .env.example, and say what next."""
    from ..tools.starter import WATCHLIST, write_starter
    try:
        written = write_starter(directory, overwrite=force)
    except FileExistsError as exc:
        fail(f"not overwriting files that are there: {exc} (--force overwrites them)")
    except OSError as exc:
        fail(f"{exc.filename or directory}: {exc.strerror}")
    for path in written:
        typer.echo(f"wrote {path}")
    watchlist = shlex.quote(str(directory / WATCHLIST))
    env = str(directory / ".env")
    env = shlex.quote(env if "/" in env else f"./{env}")  # `. .env` would search $PATH
    typer.echo(f"\nNext:\n"
               f"  1. Put your feeds in {watchlist} (or: monitor feeds import FILE.opml -c {watchlist}).\n"
               f"  2. For alerts, uncomment a channel and a route there, then copy "
               f"{shlex.quote(str(directory / '.env.example'))} to {env} and set that channel's variables.\n"
               f"  3. Check it:  monitor check -c {watchlist}\n"
               f"  4. Run it:    monitor run -c {watchlist}\n"
               f"     with the channel variables in its environment, e.g. first: set -a; . {env}; set +a")


@app.command()
def prune(dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be deleted; "
                                                "delete nothing")] = False,
          as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["prune"])] = False,
          config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Delete items and matches older than the watchlist's `retention` (the daemon does it daily)."""
    runtime = runtime_for(load(config, secrets=False))
    retention = runtime.config.retention
    pruned = prune_database(runtime.config, runtime.engine, runtime.clock(), dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, "items": pruned.items, "matches": pruned.matches,
                               "incidents": pruned.incidents, "outbox": pruned.outbox}))
        return
    typer.echo(f"{'would delete' if dry_run else 'deleted'}:")
    for table, count in (("items", pruned.items), ("matches", pruned.matches),
                         ("incidents", pruned.incidents), ("outbox", pruned.outbox)):
        typer.echo(f"  {table:<10} {count:>8}")
    typer.echo(f"retention: items {_period(runtime.config, retention.items)}, matches "
               f"{_period(runtime.config, retention.matches)} "
               f"(database {public_db(runtime.config.database)})")


def _period(config, period) -> str:
    kept = kept_for(config, period)
    return "kept for good" if kept is None else f"{kept.total_seconds() / 86400:g}d"


@feeds_app.command("import")
def feeds_import(file: Annotated[Path, typer.Argument(metavar="FILE.opml",
                                                      help="OPML file of a feed reader")],
                 dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be added; "
                                                       "change nothing")] = False,
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Add the feeds of an OPML file to the watchlist, keeping its comments and layout."""
    from ..tools.opml import read_opml
    from ..tools.watchlist import replace_checked, with_feeds
    loaded = load(config, secrets=False)
    try:
        outlines, skipped = read_opml(file.read_bytes(), str(file))
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
    except InputError as exc:
        fail(str(exc))
    added, refused = _new_feeds(loaded.feeds, outlines)
    for line, reason in sorted([(s.line, s.reason) for s in skipped] + refused):
        typer.echo(f"skipped {file}:{line}: {reason}")
    names = ", ".join(feed["name"] for feed in added)
    if not added:
        typer.echo(f"no new feed in {file}; {config} is unchanged")
        return
    if dry_run:
        typer.echo(f"would add {len(added)} feeds to {config}: {names}")
        return
    original = config.read_text(encoding="utf-8")
    try:
        edited = with_feeds(original, added, str(config))
        replace_checked(config, original, edited.text,
                        lambda path: load_config(path, environ=_WithoutSecrets(os.environ)))
    except (ConfigError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"added {len(added)} feeds to {config}: {names}")
    if not edited.layout_kept:
        typer.echo("note: comments are kept, but the YAML library changed the indentation of some lines")


def _new_feeds(watched: tuple[FeedConfig, ...], outlines) -> tuple[list[dict], list[tuple[int, str]]]:
    """The outlines to add as feeds ({name, url, tags}), and (line, reason) of those skipped: a
    URL already watched or earlier in the file, or one the watchlist would refuse."""
    from ..tools.opml import feed_name
    known = {_same(feed.url): f"already in the watchlist as {feed.name}" for feed in watched}
    taken = {feed.name for feed in watched}
    added, refused = [], []
    for outline in outlines:
        if (reason := known.get(_same(outline.url))) is not None:
            refused.append((outline.line, f"{outline.url}: {reason}"))
            continue
        name = feed_name(outline, taken)
        try:
            FeedConfig(name=name, url=outline.url, tags=outline.tags)
        except ValidationError as exc:
            refused.append((outline.line, exc.errors()[0]["msg"].removeprefix("Value error, ")))
            continue
        taken.add(name)
        known[_same(outline.url)] = f"already in this file as {name} (line {outline.line})"
        added.append({"name": name, "url": outline.url, "tags": list(outline.tags)})
    return added, refused


def _same(url: str) -> tuple[str, ...]:
    """What makes two feed URLs the same: scheme and host in any case, an empty path as /."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query


@feeds_app.command("export")
def feeds_export(output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this "
                                                                "file (default: standard output)")] = None,
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Write the watchlist's feeds as OPML 2.0, their tags as categories."""
    from ..tools.opml import write_opml
    loaded = load(config, secrets=False)
    document = write_opml([(feed.name, feed.url, feed.tags) for feed in loaded.feeds],
                          title=f"Feeds of {config.name} (news incident monitor)")
    if output is None:
        typer.echo(document.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        fail(f"{output}: {exc.strerror}")
    typer.echo(f"wrote {len(loaded.feeds)} feeds to {output}")
