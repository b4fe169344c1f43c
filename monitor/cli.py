"""The `monitor` command line. Every user-fixable error is one line on stderr and exit code 2."""

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .alerts.deliver import dispatch, send
from .classify.explain import explain
from .classify.scorer import ProfileScorer, load_scorers, model_path
from .errors import ChannelError, ConfigError, InputError, MonitorError
from .logs import setup_logging
from .pipeline import Runtime, poll
from .settings.config import DEFAULT_CONFIG, Config, load_config, parse_duration
from .settings.profile import load_profiles
from .store import open_database, utcnow
from .store.feeds import list_feeds
from .store.outbox import list_outbox
from .store.reports import list_incidents, list_matches
from .tools.demo import PACKAGED_PROFILES, demo_watchlist
from .tools.demo import report as demo_report
from .tools.evaluate import (
    evaluate,
    format_errors,
    format_report,
    read_labelled,
    trained_on,
)

app = typer.Typer(help="Watch news feeds and alert on incidents that match a profile.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", envvar="MONITOR_CONFIG",
                                            help="Watchlist YAML file")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(str(exc))


def _runtime(config: Config) -> Runtime:
    setup_logging(config.secrets())
    try:
        return Runtime(config, open_database(config.database))
    except MonitorError as exc:
        _fail(str(exc))
    except Exception as exc:  # a database that cannot be reached or migrated
        _fail(f"database {_public_db(config.database)}: {type(exc).__name__}: {str(exc).splitlines()[0]}")


def _public_db(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the watchlist and its profiles; print what they define."""
    loaded = _load(config)
    typer.echo(f"{config}: OK")
    typer.echo(f"database: {_public_db(loaded.database)}")
    typer.echo(f"feeds ({len(loaded.feeds)}):")
    for feed in loaded.feeds:
        tags = f" [{', '.join(feed.tags)}]" if feed.tags else ""
        interval = int(loaded.feed_interval(feed).total_seconds())
        typer.echo(f"  {feed.name}: {feed.url} every {interval}s{tags}")
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
    from .daemon.scheduler import Daemon
    runtime = _runtime(_load(config))
    loaded = runtime.config
    logging.getLogger("monitor").info(
        "starting: %d feeds, profiles %s, %d channels, %d routes, database %s, tick %ss",
        len(loaded.feeds), ", ".join(loaded.profiles) or "none", len(loaded.channels),
        len(loaded.routes), _public_db(loaded.database), int(loaded.tick.total_seconds()))
    Daemon(runtime).run()


@app.command("poll")
def poll_once(config: ConfigOption = DEFAULT_CONFIG,
              feed: Annotated[Optional[list[str]], typer.Option(help="Only this feed (repeatable)")] = None
              ) -> None:
    """Poll every feed (or one) once, send pending alerts, and exit."""
    runtime = _runtime(_load(config))
    unknown = [name for name in feed or [] if name not in {f.name for f in runtime.config.feeds}]
    if unknown:
        _fail(f"no feed named {unknown[0]!r} in {config}")
    outcomes = poll(runtime, feed_names=feed or None)
    counts = dispatch(runtime.config, runtime.engine, runtime.clock)
    failed = sum(1 for o in outcomes if o.status == "error")
    typer.echo(f"polled {len(outcomes)} feeds ({failed} failed): "
               f"{sum(o.new_items for o in outcomes)} new items, "
               f"{sum(o.matches for o in outcomes)} matches, {sum(o.alerts for o in outcomes)} alerts; "
               f"dispatched: {', '.join(f'{v} {k}' for k, v in counts.items()) or 'nothing'}")


@app.command()
def score(file: Annotated[str, typer.Argument(help="Text file, first line = title; - for stdin")] = "-",
          profile: Annotated[Optional[str], typer.Option(help="Only this profile")] = None,
          as_json: Annotated[bool, typer.Option("--json", help="One JSON object per profile")] = False,
          show: Annotated[bool, typer.Option("--explain", help="Mark matched terms in the text")] = False,
          config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Score a text against the profiles and show class, score and evidence."""
    scorers = _scorers(config, profile)
    raw = sys.stdin.read() if file == "-" else _read_text(Path(file))
    title, _, text = raw.strip().partition("\n")
    for name, scorer in scorers.items():
        result = scorer.score(title.strip(), text.strip())
        if as_json:
            evidence = [{"group": g, "terms": t} for g, t in result.evidence().items()]
            typer.echo(json.dumps({"profile": name, "class": result.label, "score": result.score,
                                   "rule": result.rule, "layer": result.layer,
                                   "probability": result.probability, "evidence": evidence}))
        else:
            learned = f", learned p={result.probability:.2f}" if result.probability is not None else ""
            typer.echo(f"{name}: {result.label} (score {result.score:.2f}"
                       f"{', rule ' + result.rule if result.rule else ''}, decided by {result.layer}{learned})")
            for group, terms in result.evidence().items():
                typer.echo(f"  {group}: {', '.join(terms)}")
            if show:
                typer.echo(explain(scorer, title.strip(), text.strip(), result))


def _profiles_for_scoring(config: Path) -> tuple[dict, Path]:
    """Profiles of the watchlist if there is one, else the packaged ones; and their folder."""
    try:
        if config.exists():
            loaded = load_config(config)
            return loaded.profiles, loaded.profiles_path
        return load_profiles(PACKAGED_PROFILES), PACKAGED_PROFILES
    except ConfigError as exc:
        _fail(str(exc))


def _chosen_profiles(config: Path, only: str | None = None) -> tuple[dict, Path]:
    """The profiles to use (all, or the one named by --profile) and their folder."""
    profiles, directory = _profiles_for_scoring(config)
    if only:
        if only not in profiles:
            _fail(f"unknown profile {only!r}; known: {', '.join(sorted(profiles)) or 'none'}")
        profiles = {only: profiles[only]}
    return profiles, directory


def _scorers(config: Path, only: str | None = None) -> dict[str, ProfileScorer]:
    profiles, directory = _chosen_profiles(config, only)
    try:
        return load_scorers(profiles, directory)
    except ConfigError as exc:
        _fail(str(exc))


def _since(value: str):
    """The start of a --since window ("24h", "7d") as an aware UTC datetime."""
    try:
        return utcnow() - parse_duration(value)
    except ValueError as exc:
        _fail(f"--since: {exc}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        _fail(f"{path}: {exc.strerror}")


@app.command()
def matches(since: Annotated[str, typer.Option(help="How far back, e.g. 24h, 7d")] = "24h",
            as_json: Annotated[bool, typer.Option("--json")] = False,
            config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List stored matches."""
    start = _since(since)
    runtime = _runtime(_load(config))
    rows = list_matches(runtime.engine, start)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        typer.echo(f"{row['matched_at'][:16]}  {row['class']:<8} {row['score']:.2f}  "
                   f"[{row['feed']}] {row['title']}\n      {row['link'] or ''}")
    typer.echo(f"{len(rows)} matches in the last {since}")


@app.command()
def incidents(since: Annotated[str, typer.Option(help="How far back, e.g. 24h, 7d")] = "7d",
              as_json: Annotated[bool, typer.Option("--json")] = False,
              config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List incidents (reports of one event grouped) with their sources."""
    start = _since(since)
    runtime = _runtime(_load(config))
    rows = list_incidents(runtime.engine, start)
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    typer.echo(format_incidents(rows))
    typer.echo(f"{len(rows)} incidents active in the last {since}")


def format_incidents(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        lines.append(f"#{row['id']} {row['title']}  [{row['profile']}]")
        lines.append(f"    opened {row['opened_at'][:16]}, last report {row['last_at'][:16]}, "
                     f"{len(row['sources'])} sources, {row['updates']} updates"
                     + (f", {', '.join(row['facts'])}" if row["facts"] else ""))
        lines += [f"    - {source['title']} ({source['feed']}, {source['role']})"
                  for source in row["sources"]]
    return "\n".join(lines)


@app.command()
def backtest(profile: Annotated[Optional[str], typer.Option(help="Profile to try (default: the first)")] = None,
             since: Annotated[str, typer.Option(help="Stored items fetched this far back")] = "30d",
             as_json: Annotated[bool, typer.Option("--json")] = False,
             config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run a profile over stored items and show what it would alert; sends and writes nothing."""
    from .tools.backtest import backtest as run_backtest
    from .tools.backtest import summary
    start = _since(since)
    runtime = _runtime(_load(config))
    name = profile or next(iter(runtime.scorers), None)
    if name not in runtime.scorers:
        _fail(f"unknown profile {name!r}; known: {', '.join(runtime.scorers) or 'none'}")
    outcomes = run_backtest(runtime.engine, runtime.scorers[name], start)
    if as_json:
        typer.echo(json.dumps({"profile": name, "summary": summary(outcomes),
                               "items": [_outcome_json(o) for o in outcomes]}, indent=1))
        return
    for o in outcomes:
        was = "" if o.stored_label == o.label else f"  (stored then: {o.stored_label or 'none'})"
        marker = f"ALERT #{o.incident}" if o.alert == "alert" else (
            f"UPDATE #{o.incident}" if o.alert else (f"joins #{o.incident}" if o.incident else ""))
        typer.echo(f"{o.when:%Y-%m-%d %H:%M}  {o.label:<8} {o.score:.2f} {marker:<11} "
                   f"[{o.feed}] {o.title}{was}")
    counts = summary(outcomes)
    typer.echo(f"profile {name}, items fetched in the last {since}: {counts['matches']} matches, "
               f"{counts['alerts']} alerts for {counts['incidents']} incidents; "
               f"{counts['newly_incident']} newly incident, {counts['no_longer_incident']} no longer "
               f"incident. Nothing was sent or stored.")


def _outcome_json(outcome) -> dict:
    return {"title": outcome.title, "feed": outcome.feed, "link": outcome.link,
            "when": outcome.when.isoformat(), "class": outcome.label, "score": outcome.score,
            "alert": outcome.alert, "incident": outcome.incident, "stored_class": outcome.stored_label,
            "evidence": outcome.evidence}


@app.command()
def feeds(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Show each feed's health: last success, last error, error count, next due, items seen."""
    runtime = _runtime(_load(config))
    known = {f.name for f in runtime.config.feeds}
    for feed in list_feeds(runtime.engine):
        if feed.name not in known:
            continue
        typer.echo(f"{feed.name}: status={feed.last_status or 'never polled'} "
                   f"items_seen={feed.items_seen} errors={feed.error_count}\n"
                   f"    last_success={_when(feed.last_success_at)} next_due={_when(feed.next_due_at)}"
                   + (f"\n    last_error={_when(feed.last_error_at)}: {feed.last_error}"
                      if feed.error_count else ""))


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


@app.command("notify-test")
def notify_test(channel: Annotated[str, typer.Argument(help="Channel name from the watchlist")],
                config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a test alert through one channel and report success or the exact failure."""
    loaded = _load(config)
    setup_logging(loaded.secrets())
    try:
        target = loaded.channel(channel)
    except KeyError:
        _fail(f"no channel named {channel!r}; known: {', '.join(c.name for c in loaded.channels) or 'none'}")
    try:
        send(target, "[TEST] news incident monitor", "This is a test alert from `monitor notify-test`.")
    except ChannelError as exc:
        _fail(f"failed: {exc}", code=1)
    typer.echo(f"sent a test alert through {channel} ({target.public_url()})")


@app.command()
def demo() -> None:
    """Run the whole pipeline once over packaged example feeds (no network needed)."""
    with demo_watchlist() as watchlist:
        runtime = _runtime(_load(watchlist))
        outcomes = poll(runtime)
        typer.echo(demo_report(runtime, outcomes))
        runtime.engine.dispose()
    typer.echo("\nNext: put your feeds and an alert channel in config/monitor.yaml, "
               "`monitor check`, then `monitor run`.")


@app.command("eval")
def eval_command(file: Annotated[Path, typer.Argument(help="Labelled JSON Lines file (.gz allowed)")],
                 profile: Annotated[Optional[str], typer.Option(help="Profile to measure")] = None,
                 as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
                 show_errors: Annotated[int, typer.Option(help="Worst errors to list")] = 10,
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Measure a profile against labelled items: precision, recall, F1, alerts, events."""
    name, scorer = next(iter(_scorers(config, profile).items()))
    try:
        if sys.stderr.isatty() and not as_json:
            total = sum(1 for _ in read_labelled(file))
            with typer.progressbar(length=total, label="scoring", file=sys.stderr) as bar:
                result = evaluate(read_labelled(file), scorer, bar.update)
        else:
            result = evaluate(read_labelled(file), scorer)
    except InputError as exc:
        _fail(str(exc))
    report = result.report(scorer.profile.incidents)
    report["learned_layer"] = _trained_note(file, scorer)
    if as_json:
        typer.echo(json.dumps({"profile": name, **report}, indent=1))
        return
    typer.echo(format_report(name, report))
    typer.echo(format_errors(result, show_errors))
    if report["learned_layer"]["note"]:
        typer.echo("\n" + report["learned_layer"]["note"])


@app.command("replay")
def replay_command(file: Annotated[Path, typer.Argument(help="Archive: JSON Lines (.gz allowed), "
                                                         "the eval format; labels optional")],
                   profile: Annotated[Optional[str], typer.Option(help="Only this profile")] = None,
                   as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
                   config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Replay a past period day by day through the poll path: the pages it would have sent."""
    from .tools.replay import format_replay, replay_archive, replay_json
    profiles, directory = _chosen_profiles(config, profile)
    try:
        if sys.stderr.isatty() and not as_json:
            total = sum(1 for _ in read_labelled(file, require_label=False))
            with typer.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
                result = replay_archive(file, profiles, directory, bar.update)
        else:
            result = replay_archive(file, profiles, directory)
    except MonitorError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(replay_json(result), indent=1))
    else:
        typer.echo(format_replay(result))


def _trained_note(file: Path, scorer: ProfileScorer) -> dict:
    if scorer.model is None:
        return {"used": False, "trained_items_scored": 0, "note": ""}
    trained = trained_on(file, scorer.model.trained_ids)
    note = (f"note: {trained} of these items trained the learned layer, so its numbers flatter it; "
            f"`monitor profile fit` reports out-of-fold numbers" if trained else "")
    return {"used": True, "trained_items_scored": trained, "note": note}


profile_app = typer.Typer(help="Build and train profiles.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


@profile_app.command("fit")
def profile_fit(file: Annotated[Path, typer.Argument(help="Labelled JSON Lines file (.gz allowed)")],
                profile: Annotated[Optional[str], typer.Option(help="Profile to train for")] = None,
                folds: Annotated[int, typer.Option(help="Cross-validation folds, grouped by event")] = 5,
                output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Model file")] = None,
                config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Train the learned layer (needs scikit-learn) and save it beside the profile."""
    from .tools.fit import fit_model
    profiles, directory = _profiles_for_scoring(config)
    name = profile or next(iter(profiles), None)
    if name not in profiles:
        _fail(f"unknown profile {name!r}; known: {', '.join(sorted(profiles)) or 'none'}")
    try:
        items = list(read_labelled(file))
    except InputError as exc:
        _fail(str(exc))
    result = fit_model(items, profiles[name], folds=folds)
    target = output or model_path(directory, name)
    summary = {layer: {key: result.report[layer][key] for key in ("incident", "alertable", "alerts")}
               | {"events": {k: result.report[layer]["events"][k] for k in ("total", "alerted", "recall")}}
               for layer in ("rules", "learned", "combined")}
    target.write_text(result.model.to_json({"trained_on": str(file), "out_of_fold": summary}))
    typer.echo(f"{len(items)} items, {result.report['candidates']} past the concept pre-filter; "
               f"thresholds related={result.model.related_threshold} incident={result.model.incident_threshold}")
    typer.echo("out-of-fold, whole stream:")
    for layer, row in summary.items():
        typer.echo(f"  {layer:<9} incident P {row['incident']['precision']:.3f} R {row['incident']['recall']:.3f}"
                   f" | alertable P {row['alertable']['precision']:.3f} R {row['alertable']['recall']:.3f}"
                   f" | alerts {row['alerts']['count']} ({row['alerts']['false_alarms']} false)"
                   f" | events {row['events']['alerted']}/{row['events']['total']}")
    typer.echo(f"saved {target}")


@profile_app.command("learn")
def profile_learn(examples: Annotated[list[Path], typer.Argument(help="Example articles: text files "
                                                                 "(first line = title) or JSON Lines")],
                  background: Annotated[Optional[Path], typer.Option(
                      help="Word<TAB>count table or a corpus to count (default: shipped news table)")] = None,
                  name: Annotated[Optional[str], typer.Option(help="Profile name")] = None,
                  output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here")] = None
                  ) -> None:
    """Draft a profile from example articles, as a commented YAML file to edit."""
    from .tools.draft import draft_profile, read_background, read_examples
    name = name or (output.stem if output else "draft")
    try:
        text = draft_profile(read_examples(examples),
                             read_background(background) if background else None, name)
    except InputError as exc:
        _fail(str(exc))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}; check it with `monitor score --profile {name}` after moving it "
               f"into your profiles_dir", err=True)


outbox_app = typer.Typer(help="Alerts waiting, given up or uncertain; send one again.")
app.add_typer(outbox_app, name="outbox")


@outbox_app.callback(invoke_without_command=True)
def outbox(ctx: typer.Context,
           status: Annotated[Optional[list[str]], typer.Option(
               help="Only rows with this status (repeatable): pending, held, claimed, sending, dead, "
                    "uncertain, sent, merged, or all")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False,
           config: ConfigOption = DEFAULT_CONFIG) -> None:
    """List outbox rows not (yet) delivered: pending, held, dead, uncertain, with the last error."""
    if ctx.invoked_subcommand is not None:
        return
    from .model import OUTBOX_OPEN
    from .store.outbox import OUTBOX_STATUSES
    runtime = _runtime(_load(config))
    unknown = [s for s in status or [] if s not in OUTBOX_STATUSES + ("all",)]
    if unknown:
        _fail(f"unknown status {unknown[0]!r}; known: {', '.join(OUTBOX_STATUSES)}, all")
    statuses = None if status and "all" in status else (status or OUTBOX_OPEN)
    rows = [_outbox_json(row) for row in list_outbox(runtime.engine, statuses)]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        due = f" next attempt {row['next_attempt_at'][:19]}" if row["status"] in ("pending", "held") else ""
        typer.echo(f"#{row['id']} {row['status']:<9} {row['channel']} attempts={row['attempts']}{due}  "
                   f"{row['title']}" + (f"\n    last error: {row['last_error']}" if row["last_error"] else ""))
    typer.echo(f"{len(rows)} rows" + ("" if status else " (sent rows hidden; --status all shows them)"))


def _outbox_json(row) -> dict:
    def when(value):
        return value.replace(tzinfo=None).isoformat() + "Z" if value else None
    return {"id": row.id, "status": row.status, "channel": row.channel, "kind": row.kind,
            "attempts": row.attempts, "next_attempt_at": when(row.next_attempt_at), "hold": row.hold,
            "last_error": row.last_error, "title": row.title, "created_at": when(row.created_at),
            "sent_at": when(row.sent_at), "merged_into": row.merged_into}


@outbox_app.command("retry")
def outbox_retry(row_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox row id (see `monitor outbox`)")],
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a dead or uncertain row again (attempts reset); the daemon's next dispatch sends it."""
    from .store.outbox import retry_outbox
    runtime = _runtime(_load(config))
    try:
        row = retry_outbox(runtime.engine, row_id, utcnow())
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"outbox row {row.id} ({row.channel}: {row.title}) is pending again; "
               f"the next dispatch sends it")
