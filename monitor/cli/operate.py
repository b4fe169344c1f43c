"""Commands that run the monitor: check, run, poll, notify-test, demo."""

import logging
import os
from typing import Annotated, Optional

import typer

from ..alerts.deliver import dispatch, send, url_problem
from ..errors import ChannelError
from ..logs import mask_credentials, setup_logging
from ..pipeline import poll
from ..settings.config import DEFAULT_CONFIG
from ..settings.yamlsource import error_at
from ..tools.demo import demo_watchlist
from ..tools.demo import report as demo_report
from .app import (
    LOG_LEVEL,
    ConfigOption,
    app,
    fail,
    load,
    public_db,
    runtime_for,
)


@app.command()
def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the watchlist and its profiles; print what they define."""
    loaded = load(config)
    unusable = [str(error_at(config, ("channels", index, "url"), problem))
                for index, channel in enumerate(loaded.channels) if (problem := url_problem(channel))]
    if unusable:
        fail("\n".join(unusable))
    typer.echo(f"{config}: OK")
    typer.echo(f"database: {public_db(loaded.database)}")
    typer.echo(f"feeds ({len(loaded.feeds)}):")
    for feed in loaded.feeds:
        tags = f" [{', '.join(feed.tags)}]" if feed.tags else ""
        interval = int(loaded.feed_interval(feed).total_seconds())
        typer.echo(f"  {feed.name}: {mask_credentials(feed.url)} every {interval}s{tags}")
    typer.echo(f"profiles ({len(loaded.profiles)}):")
    for profile in loaded.profiles.values():
        terms = sum(len(t.spellings()) for g in profile.groups.values() for t in g.terms)
        typer.echo(f"  {profile.name}: {len(profile.groups)} groups, {terms} spellings, "
                   f"{len(profile.rules)} rules, {len(profile.negatives)} negatives")
    typer.echo(f"channels ({len(loaded.channels)}):")
    for channel in loaded.channels:
        typer.echo(f"  {channel.name}: {channel.public_url()}")
    typer.echo(f"routes ({len(loaded.routes)}):")
    for route in loaded.routes:
        typer.echo(f"  {route.profile} >= {route.min_class} -> {', '.join(route.channels)}")
    if not loaded.routes:
        typer.echo("  none: incident alerts are written to the log and kept in the database")


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the daemon: poll due feeds and send alerts until SIGTERM or Ctrl-C."""
    from ..daemon.scheduler import Daemon
    runtime = runtime_for(load(config))
    loaded = runtime.config
    logging.getLogger("monitor").info(
        "starting: %d feeds, profiles %s, %d channels, %d routes, database %s, tick %ss",
        len(loaded.feeds), ", ".join(loaded.profiles) or "none", len(loaded.channels),
        len(loaded.routes), public_db(loaded.database), int(loaded.tick.total_seconds()))
    if not Daemon(runtime).run():
        logging.shutdown()
        os._exit(1)  # a job that did not end would keep the interpreter waiting at exit


@app.command("poll")
def poll_once(config: ConfigOption = DEFAULT_CONFIG,
              feed: Annotated[Optional[list[str]], typer.Option(help="Only this feed (repeatable)")] = None
              ) -> None:
    """Poll every feed (or one) once, send pending alerts, and exit."""
    runtime = runtime_for(load(config))
    unknown = [name for name in feed or [] if name not in {f.name for f in runtime.config.feeds}]
    if unknown:
        fail(f"no feed named {unknown[0]!r} in {config}")
    outcomes = poll(runtime, feed_names=feed or None)
    counts = dispatch(runtime.config, runtime.engine, runtime.clock)
    failed = sum(1 for o in outcomes if o.status == "error")
    typer.echo(f"polled {len(outcomes)} feeds ({failed} failed): "
               f"{sum(o.new_items for o in outcomes)} new items, "
               f"{sum(o.matches for o in outcomes)} matches, {sum(o.alerts for o in outcomes)} alerts; "
               f"dispatched: {', '.join(f'{v} {k}' for k, v in counts.items()) or 'nothing'} "
               f"(database {public_db(runtime.config.database)})")
    if outcomes and failed == len(outcomes):
        raise typer.Exit(1)  # for cron and scripts: nothing could be fetched




@app.command("notify-test")
def notify_test(channel: Annotated[str, typer.Argument(help="Channel name from the watchlist")],
                config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a test alert through one channel and report success or the exact failure."""
    loaded = load(config)
    setup_logging(loaded.secrets(), LOG_LEVEL[0])
    try:
        target = loaded.channel(channel)
    except KeyError:
        fail(f"no channel named {channel!r}; known: {', '.join(c.name for c in loaded.channels) or 'none'}")
    try:
        send(target, "[TEST] news incident monitor", "This is a test alert from `monitor notify-test`.",
             fields={"kind": "test"})
    except ChannelError as exc:
        fail(f"failed: {exc}", code=1)
    typer.echo(f"sent a test alert through {channel} ({target.public_url()})")


@app.command()
def demo() -> None:
    """Run the whole pipeline once over packaged example feeds (no network needed)."""
    with demo_watchlist() as watchlist:
        runtime = runtime_for(load(watchlist))
        outcomes = poll(runtime)
        typer.echo(demo_report(runtime, outcomes))
        runtime.engine.dispose()
    typer.echo("\nNext: put your feeds and an alert channel in config/monitor.yaml, "
               "`monitor check`, then `monitor run`.")


