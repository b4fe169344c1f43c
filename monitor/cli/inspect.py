"""Commands that read what the monitor stored: feeds, matches, incidents, outbox (and retry).
The subcommands of `monitor feeds` that edit the watchlist are in manage.py."""

import json
from typing import Annotated, Optional

import typer

from ..settings.config import DEFAULT_CONFIG
from ..store import utcnow
from ..store.reports import list_feeds, list_incidents, list_matches, list_outbox
from .app import (
    ConfigOption,
    app,
    fail,
    load,
    public_db,
    runtime_for,
    since_start,
)
from .output import JSON_HELP, format_incidents, incident_json, match_json, outbox_json, when


@app.command()
def matches(since: Annotated[str, typer.Option(help="How far back, e.g. 24h, 7d")] = "24h",
            as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["matches"])] = False,
            config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List stored matches."""
    start = since_start(since)
    runtime = runtime_for(load(config, secrets=False))
    rows = [match_json(match) for match in list_matches(runtime.engine, start)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        typer.echo(f"{row['matched_at'][:16]}  {row['class']:<8} {row['score']:.2f}  "
                   f"[{row['feed']}] {row['title']}\n      {row['link'] or ''}")
    typer.echo(f"{len(rows)} matches in the last {since} (database {public_db(runtime.config.database)})")


@app.command()
def incidents(since: Annotated[str, typer.Option(help="How far back, e.g. 24h, 7d")] = "7d",
              as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["incidents"])] = False,
              config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List incidents (reports of one event grouped) with their sources."""
    start = since_start(since)
    runtime = runtime_for(load(config, secrets=False))
    rows = [incident_json(incident) for incident in list_incidents(runtime.engine, start)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    typer.echo(format_incidents(rows))
    typer.echo(f"{len(rows)} incidents active in the last {since} "
               f"(database {public_db(runtime.config.database)})")




feeds_app = typer.Typer(help="Each feed's health; import and export feeds as OPML.")
app.add_typer(feeds_app, name="feeds")


@feeds_app.callback(invoke_without_command=True)
def feeds(ctx: typer.Context, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Show each feed's health: last success, last error, error count, next due, items seen."""
    if ctx.invoked_subcommand is not None:
        return
    runtime = runtime_for(load(config, secrets=False))
    known = {f.name for f in runtime.config.feeds}
    for feed in list_feeds(runtime.engine):
        if feed.name not in known:
            continue
        typer.echo(f"{feed.name}: status={feed.last_status or 'never polled'} "
                   f"items_seen={feed.items_seen} errors={feed.error_count}\n"
                   f"    last_success={when(feed.last_success_at)} next_due={when(feed.next_due_at)}"
                   + (f"\n    last_error={when(feed.last_error_at)}: {feed.last_error}"
                      if feed.error_count else ""))
    typer.echo(f"database {public_db(runtime.config.database)}")




outbox_app = typer.Typer(help="Alerts waiting, given up or uncertain; send one again.")
app.add_typer(outbox_app, name="outbox")


@outbox_app.callback(invoke_without_command=True)
def outbox(ctx: typer.Context,
           status: Annotated[Optional[list[str]], typer.Option(
               help="Only rows with this status (repeatable): pending, held, claimed, sending, dead, "
                    "uncertain, sent, merged, or all")] = None,
           as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["outbox"])] = False,
           config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List outbox rows not (yet) delivered: pending, held, dead, uncertain, with the last error."""
    if ctx.invoked_subcommand is not None:
        return
    from ..model import OUTBOX_OPEN
    from ..store.outbox import OUTBOX_STATUSES
    runtime = runtime_for(load(config, secrets=False))
    unknown = [s for s in status or [] if s not in OUTBOX_STATUSES + ("all",)]
    if unknown:
        fail(f"unknown status {unknown[0]!r}; known: {', '.join(OUTBOX_STATUSES)}, all")
    statuses = None if status and "all" in status else (status or OUTBOX_OPEN)
    rows = [outbox_json(row) for row in list_outbox(runtime.engine, statuses)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        due = _when_due(row)
        typer.echo(f"#{row['id']} {row['status']:<9} {row['channel']} attempts={row['attempts']}{due}  "
                   f"{row['title']}" + (f"\n    last error: {row['last_error']}" if row["last_error"] else ""))
    typer.echo(f"{len(rows)} rows" + ("" if status else " (sent rows hidden; --status all shows them)")
               + f" (database {public_db(runtime.config.database)})")




def _when_due(row: dict) -> str:
    """When a pending or held row goes out: a row held for a digest goes with the digest, at the
    route's schedule (its next_attempt_at is only when it was written)."""
    from ..model import DIGEST_HOLD
    if row["status"] == "held" and (row["hold"] or "").startswith(DIGEST_HOLD):
        profile, _, schedule = row["hold"].removeprefix(DIGEST_HOLD).partition("|")
        cron, _, timezone = schedule.partition("|")
        return f" held for the {profile} digest ({cron} {timezone})".replace(" )", ")")
    if row["status"] == "held":
        return f" held ({row['hold']}) until {row['next_attempt_at'][:19]}"
    return f" next attempt {row['next_attempt_at'][:19]}" if row["status"] == "pending" else ""


@outbox_app.command("retry")
def outbox_retry(row_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox row id (see `monitor outbox`)")],
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a dead or uncertain row again (attempts reset); the daemon's next dispatch sends it."""
    from ..store.outbox import retry_outbox
    runtime = runtime_for(load(config, secrets=False))
    try:
        row = retry_outbox(runtime.engine, row_id, utcnow())
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"outbox row {row.id} ({row.channel}: {row.title}) is pending again; "
               f"the next dispatch sends it")
