"""`monitor demo`: serve the packaged example feeds on 127.0.0.1, run one poll into a temporary
database with the packaged profiles, and show the alerts that would be sent and why."""

import functools
import http.server
import tempfile
import threading
from contextlib import contextmanager
from datetime import timedelta
from importlib import resources
from pathlib import Path

import yaml

from ..model import Score

PACKAGED_PROFILES = Path(str(resources.files("monitor") / "profiles"))
DEMO_FEEDS = Path(str(resources.files("monitor") / "demo" / "feeds"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (signature from the base class)
        pass


@contextmanager
def serve_directory(directory: Path):
    """A static HTTP server for `directory` on 127.0.0.1 (free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_demo_watchlist(directory: Path, base_url: str) -> Path:
    feeds = [{"name": path.stem, "url": f"{base_url}/{path.name}", "tags": ["demo"]}
             for path in sorted([*DEMO_FEEDS.glob("*.xml"), *DEMO_FEEDS.glob("*.json")])]
    watchlist = {"database": f"sqlite:///{directory / 'demo.db'}",
                 "profiles_dir": str(PACKAGED_PROFILES), "first_poll_alerts": True,
                 "max_item_age": "36500d",  # the example news is from January 2024
                 "fetch": {"full_text": "never"},  # the example links lead nowhere: no article pages
                 "feeds": feeds}
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(watchlist, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def demo_watchlist():
    """Yield the path of a watchlist whose feeds are served locally, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp, serve_directory(DEMO_FEEDS) as url:
        yield write_demo_watchlist(Path(tmp), url)


def report(runtime, outcomes) -> str:
    """What the demo prints: incidents and their alerts with reasons, related items, near misses."""
    from ..alerts.why import reason
    from ..store import utcnow
    from ..store.reports import items_without_match, list_incidents, list_matches, list_outbox

    since = utcnow() - timedelta(days=3650)
    matches = {(m.feed, m.title): m for m in list_matches(runtime.engine, since)}
    incidents = sorted(list_incidents(runtime.engine, since), key=lambda i: i.opened_at)
    alerts = list_outbox(runtime.engine)
    lines = [f"Polled {len(outcomes)} example feeds served on 127.0.0.1: "
             f"{sum(o.new_items for o in outcomes)} items, {len(matches)} matches, "
             f"{len(incidents)} incidents, {len(alerts)} alerts.", "",
             "INCIDENTS (one alert each; later reports of the same event join as sources. "
             "No channel is configured in the demo, so alerts would go to the log)"]
    for number, incident in enumerate(incidents, start=1):
        first, *others = incident.sources
        match = matches[(first.feed, first.title)]
        published = match.published.strftime("%Y-%m-%d %H:%M") if match.published else ""
        lines += [f"{number:>2}. {match.title}",
                  f"    {match.feed} | {published} UTC | score {match.score:.2f} | rule {match.rule}",
                  f"    why: {reason(runtime.config.profiles.get(match.profile), match.evidence, match.title)}",
                  f"    evidence: {_why(match.evidence)}", f"    {match.link}"]
        lines += [f"    + joined by: {other.title} ({other.feed})" for other in others]
    lines += ["", "RELATED (stored for review, no page)"]
    lines += [f"  {m.score:.2f}  {m.title}  [{m.rule}]" for m in matches.values() if m.label == "related"]
    lines += ["", "NEAR MISSES (matched terms, not alerted)"]
    scorer = next(iter(runtime.scorers.values()))
    weighted = {name for name, group in scorer.profile.groups.items() if group.weight > 0}
    for item in items_without_match(runtime.engine):
        verdict: Score = scorer.score(item.title, item.text)
        if len({h.group for h in verdict.hits} & weighted) >= 2:
            lines.append(f"  {item.title}\n      {_why(verdict.evidence())}")
    if alerts:
        lines += ["", "One alert as a channel receives it:", "-" * 72, alerts[0].title, "",
                  alerts[0].body.rstrip(), "-" * 72]
    return "\n".join(lines)


def _why(evidence: dict[str, list[str]]) -> str:
    return "; ".join(f"{group}: {', '.join(terms)}" for group, terms in evidence.items()) or "-"
