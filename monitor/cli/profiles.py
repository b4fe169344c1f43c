"""Commands that build and measure profiles: score, eval, replay, backtest, profile fit/learn."""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..classify.explain import explain
from ..classify.scorer import ProfileScorer, model_path
from ..errors import InputError, MonitorError
from ..settings.config import DEFAULT_CONFIG
from ..tools.evaluate import (
    evaluate,
    format_errors,
    format_report,
    read_labelled,
    trained_on,
)
from .app import (
    ConfigOption,
    app,
    chosen_profiles,
    fail,
    load,
    profiles_for_scoring,
    read_text,
    runtime_for,
    scorers_for,
    since_start,
)
from .output import JSON_HELP, outcome_json


@app.command()
def score(file: Annotated[str, typer.Argument(help="Text file, first line = title; - for stdin")] = "-",
          profile: Annotated[Optional[str], typer.Option(help="Only this profile")] = None,
          as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["score"])] = False,
          show: Annotated[bool, typer.Option("--explain", help="Mark matched terms in the text")] = False,
          config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Score a text against the profiles and show class, score and evidence."""
    scorers = scorers_for(config, profile)
    raw = sys.stdin.read() if file == "-" else read_text(Path(file))
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




@app.command()
def backtest(profile: Annotated[Optional[str], typer.Option(help="Profile to try (default: the first)")] = None,
             since: Annotated[str, typer.Option(help="Stored items fetched this far back")] = "30d",
             as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["backtest"])] = False,
             config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run a profile over stored items and show what it would alert; sends and writes nothing."""
    from ..tools.backtest import backtest as run_backtest
    from ..tools.backtest import summary
    start = since_start(since)
    runtime = runtime_for(load(config, secrets=False))
    name = profile or next(iter(runtime.scorers), None)
    if name not in runtime.scorers:
        fail(f"unknown profile {name!r}; known: {', '.join(runtime.scorers) or 'none'}")
    outcomes = run_backtest(runtime.engine, runtime.scorers[name], start, runtime.config.max_item_age)
    if as_json:
        typer.echo(json.dumps({"profile": name, "summary": summary(outcomes),
                               "items": [outcome_json(o) for o in outcomes]}, indent=1))
        return
    for o in outcomes:
        was = "" if o.stored_label == o.label else f"  (stored then: {o.stored_label or 'none'})"
        marker = f"ALERT #{o.incident}" if o.alert == "alert" else (
            f"UPDATE #{o.incident}" if o.alert else (f"joins #{o.incident}" if o.incident else
                                                     (f"({o.held})" if o.held else "")))
        typer.echo(f"{o.when:%Y-%m-%d %H:%M}  {o.label:<8} {o.score:.2f} {marker:<11} "
                   f"[{o.feed}] {o.title}{was}")
    counts = summary(outcomes)
    typer.echo(f"profile {name}, items fetched in the last {since}: {counts['matches']} matches, "
               f"{counts['alerts']} alerts for {counts['incidents']} incidents; {counts['held']} never "
               f"paged (a new feed's first poll, or dated outside max_item_age); "
               f"{counts['newly_incident']} newly incident, {counts['no_longer_incident']} no longer "
               f"incident. Nothing was sent or stored.")




@app.command("eval")
def eval_command(file: Annotated[Path, typer.Argument(help="Labelled JSON Lines file (.gz allowed)")],
                 profile: Annotated[Optional[str], typer.Option(help="Profile to measure")] = None,
                 as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["eval"])] = False,
                 show_errors: Annotated[int, typer.Option(help="Worst errors to list")] = 10,
                 config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Measure a profile against labelled items: precision, recall, F1, alerts, events."""
    name, scorer = next(iter(scorers_for(config, profile).items()))
    try:
        if sys.stderr.isatty() and not as_json:
            total = sum(1 for _ in read_labelled(file))
            with typer.progressbar(length=total, label="scoring", file=sys.stderr) as bar:
                result = evaluate(read_labelled(file), scorer, bar.update)
        else:
            result = evaluate(read_labelled(file), scorer)
    except InputError as exc:
        fail(str(exc))
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
                   as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP["replay"])] = False,
                   config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Replay a past period day by day through the poll path: the pages it would have sent."""
    from ..tools.replay import format_replay, replay_archive, replay_json
    profiles, directory = chosen_profiles(config, profile)
    try:
        if sys.stderr.isatty() and not as_json:
            total = sum(1 for _ in read_labelled(file, require_label=False))
            with typer.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
                result = replay_archive(file, profiles, directory, bar.update)
        else:
            result = replay_archive(file, profiles, directory)
    except MonitorError as exc:
        fail(str(exc))
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
    """Train the learned layer (needs scikit-learn) and save it beside the profile; progress goes
    to stderr, the report to stdout."""
    from ..tools.fit import counted, fit_model
    profiles, directory = profiles_for_scoring(config)
    name = profile or next(iter(profiles), None)
    if name not in profiles:
        fail(f"unknown profile {name!r}; known: {', '.join(sorted(profiles)) or 'none'}")
    try:
        items = list(counted(read_labelled(file), _to_stderr, "reading labelled items"))
    except InputError as exc:
        fail(str(exc))
    result = fit_model(items, profiles[name], folds=folds, progress=_to_stderr)
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


def _to_stderr(message: str) -> None:
    typer.echo(message, err=True)


@profile_app.command("learn")
def profile_learn(examples: Annotated[list[Path], typer.Argument(help="Example articles: text files "
                                                                 "(first line = title) or JSON Lines")],
                  background: Annotated[Optional[Path], typer.Option(
                      help="Word<TAB>count table or a corpus to count (default: shipped news table)")] = None,
                  name: Annotated[Optional[str], typer.Option(help="Profile name")] = None,
                  output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here")] = None
                  ) -> None:
    """Draft a profile from example articles, as a commented YAML file to edit."""
    from ..tools.draft import draft_profile, read_background, read_examples
    name = name or (output.stem if output else "draft")
    try:
        text = draft_profile(read_examples(examples),
                             read_background(background) if background else None, name)
    except InputError as exc:
        fail(str(exc))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}; check it with `monitor score --profile {name}` after moving it "
               f"into your profiles_dir", err=True)


