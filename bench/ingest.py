"""Ingest benchmark: how fast does `monitor poll` turn feed bytes into stored, classified items?

Generates N feeds x M items of realistic RSS 2.0 (ordinary news plus a few percent of
incident-like reports), serves them from a ThreadingHTTPServer on 127.0.0.1 in a thread, and in
one run measures

  (a) baseline   feedparser.parse(bytes) over the same bytes (already in memory) plus one regex
                 search over each entry's title + summary: the floor any feed pipeline pays;
  (b) pipeline   the `monitor poll` path in-process on a fresh SQLite database in a temp dir:
                 poll(runtime) + dispatch(...), i.e. HTTP fetch, parse, dedupe, classify, store,
                 outbox, then sending the alerts to the "log" channel;
  (c) steady     a second poll of the same feeds, every item already seen: first with the server
                 ignoring validators (always 200: parse + dedupe cost), then honouring
                 If-None-Match (304: what a well-behaved origin gives);
  (d) stages     parse_feed() alone and each profile's scorer alone on in-memory data, so the
                 rest of the pipeline's time (HTTP, database, alerts) can be read off by difference.

Items/s are wall-clock. Memory is the process's peak RSS (resource.ru_maxrss, a high-water mark
that only grows, printed after each phase); with --tracemalloc each phase also reports its
Python-heap peak (tracemalloc.get_traced_memory()[1] after reset_peak) -- tracing slows
everything down, so the items/s of such a run are not comparable.

    /tmp/venv/bin/python bench/ingest.py                      # defaults: 200 feeds x 50 items
    /tmp/venv/bin/python bench/ingest.py --feeds 50 --items 20
    /tmp/venv/bin/python bench/ingest.py --profile            # pipeline under pyinstrument/cProfile

Localhost only; nothing leaves the machine. Run from anywhere (the profile directory is found
relative to this file).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import logging
import os
import pstats
import random
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = ROOT / "config" / "profiles"
BASELINE_RE = re.compile(r"rocket|drone|missile|mortar", re.IGNORECASE)

# --------------------------------------------------------------------------------------------
# Synthetic news
# --------------------------------------------------------------------------------------------

CITIES = ["London", "Berlin", "Nairobi", "Jakarta", "Lima", "Toronto", "Madrid", "Seoul", "Cairo",
          "Sydney", "Warsaw", "Manila", "Lagos", "Dublin", "Osaka", "Denver", "Lisbon", "Hanoi",
          "Brussels", "Chicago", "Mumbai", "Geneva", "Athens", "Helsinki", "Bogota", "Phoenix"]
ACTORS = ["The central bank", "The health ministry", "Local officials", "The city council",
          "Opposition lawmakers", "A federal judge", "The transport authority", "Union leaders",
          "The prime minister", "Energy regulators", "School administrators", "Police",
          "The European Commission", "Shareholders", "Researchers", "The football association",
          "Climate scientists", "The finance minister", "Hospital staff", "Tech executives"]
VERBS = ["announced", "approved", "rejected", "delayed", "unveiled", "criticised", "defended",
         "proposed", "postponed", "welcomed", "questioned", "extended", "scrapped", "reviewed"]
OBJECTS = ["a new budget plan", "changes to the pension system", "a rail expansion project",
           "stricter emissions rules", "a merger between two regional banks",
           "an overhaul of school funding", "plans for a new stadium", "a minimum wage increase",
           "a tax break for small businesses", "a housing construction programme",
           "a ban on single-use plastics", "the latest inflation figures", "a vaccine campaign",
           "a cybersecurity strategy", "new rules for ride-hailing apps", "a water tariff hike",
           "a drought relief package", "a digital identity scheme", "the annual trade report"]
DETAILS = ["The decision follows months of debate and is expected to take effect next year.",
           "Critics said the measure did not go far enough, while supporters called it overdue.",
           "Officials declined to give a timetable but said consultations would begin soon.",
           "The announcement sent shares in the sector higher in early trading.",
           "Analysts said the move could cost several billion over the coming decade.",
           "Residents gathered outside the building as the vote took place on Tuesday.",
           "The plan still needs the approval of parliament before it can become law.",
           "A spokesperson said further details would be published later this week.",
           "Similar measures have been introduced in several neighbouring countries.",
           "Unions have threatened strikes if their concerns are not addressed.",
           "The report noted that growth had slowed for a third consecutive quarter.",
           "Mr. Smith told reporters the government remained committed to the target.",
           "Dr. Okafor, who led the study, said the results were encouraging but preliminary.",
           "Turnout was higher than in previous years, according to the electoral commission.",
           "The company said it would hire 2,000 workers at its new plant by 2027.",
           "Weather forecasters warned of heavy rain and possible flooding over the weekend.",
           "The match ended 2-1 after a late goal in stoppage time.",
           "Tickets for the festival sold out within hours of going on sale."]
# Near-misses: words the incident profile knows, in other contexts (negatives, other theatres).
DISTRACTOR_TITLES = [
    "SpaceX rocket launch delayed by high winds at Cape Canaveral",
    "Houston Rockets beat Lakers in overtime thriller",
    "Drone deliveries of medicines expand to rural clinics in {city}",
    "Missile defence budget debated in parliament",
    "Ukraine says it shot down drones over Kyiv overnight",
    "Police investigate drone sightings near {city} airport",
]
INCIDENT_TITLES = [
    "Rocket attack on US base in Syria, no casualties reported",
    "Drones target U.S. forces at Ain al-Asad air base in western Iraq",
    "Rockets fired at US embassy in Baghdad, security sources say",
    "Mortar attack hits coalition base near Erbil airport",
    "Iran-backed militia claims drone attack on US troops in eastern Syria",
    "US forces at al-Tanf garrison come under rocket fire",
    "Kataib Hezbollah blamed for missile attack on American base in Iraq",
]
INCIDENT_BODIES = [
    "Several rockets were fired at a base hosting US forces in {place} on {day}, officials said. "
    "No casualties were reported. The attack was claimed by a group calling itself the Islamic "
    "Resistance in Iraq, an umbrella for Iran-aligned militias.",
    "A one-way attack drone struck near US troops stationed at {place}, a US defense official "
    "said. The C-RAM defence system intercepted a second drone. Kata'ib Hizballah has been blamed "
    "for previous attacks on coalition forces.",
    "The U.S. military said its personnel at {place} came under attack by rockets and drones. "
    "Two service members suffered minor injuries. The Pentagon said it would respond at a time "
    "and place of its choosing.",
]
PLACES = ["Ain al-Asad air base", "Erbil air base", "the Conoco gas field", "al-Tanf garrison",
          "Harir air base", "Rumalyn landing zone", "Tower 22 in northeast Jordan"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
HTML_WRAPPERS = [
    '<p>{0}</p><p>{1}</p>',
    '<p><strong>{city}:</strong> {0} {1}</p><p><a href="https://news.example.com/related/{n}">'
    'Read more</a></p>',
    '<img src="https://cdn.example.com/img/{n}.jpg" alt="photo" width="600"/><p>{0}</p>'
    '<ul><li>{1}</li></ul>',
    '{0} {1}',
    '<div class="summary"><p>{0}</p><blockquote>{1}</blockquote>'
    '<script>trackView({n});</script></div>',
]


def _sentence(rng: random.Random) -> str:
    return (f"{rng.choice(ACTORS)} in {rng.choice(CITIES)} {rng.choice(VERBS)} "
            f"{rng.choice(OBJECTS)} on {rng.choice(DAYS)}.")


def make_item(rng: random.Random, feed: int, index: int, when: datetime,
              incident_rate: float) -> tuple[str, bool]:
    """One <item> element; returns (xml, is_incident)."""
    city = rng.choice(CITIES)
    roll = rng.random()
    incident = roll < incident_rate
    if incident:
        title = rng.choice(INCIDENT_TITLES)
        first = rng.choice(INCIDENT_BODIES).format(place=rng.choice(PLACES), day=rng.choice(DAYS))
        second = " ".join(rng.sample(DETAILS, 2))
    elif roll < incident_rate + 0.03:
        title = rng.choice(DISTRACTOR_TITLES).format(city=city)
        first, second = _sentence(rng), " ".join(rng.sample(DETAILS, 2))
    else:
        headline = f"{rng.choice(ACTORS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        title = headline if rng.random() < 0.7 else f"{city}: {headline}"
        first = " ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))
        second = " ".join(rng.sample(DETAILS, rng.randint(1, 3)))
    n = feed * 100_000 + index
    html = rng.choice(HTML_WRAPPERS).format(first, second, city=city, n=n)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    link = (f"https://news{feed:03d}.example.com/{when:%Y/%m/%d}/{slug}-{n}"
            + ("?utm_source=rss&utm_medium=feed" if index % 3 == 0 else ""))
    guid = hashlib.sha1(f"{feed}:{index}".encode()).hexdigest()
    category = rng.choice(["World", "Politics", "Business", "Science", "Sport", "Local"])
    xml = (f"    <item>\n"
           f"      <title>{escape(title)}</title>\n"
           f"      <link>{escape(link)}</link>\n"
           f"      <description><![CDATA[{html}]]></description>\n"
           f"      <category>{category}</category>\n"
           f"      <dc:creator>Staff Reporter</dc:creator>\n"
           f"      <guid isPermaLink=\"false\">{guid}</guid>\n"
           f"      <pubDate>{format_datetime(when)}</pubDate>\n"
           f"    </item>\n")
    return xml, incident


def make_feeds(n_feeds: int, n_items: int, incident_rate: float, seed: int
               ) -> tuple[dict[str, bytes], int]:
    """{name: rss bytes} and the number of incident-like items generated."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    feeds, incidents = {}, 0
    for f in range(n_feeds):
        name = f"f{f:03d}"
        parts = []
        for i in range(n_items):
            xml, incident = make_item(rng, f, i, now - timedelta(minutes=7 * i + f), incident_rate)
            parts.append(xml)
            incidents += incident
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
                '  <channel>\n'
                f'    <title>Example News {f:03d}</title>\n'
                f'    <link>https://news{f:03d}.example.com/</link>\n'
                '    <description>Latest headlines</description>\n'
                '    <language>en-gb</language>\n'
                f'    <lastBuildDate>{format_datetime(now)}</lastBuildDate>\n'
                + "".join(parts) +
                '  </channel>\n</rss>\n')
        feeds[name] = body.encode("utf-8")
    return feeds, incidents


# --------------------------------------------------------------------------------------------
# Local HTTP server
# --------------------------------------------------------------------------------------------

class FeedServer:
    """Serves {name}.xml from memory on 127.0.0.1:<free port>, in a daemon thread."""

    def __init__(self, feeds: dict[str, bytes]):
        self.feeds = feeds
        self.etags = {name: '"%s"' % hashlib.md5(body).hexdigest() for name, body in feeds.items()}
        self.honour_validators = False
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK
            # would stall every response ~40 ms and the benchmark would measure the server.
            disable_nagle_algorithm = True

            def do_GET(self):
                server.requests += 1
                name = self.path.lstrip("/").removesuffix(".xml")
                body = server.feeds.get(name)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = server.etags[name]
                if server.honour_validators and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            # socketserver's default listen backlog is 5: with 16 concurrent connects the kernel
            # drops SYNs and the client retransmits after 1 s -- a stall of the test server,
            # not of the code under test.
            request_queue_size = 256

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.xml"


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class Phase:
    """Times a block; records peak RSS after it, and the tracemalloc peak if tracing."""

    def __init__(self, name: str, items: int):
        self.name, self.items = name, items
        self.seconds = 0.0
        self.heap_peak: float | None = None
        self.rss: float = 0.0

    def __enter__(self):
        gc.collect()
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
            self._heap_start = tracemalloc.get_traced_memory()[0] / 2**20
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        if tracemalloc.is_tracing():
            self.heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
        self.rss = maxrss_mib()

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else float("inf")

    def line(self) -> str:
        heap = (f"  heap peak {self.heap_peak:6.1f} MiB (+{self.heap_peak - self._heap_start:.1f})"
                if self.heap_peak is not None else "")
        return (f"  {self.name:<38} {self.items:>7} items {self.seconds:8.2f} s "
                f"{self.rate:>9.0f} items/s   max RSS {self.rss:6.0f} MiB{heap}")


def run_baseline(feeds: dict[str, bytes]) -> tuple[int, int]:
    items = hits = 0
    for body in feeds.values():
        parsed = feedparser.parse(body)
        for entry in parsed.entries:
            items += 1
            if BASELINE_RE.search((entry.get("title") or "") + " " + (entry.get("summary") or "")):
                hits += 1
    return items, hits


def write_config(directory: Path, server: FeedServer, names: list[str], concurrency: int) -> Path:
    lines = [f"database: sqlite:///{directory / 'bench.db'}",
             f"profiles_dir: {PROFILES_DIR}",
             "first_poll_alerts: true",
             # The items link to example.com hosts: reading their article pages (full_text) would
             # ask DNS, off this machine, and wait on it; the baseline reads no page either.
             f"fetch: {{concurrency: {concurrency}, full_text: never}}",
             "feeds:"]
    lines += [f'  - {{name: {n}, url: "{server.url(n)}"}}' for n in names]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "watchlist.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_runtime(config_path: Path):
    from monitor.settings.config import load_config
    from monitor.pipeline import Runtime
    from monitor.store import open_database
    config = load_config(config_path)
    return Runtime(config, open_database(config.database))


def scorers_of(runtime) -> dict:
    """The per-profile scorers a Runtime holds (`scorers`; `classifiers` in older trees)."""
    return getattr(runtime, "scorers", None) or getattr(runtime, "classifiers", {})


def poll_and_dispatch(runtime):
    from monitor.alerts.deliver import dispatch
    from monitor.pipeline import poll
    outcomes = poll(runtime)
    counts = dispatch(runtime.config, runtime.engine, runtime.clock)
    return outcomes, counts


def summarise(outcomes, counts) -> str:
    errors = [o for o in outcomes if o.status == "error"]
    text = (f"{len(outcomes)} feeds ({len(errors)} errors, "
            f"{sum(o.status == 'not-modified' for o in outcomes)} not modified), "
            f"{sum(o.new_items for o in outcomes)} new items, "
            f"{sum(o.matches for o in outcomes)} matches, {sum(o.alerts for o in outcomes)} alerts; "
            f"dispatched {dict(counts) or 'nothing'}")
    if errors:
        text += f"; first error: {errors[0].feed_name}: {errors[0].error}"
    return text


# --------------------------------------------------------------------------------------------
# Profiling
# --------------------------------------------------------------------------------------------

def profile_pipeline(runtime, tool: str, top: int) -> None:
    if tool == "pyinstrument":
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        outcomes, counts = poll_and_dispatch(runtime)
        profiler.stop()
        print(f"  result: {summarise(outcomes, counts)}")
        print_pyinstrument_tables(profiler.last_session, top)
    else:
        profiler = cProfile.Profile()
        profiler.enable()
        outcomes, counts = poll_and_dispatch(runtime)
        profiler.disable()
        print(f"  result: {summarise(outcomes, counts)}")
        for key, label in (("cumulative", "cumulative"), ("tottime", "own")):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key)
            stats.print_stats(top)
            body = out.getvalue()
            start = body.find("   ncalls")
            print(f"\n  top {top} functions by {label} time (cProfile):")
            print(body[start:].rstrip())


def print_pyinstrument_tables(session, top: int) -> None:
    """Aggregate pyinstrument's call tree into per-function own and cumulative time."""
    own: dict[tuple, float] = {}
    cumulative: dict[tuple, float] = {}

    def short(path: str | None) -> str:
        if not path:
            return "?"
        if "site-packages/" in path:
            return path.split("site-packages/", 1)[1]
        stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
        if stdlib:
            return stdlib[1]
        try:
            return str(Path(path).resolve().relative_to(ROOT))
        except ValueError:
            return path

    def walk(frame, on_stack: frozenset):
        if frame.is_synthetic:  # "[self]", "[await]" ...: already in the parent's total_self_time
            return
        key = (frame.function, short(frame.file_path), frame.line_no)
        own[key] = own.get(key, 0.0) + frame.total_self_time
        if key not in on_stack:  # recursion counts once
            cumulative[key] = cumulative.get(key, 0.0) + frame.time
        for child in frame.children:
            walk(child, on_stack | {key})

    root = session.root_frame()
    total = root.time if root else 0.0
    if root:
        walk(root, frozenset())
    print(f"  (pyinstrument, sampled every 0.5 ms, main thread; total {total:.2f} s)")
    for table, label in ((cumulative, "cumulative"), (own, "own")):
        print(f"\n  top {top} functions by {label} time:")
        print(f"  {'seconds':>8} {'%':>6}  function")
        for (function, path, line), seconds in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {seconds:8.3f} {100 * seconds / total:5.1f}%  {function}  ({path}:{line})")


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200, help="number of feeds (default 200)")
    parser.add_argument("--items", type=int, default=50, help="items per feed (default 50)")
    parser.add_argument("--incident-rate", type=float, default=0.03,
                        help="share of incident-like items (default 0.03)")
    parser.add_argument("--concurrency", type=int, default=16, help="fetch.concurrency (default 16)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-steady", action="store_true", help="skip the second poll (c)")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage breakdown (d)")
    parser.add_argument("--profile", action="store_true",
                        help="also run the pipeline (fresh database) under a profiler")
    parser.add_argument("--profiler", choices=("auto", "pyinstrument", "cprofile"), default="auto",
                        help="auto = pyinstrument if installed, else cProfile")
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace Python allocations for per-phase heap peaks (slows everything)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, config)")
    args = parser.parse_args(argv)

    # The pipeline's INFO lines and dispatch's per-alert WARNING go to a sink: they are still
    # formatted (as in production), but the terminal is not the bottleneck.
    sink = logging.StreamHandler(open(os.devnull, "w"))
    sink.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[sink], force=True)

    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    feeds, incidents = make_feeds(args.feeds, args.items, args.incident_rate, args.seed)
    total_items = args.feeds * args.items
    size = sum(map(len, feeds.values()))
    print(f"ingest benchmark  {datetime.now():%Y-%m-%d %H:%M}  python {sys.version.split()[0]}  "
          f"feedparser {feedparser.__version__}  cpus {os.cpu_count()}")
    print(f"generated {args.feeds} feeds x {args.items} items = {total_items} items, "
          f"{size / 2**20:.1f} MiB of RSS, {incidents} incident-like "
          f"({time.perf_counter() - t0:.1f} s)\n")

    phases: dict[str, Phase] = {}
    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    with FeedServer(feeds) as server:
        # (a) baseline
        with Phase("(a) baseline: feedparser + regex", total_items) as phase:
            items, hits = run_baseline(feeds)
        phases["a"] = phase
        assert items == total_items, (items, total_items)
        print(phase.line())
        print(f"      regex hits: {hits}")

        # (b) full pipeline
        config_path = write_config(tmp / "run", server, list(feeds), args.concurrency)
        setup = time.perf_counter()
        runtime = build_runtime(config_path)
        setup = time.perf_counter() - setup
        before = server.requests
        with Phase("(b) pipeline: poll + dispatch", total_items) as phase:
            poll_started = time.perf_counter()
            from monitor.alerts.deliver import dispatch
            from monitor.pipeline import poll
            outcomes = poll(runtime)
            poll_seconds = time.perf_counter() - poll_started
            counts = dispatch(runtime.config, runtime.engine, runtime.clock)
        phases["b"] = phase
        print(phase.line())
        print(f"      poll {poll_seconds:.2f} s + dispatch {phase.seconds - poll_seconds:.2f} s; "
              f"setup (config, profiles, migrations) {setup:.2f} s, not counted")
        print(f"      {summarise(outcomes, counts)}; {server.requests - before} HTTP requests")

        # (c) steady state
        if not args.no_steady:
            with Phase("(c1) second poll, always 200 (all seen)", total_items) as phase:
                outcomes, counts = poll_and_dispatch(runtime)
            phases["c1"] = phase
            print(phase.line())
            print(f"      {summarise(outcomes, counts)}")
            server.honour_validators = True
            with Phase("(c2) third poll, 304 Not Modified", total_items) as phase:
                outcomes, counts = poll_and_dispatch(runtime)
            phases["c2"] = phase
            server.honour_validators = False
            print(phase.line())
            print(f"      {summarise(outcomes, counts)}")
        runtime.engine.dispose()

        # (a) again: the machine's speed drifts (shared 2-core box); the ratio uses the mean.
        with Phase("(a') baseline again", total_items) as phase:
            run_baseline(feeds)
        phases["a2"] = phase
        print(phase.line())

        # (d) stage breakdown on in-memory data
        if not args.no_stages:
            from monitor.ingest.parse import parse_feed
            with Phase("(d1) parse_feed only (feedparser+norm.)", total_items) as phase:
                parsed = [item for name, body in feeds.items()
                          for item in parse_feed(body, name, server.url(name),
                                                 "application/rss+xml; charset=utf-8")]
            phases["d1"] = phase
            print(phase.line())
            with Phase("(d2) classify only (all scorers)", len(parsed)) as phase:
                labels: dict[str, int] = {}
                for item in parsed:
                    for classifier in scorers_of(runtime).values():
                        label = classifier.score(item.title, item.text).label
                        labels[label] = labels.get(label, 0) + 1
            phases["d2"] = phase
            print(phase.line())
            print(f"      labels: {labels}")

        rss_before_profile = maxrss_mib()
        if args.profile:
            tool = args.profiler
            if tool == "auto":
                try:
                    import pyinstrument  # noqa: F401
                    tool = "pyinstrument"
                except ImportError:
                    tool = "cprofile"
            print(f"\nprofile of (b) on a fresh database, {tool} (times inflated by the profiler):")
            runtime = build_runtime(write_config(tmp / "profile", server, list(feeds),
                                                 args.concurrency))
            profile_pipeline(runtime, tool, args.top)
            runtime.engine.dispose()

    a, b = phases["a"], phases["b"]
    baseline = (a.rate + phases["a2"].rate) / 2
    ratio = b.rate / baseline
    print("\nsummary")
    print(f"  baseline  {baseline:9.0f} items/s  (mean of {a.rate:.0f} before and "
          f"{phases['a2'].rate:.0f} after the pipeline)")
    print(f"  pipeline  {b.rate:9.0f} items/s  (end to end: HTTP, parse, dedupe, classify, store, "
          f"dispatch)")
    print(f"  ratio pipeline/baseline = {ratio:.2f}  (target >= 0.5: "
          f"{'met' if ratio >= 0.5 else 'NOT met'})"
          + ("  [tracemalloc on: rates and ratio not representative]" if args.tracemalloc else ""))
    if "c1" in phases:
        print(f"  steady state: {phases['c1'].rate:.0f} items/s re-parsed and deduped (200), "
              f"{phases['c2'].rate:.0f} items/s when the origin answers 304")
    if "d1" in phases:
        d1, d2 = phases["d1"], phases["d2"]
        rest = b.seconds - d1.seconds - d2.seconds
        print(f"  of the pipeline's {b.seconds:.2f} s: parse_feed ~{d1.seconds:.2f} s, "
              f"classify ~{d2.seconds:.2f} s, rest (HTTP, database, alerts, asyncio) "
              f"~{rest:.2f} s  [stage times measured separately]")
    print(f"  peak memory: max RSS of the process {rss_before_profile:.0f} MiB (resource.ru_maxrss, "
          f"high-water mark incl. the {size / 2**20:.1f} MiB of feeds held for the server"
          + (f"; {maxrss_mib():.0f} MiB with the profiler" if args.profile else "") + ")"
          + ("; per-phase Python heap peaks above (tracemalloc)" if args.tracemalloc else ""))
    if args.keep:
        print(f"  temp dir kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
