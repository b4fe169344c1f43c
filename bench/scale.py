"""Scale benchmark: N feeds through `monitor poll` and `monitor run`, against a plain fetch.

A feed server (one asyncio process on 127.0.0.1, pre-rendered RSS bytes, ETag / If-None-Match ->
304) serves N feeds of ~33 items, a few per cent of them attack reports the shipped profile
classes as `incident`; a json:// receiver (a thread of this process) records every page with
its arrival time. For each database (a fresh SQLite file; with --database also PostgreSQL) it
measures, each monitor pass in a child process of its own so that its CPU time and peak RSS are
the monitor's alone:

  (1) first poll      `monitor poll`'s path (poll + dispatch) over N feeds, every item new
  (2) all 304         the same again, every feed answering 304 Not Modified
  (3) 10% changed     a tenth of the feeds bring 3 new items each; the rest answer 304
  (4) dedupe          the store's dedupe lookups for 500 feeds, the items table filled to --stored
                      rows: every entry looked up, and as a poll does (only the entries the
                      feed's last poll did not serve); each a feed a statement (an idle poll)
                      and --lookup-batch feeds a statement (a busy one: store.seen_in_feeds)
  (5) latency         `monitor run`: from the moment a feed falls due (its next_due_at) with a new
                      attack report to the moment the json:// receiver gets the page; p50/p95
  (6) workers         (PostgreSQL, --workers K) K `monitor run` processes on one database: all
                      feeds due at once with new items; feeds polled twice, pages sent twice,
                      feeds/s per worker count

Baseline, for (1)-(3): a bare aiohttp client (the monitor's; --baseline-client httpx for the one
it used before) fetching the same feeds with the same concurrency
(and the same If-None-Match for (2) and (3)), bodies discarded, in a child process too. The
monitor's pass is given as ratios against it (of wall time and of CPU time).

    .venv/bin/python bench/scale.py                          # 300 feeds, SQLite, about a minute
    .venv/bin/python bench/scale.py --database postgresql+psycopg://postgres@127.0.0.1:5432/scalebench --workers 3
    .venv/bin/python bench/scale.py --feeds 5000 --stored 500000

--database names a PostgreSQL database the benchmark may wipe (DROP SCHEMA public CASCADE).
Localhost only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import aiohttp
import httpx
import yaml
from sqlalchemy import bindparam, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.alerts.deliver import dispatch  # noqa: E402
from monitor.ingest.parse import parse_feed  # noqa: E402
from monitor.pipeline import Runtime, poll  # noqa: E402
from monitor.settings.config import FetchConfig, load_config, parse_duration  # noqa: E402
from monitor.store import Feed, ItemRow, open_database  # noqa: E402
from monitor.store.database import read_scope  # noqa: E402
from monitor.store.feeds import claim_feeds, release_feeds  # noqa: E402
from monitor.store.items import SeenQuery, seen_in_feeds  # noqa: E402

PROFILES_DIR = ROOT / "monitor" / "profiles"
PROFILE = "iraq-syria-militia-attacks"
INCIDENT_SPACING = timedelta(hours=80)  # > the profile's 72 h window: each attack report opens its own incident
MAX_ITEM_AGE = "36500d"  # those reports are dated up to years back; they must still page

# --------------------------------------------------------------------------------------------
# Synthetic news
# --------------------------------------------------------------------------------------------

DESKS = ["world", "politics", "business", "science", "sport", "culture", "local", "health"]
SUBJECTS = ["The city council", "Regional health officials", "The national rail operator",
            "A parliamentary committee", "The country's largest bank", "Teachers' unions",
            "The environment agency", "A group of pension funds", "The competition regulator",
            "Farmers' associations", "The state broadcaster", "A coalition of tech firms",
            "The supreme court", "Port authorities", "The statistics office", "Museum directors"]
ACTIONS = ["backed", "voted down", "put on hold", "signed off", "took a first look at",
           "called for changes to", "published its response to", "raised concerns about",
           "set a deadline for", "began hearings on", "cut funding for", "expanded"]
TOPICS = ["the airport expansion", "a four-day working week trial", "new bus lanes downtown",
          "the river clean-up plan", "a cap on rents", "the merger of two grocery chains",
          "school meal subsidies", "a national broadband target", "the heatwave response plan",
          "fishing quotas for next season", "a tax on sugary drinks", "the hospital waiting lists",
          "offshore wind licences", "a ban on phones in classrooms", "the new stadium lease"]
CITIES = ["Porto", "Leeds", "Gdansk", "Accra", "Recife", "Hobart", "Tampere", "Graz", "Kochi",
          "Valencia", "Winnipeg", "Cork", "Malmo", "Tucson", "Da Nang", "Arequipa"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FILLERS = ["Officials said the figures would be reviewed again in the spring.",
           "The proposal drew a mixed reaction from residents at a public meeting.",
           "Opposition members said the timetable was too ambitious.",
           "A final decision is expected before the end of the month.",
           "The measure was first floated during last year's budget talks.",
           "Economists cautioned that the effect on prices would take time to show.",
           "Campaigners welcomed the step but said more money was needed.",
           "The plan follows a consultation that drew more than 4,000 responses.",
           "Shares in the companies involved were little changed in afternoon trading.",
           "Local businesses said they had not been told of the change in advance.",
           "The ministry said the scheme would be reviewed after twelve months.",
           "Heavy rain is forecast for much of the region later in the week."]
NEAR_MISSES = ["Rocket Lab schedules next satellite launch from New Zealand",
               "Houston Rockets rally late to beat the Spurs",
               "Drone light show replaces fireworks at {city} festival",
               "Police use drones to search for missing hikers near {city}",
               "Missile museum reopens after two-year renovation"]
# Attack reports written for the shipped profile: a weapon or attack, a US or coalition target,
# a named base and a day in the first sentence (checked: every combination scores `incident`).
BASES = [("Ain al-Asad air base", "western Iraq"), ("Erbil air base", "northern Iraq"),
         ("Harir air base", "Iraq's Kurdistan region"), ("the al-Tanf garrison", "southeastern Syria"),
         ("the Conoco gas field", "eastern Syria"), ("the Rumalyn landing zone", "northeastern Syria"),
         ("Camp Taji", "north of Baghdad"), ("the Shaddadi base", "Hasakah province, Syria")]
WEAPONS = ["rockets", "drones", "mortar rounds", "a one-way attack drone"]
ATTACK_TITLES = ["Rocket attack targets US forces at {base}",
                 "Drones hit base hosting American troops at {base}",
                 "US troops at {base} come under attack, officials say",
                 "Militia drone attack on coalition forces at {base}",
                 "Base housing US personnel at {base} targeted in attack"]
ATTACK_BODIES = ["Militants fired {weapon} at US forces at {base} in {region} on {day}, a US "
                 "defense official said. There were no immediate reports of casualties.",
                 "US and coalition troops at {base} in {region} were attacked with {weapon} on {day}, "
                 "the coalition said. Damage to the base was being assessed.",
                 "An Iran-backed militia launched {weapon} at American forces stationed at {base} in "
                 "{region} on {day}, two officials said. The attack caused minor damage."]


class Catalogue:
    """The items of one feed, newest first, as RSS <item> elements; `next` numbers new ones."""

    def __init__(self, feed: int):
        self.feed, self.next = feed, 0

    def item(self, rng: random.Random, published: datetime, attack: bool = False) -> tuple[str, str]:
        """(xml, link) of a new item: an attack report if `attack`, else ordinary or near-miss news."""
        serial, self.next = self.next, self.next + 1
        if attack:
            base, region = rng.choice(BASES)
            title = rng.choice(ATTACK_TITLES).format(base=base)
            # the day named is the day it was published: an earlier one would make it a follow-up
            text = rng.choice(ATTACK_BODIES).format(weapon=rng.choice(WEAPONS), base=base, region=region,
                                                    day=WEEKDAYS[published.weekday()])
            text += " " + rng.choice(FILLERS)
        elif rng.random() < 0.02:
            title = rng.choice(NEAR_MISSES).format(city=rng.choice(CITIES))
            text = " ".join(rng.sample(FILLERS, 3))
        else:
            title = f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(TOPICS)}"
            text = (f"{rng.choice(SUBJECTS)} in {rng.choice(CITIES)} {rng.choice(ACTIONS)} "
                    f"{rng.choice(TOPICS)} on {rng.choice(WEEKDAYS)}. " + " ".join(rng.sample(FILLERS, 2)))
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50]
        link = f"https://news{self.feed}.example.org/{rng.choice(DESKS)}/{slug}-{serial}"
        xml = (f"<item><title>{escape(title)}</title><link>{link}</link>"
               f"<description><![CDATA[<p>{text}</p>]]></description>"
               f"<guid isPermaLink=\"false\">urn:scale:{self.feed}:{serial}</guid>"
               f"<pubDate>{format_datetime(published)}</pubDate></item>\n")
        return xml, link


def initial_items(feed: int, count: int, incident_rate: float, seed: int, now: datetime) -> list[str]:
    """A feed's first `count` items, newest first (deterministic per feed and seed)."""
    rng, catalogue = random.Random(seed * 1_000_003 + feed), Catalogue(feed)
    return [catalogue.item(rng, now - timedelta(minutes=17 * n + feed % 60), rng.random() < incident_rate)[0]
            for n in range(count)]


def rss(feed: int, items: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>Scale News {feed}</title><link>https://news{feed}.example.org/</link>"
            "<description>Latest stories</description>\n" + "".join(items) +
            "</channel></rss>\n").encode()


# --------------------------------------------------------------------------------------------
# Feed server: a process of its own, told what to publish over a pipe
# --------------------------------------------------------------------------------------------

class FeedStore:
    """Every feed's items and its pre-rendered body and ETag; a log of the requests served."""

    def __init__(self, feeds: int, per_feed: int, incident_rate: float, seed: int):
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self.per_feed = per_feed
        self.items = [initial_items(f, per_feed, incident_rate, seed, now) for f in range(feeds)]
        self.bodies: list[bytes] = [b""] * feeds
        self.etags: list[str] = [""] * feeds
        for feed in range(feeds):
            self.render(feed)
        self.reset()

    def render(self, feed: int) -> None:
        self.bodies[feed] = rss(feed, self.items[feed])
        self.etags[feed] = '"%s"' % hashlib.blake2b(self.bodies[feed], digest_size=12).hexdigest()

    def publish(self, new: dict[int, list[str]]) -> None:
        for feed, items in new.items():
            self.items[feed][:0] = items
            del self.items[feed][self.per_feed:]
            self.render(feed)

    def reset(self) -> None:
        self.served: Counter = Counter()  # (feed, status, user agent) -> requests
        self.first_at = self.last_at = None

    def answer(self, path: str, if_none_match: str | None, agent: str) -> tuple[int, bytes, bytes]:
        """(status, head, body) for GET path."""
        match = re.fullmatch(r"/feed/(\d+)\.xml", path)
        feed = int(match[1]) if match else -1
        if not 0 <= feed < len(self.bodies):
            return 404, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", b""
        now = time.time()
        self.first_at = self.first_at or now
        self.last_at = now
        etag = self.etags[feed]
        if if_none_match == etag:
            self.served[feed, 304, agent] += 1
            return 304, f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode(), b""
        self.served[feed, 200, agent] += 1
        body = self.bodies[feed]
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nETag: {etag}\r\n\r\n").encode()
        return 200, head, body


async def _serve_connection(store: FeedStore, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 GETs with keep-alive; just enough for aiohttp and httpx."""
    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = dict((name.strip().lower(), value.strip()) for name, _, value in
                           (line.partition(":") for line in head[1:] if line))
            if method != "GET":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            else:
                _, response_head, body = store.answer(path, headers.get("if-none-match"),
                                                      headers.get("user-agent", ""))
                writer.write(response_head)
                if body:
                    writer.write(body)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_main(connection, feeds: int, per_feed: int, incident_rate: float, seed: int) -> None:
    """The feed server process: builds the feeds, serves them, obeys commands on `connection`."""
    store = FeedStore(feeds, per_feed, incident_rate, seed)

    async def main():
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: _serve_connection(store, r, w),
                                            "127.0.0.1", 0, backlog=4096)
        stopped = loop.create_future()

        def command():
            name, argument = connection.recv()
            if name == "publish":
                store.publish(argument)
                connection.send(True)
            elif name == "etags":
                connection.send(list(store.etags))
            elif name == "bodies":
                connection.send({feed: store.bodies[feed] for feed in argument})
            elif name == "served":
                connection.send(dict(served=dict(store.served), first_at=store.first_at,
                                     last_at=store.last_at, cpu=cpu_seconds()))
                if argument:
                    store.reset()
            elif name == "stop":
                connection.send(True)
                stopped.set_result(None)

        loop.add_reader(connection.fileno(), command)
        connection.send(("ready", server.sockets[0].getsockname()[1],
                         sum(map(len, store.bodies)), sum(b.count(b"<item>") for b in store.bodies)))
        await stopped
        server.close()

    asyncio.run(main())


class FeedServer:
    """The parent's handle on the feed server process."""

    def __init__(self, feeds: int, per_feed: int, incident_rate: float, seed: int):
        context = multiprocessing.get_context("spawn")
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=server_main, daemon=True,
                                       args=(theirs, feeds, per_feed, incident_rate, seed))
        self.process.start()
        _, self.port, self.size, self.items = self.connection.recv()

    def ask(self, name: str, argument=None):
        self.connection.send((name, argument))
        return self.connection.recv()

    def url(self, feed: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{feed}.xml"

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(10)


# --------------------------------------------------------------------------------------------
# json:// receiver (apprise's JSON POSTs), in a thread of this process
# --------------------------------------------------------------------------------------------

class Receiver:
    """Records (arrival time, link) of every page POSTed to it."""

    def __init__(self):
        self.pages: list[tuple[float, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                arrived = time.time()
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                link = re.search(r"^Link:\s+(\S+)", payload.get("message", ""), re.MULTILINE)
                receiver.pages.append((arrived, link[1] if link else payload.get("title", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def arrivals(self) -> dict[str, list[float]]:
        by_link: dict[str, list[float]] = {}
        for arrived, link in list(self.pages):
            by_link.setdefault(link, []).append(arrived)
        return by_link

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------------------------
# Child processes: one measured pass each (the setup before it is not counted)
# --------------------------------------------------------------------------------------------

def child_main(spec: dict) -> dict:
    logging.basicConfig(level=logging.INFO, filename=spec["log"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return {"poll": child_poll, "fetch": child_fetch, "seen": child_seen}[spec["kind"]](spec)


def measured(function):
    """Run `function()`; its result with wall and CPU seconds and the process's peak RSS."""
    started, cpu = time.perf_counter(), cpu_seconds()
    result = function()
    return dict(result, wall=time.perf_counter() - started, cpu=cpu_seconds() - cpu,
                rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child_poll(spec: dict) -> dict:
    """What `monitor poll` does: poll every feed, then send the pending alerts."""
    config = load_config(Path(spec["config"]))
    runtime = Runtime(config, open_database(config.database))
    batches, lookups = LookupBatches(), logging.getLogger("monitor.store.lookups")
    lookups.addHandler(batches)
    lookups.setLevel(logging.DEBUG)
    lookups.propagate = False

    def run():
        outcomes = poll(runtime)
        polled, polled_cpu = time.perf_counter(), cpu_seconds()
        sent = dispatch(config, runtime.engine, runtime.clock)
        errors = [o for o in outcomes if o.status == "error"]
        return dict(dispatch=time.perf_counter() - polled, dispatch_cpu=cpu_seconds() - polled_cpu,
                    feeds=len(outcomes), errors=len(errors),
                    first_error=errors[0].error if errors else None,
                    not_modified=sum(o.status == "not-modified" for o in outcomes),
                    new_items=sum(o.new_items for o in outcomes), matches=sum(o.matches for o in outcomes),
                    alerts=sum(o.alerts for o in outcomes), sent=sent, lookup_batches=batches.sizes)

    return measured(run)


class LookupBatches(logging.Handler):
    """The sizes of a poll's dedupe lookups (feeds per statement), from its debug log."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sizes: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("looked up %d feeds"):
            self.sizes.append(record.args[0])


def _batches(sizes: list[int]) -> str:
    if not sizes:
        return "no dedupe lookup"
    return (f"{sum(sizes)} feeds looked up in {len(sizes)} statements (feeds per statement: median "
            f"{statistics.median(sizes):g}, max {max(sizes)})")


def child_fetch(spec: dict) -> dict:
    """The baseline: GET every feed with a bare client of the library the monitor fetches with
    (aiohttp; --baseline-client httpx for the one it used before), If-None-Match where given, the
    same concurrency and headers, bodies read and discarded."""
    etags = spec.get("etags") or {}
    headers = {"User-Agent": "scalebench-baseline", "Accept-Encoding": "gzip, deflate"}

    async def with_aiohttp(limit):
        async with aiohttp.ClientSession(headers=headers, auto_decompress=False) as client:
            async def one(url, etag):
                async with limit, client.get(url, headers={"If-None-Match": etag} if etag else None) as response:
                    return response.status, len(await response.read())
            return await asyncio.gather(*(one(url, etags.get(url)) for url in spec["urls"]))

    async def with_httpx(limit):
        async with httpx.AsyncClient(timeout=30, trust_env=False, headers=headers) as client:
            async def one(url, etag):
                async with limit:
                    response = await client.get(url, headers={"If-None-Match": etag} if etag else None)
                    return response.status_code, len(response.content)
            return await asyncio.gather(*(one(url, etags.get(url)) for url in spec["urls"]))

    async def fetch_all():
        fetch = with_httpx if spec.get("client") == "httpx" else with_aiohttp
        return await fetch(asyncio.Semaphore(spec["concurrency"]))

    def run():
        answers = asyncio.run(fetch_all())
        return dict(statuses=dict(Counter(status for status, _ in answers)),
                    bytes=sum(size for _, size in answers))

    return measured(run)


def child_seen(spec: dict) -> dict:
    """The store's dedupe lookups for each feed's current items, spec["batch"] feeds a statement
    as a poll looks up the feeds waiting together for its worker (1: an idle worker, each feed
    as it answers): with spec["every_entry"], every entry is looked up (a feed whose entries are
    all new to it, or whose row has no digests of its last poll); else as a poll does: the feeds
    are claimed (one statement, which also reads what each feed's last poll served) and only the
    entries that poll did not serve are looked up. The claim is timed; fetching and parsing are
    not."""
    engine = open_database(spec["database"], migrate=False)
    with engine.connect() as connection:
        ids = dict(connection.execute(select(Feed.name, Feed.id)).all())
    with httpx.Client(trust_env=False) as client:
        feeds = [(name, ids[name], parse_feed(client.get(url).content, name, url, "application/rss+xml"))
                 for name, url in spec["feeds"]]
    batch = spec["batch"]

    def look_up(queries: list[SeenQuery]) -> list:
        return [seen for start in range(0, len(queries), batch)
                for seen in seen_in_feeds(engine, queries[start:start + batch])]

    look_up([SeenQuery(feeds[0][1], feeds[0][2], served="")])  # a poll's connections are open already

    def run():
        if spec.get("round_trip_only"):  # the floor under a lone feed's lookup: a statement's round trip
            for _ in feeds:
                with read_scope(engine) as connection:
                    connection.exec_driver_sql("SELECT 1").all()
            return dict(feeds=len(feeds), items=0, seen=0)
        if spec.get("every_entry"):
            seen = look_up([SeenQuery(feed_id, items, served="") for _, feed_id, items in feeds])
        else:
            claims = {c.state.name: c for c in claim_feeds(engine, [name for name, _, _ in feeds],
                                                           datetime.now(timezone.utc), due_only=False,
                                                           worker="scalebench-dedupe")}
            seen = look_up([SeenQuery(feed_id, items, claims[name].first_poll, claims[name].served)
                            for name, feed_id, items in feeds])
        return dict(feeds=len(feeds), items=sum(len(items) for _, _, items in feeds),
                    seen=sum(len(s.keys) for s in seen))

    result = measured(run)
    release_feeds(engine, "scalebench-dedupe")
    return result


def run_child(spec: dict) -> dict:
    """Run one measured pass in a fresh interpreter; its result (dict) or an error."""
    process = subprocess.run([sys.executable, __file__, "--child"], input=json.dumps(spec), cwd=ROOT,
                             env=_environment(), capture_output=True, text=True)
    last = process.stdout.strip().splitlines()[-1:] or [""]
    if process.returncode != 0 or not last[0].startswith("RESULT "):
        raise RuntimeError(f"child {spec['kind']} failed (exit {process.returncode}): "
                           f"{process.stderr.strip()[-2000:]}")
    return json.loads(last[0].removeprefix("RESULT "))


def _environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("MONITOR_DATABASE_URL", "MONITOR_CONFIG")}


# --------------------------------------------------------------------------------------------
# Daemons: `monitor run` processes
# --------------------------------------------------------------------------------------------

class Daemon:
    """One `monitor run` process, logging to a file."""

    def __init__(self, config: Path, log: Path):
        self.log, self.peak = log, None
        self.output = open(log, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                        cwd=ROOT, env=_environment(), stdout=self.output,
                                        stderr=subprocess.STDOUT)

    def started(self) -> bool:
        """Whether it has logged its start; an error if it has exited."""
        if self._reap(os.WNOHANG):
            raise RuntimeError(f"monitor run exited with {self.process.returncode}: "
                               f"{self.log.read_text()[-2000:]}")
        return "starting:" in self.log.read_text()

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> float:
        """SIGTERM and wait; the peak RSS (MB) of the whole process life."""
        if self.peak is None:
            self.process.send_signal(signal.SIGTERM)
            self._reap(0)
        return self.peak

    def _reap(self, options: int) -> bool:
        """Collect the exit status and peak RSS if it has ended (os.wait4; Popen would lose the rusage)."""
        pid, status, usage = os.wait4(self.process.pid, options)
        if pid:
            self.process.returncode = os.waitstatus_to_exitcode(status)
            self.peak = usage.ru_maxrss / 1024
            self.output.close()
        return bool(pid)


@contextmanager
def running_daemons(configs: list[Path], folder: Path, label: str) -> Iterator[list[Daemon]]:
    """`monitor run` once per watchlist, started (their start-up logged); stopped at the end
    whatever happens."""
    daemons = []
    try:
        for n, config in enumerate(configs):
            daemons.append(Daemon(config, folder / f"{label}-{n}.log"))
        wait_until(lambda: all(d.started() for d in daemons), 120, "the daemons to start")
        yield daemons
    finally:
        for daemon in daemons:
            daemon.stop()


def wait_until(condition, seconds: float, what: str, every: float = 0.1) -> float:
    """Poll `condition` until true; the time it became true (or raise after `seconds`)."""
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {seconds:.0f}s")
        time.sleep(every)
    return time.time()


# --------------------------------------------------------------------------------------------
# One database: the watchlist, the data and the phases
# --------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, options, kind: str, url: str, folder: Path):
        self.options, self.kind, self.url, self.folder = options, kind, url, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(options.seed)
        self.rows: list[tuple[str, dict]] = []
        self.expected: dict[str, str] = {}  # link of every attack report published since the first poll -> phase
        self.attacks = 0  # attack reports published so far (each dated INCIDENT_SPACING further back)
        self.server = FeedServer(options.feeds, options.items, options.incident_rate, options.seed)
        self.receiver = Receiver()
        self.catalogues = {}
        self.engine = open_fresh(url)
        self.config = self.watchlist(self.folder / "monitor.yaml")
        print(f"\n== {kind} ({public_url(url)}) ==  feed server: {options.feeds} feeds, "
              f"{self.server.items} items, {self.server.size / 2**20:.1f} MiB of RSS", flush=True)

    def watchlist(self, path: Path, agent: str | None = None) -> Path:
        options = self.options
        fetch = {"interval": options.interval}
        if options.concurrency:
            fetch["concurrency"] = options.concurrency
        if agent:
            fetch["user_agent"] = agent
        if "full_text" in FetchConfig.model_fields:
            # The items link to example.org hosts: reading their article pages would ask DNS
            # (off this machine) and measure nothing of ours.
            fetch["full_text"] = "never"
        watchlist = {
            "database": self.url, "profiles_dir": str(PROFILES_DIR), "max_item_age": MAX_ITEM_AGE,
            "tick": options.tick, "fetch": fetch, "dispatch": {"interval": options.dispatch_interval},
            "web": None, "ops": {"watch_config": False},
            "feeds": [{"name": f"f{n}", "url": self.server.url(n)} for n in range(options.feeds)],
            "channels": [{"name": "hook", "url": f"json://127.0.0.1:{self.receiver.port}/alerts"}],
            "routes": [{"profile": PROFILE, "min_class": "incident", "channels": ["hook"]}]}
        path.write_text(yaml.safe_dump(watchlist, sort_keys=False))
        return path

    def child(self, kind: str, **spec) -> dict:
        return run_child(dict(spec, kind=kind, log=str(self.folder / f"{kind}.log")))

    def add(self, name: str, **figures) -> None:
        self.rows.append((name, figures))
        print(format_row(name, figures), flush=True)

    # ---- publishing ---------------------------------------------------------------------

    def publish(self, feeds: list[int], count: int, phase: str, attack_rate: float = 0.0,
                attacks: int = 0) -> list[str]:
        """Put `count` new items at the top of each feed: the first `attacks` of them attack
        reports, the others at `attack_rate`. Returns the links of the attack reports."""
        now = datetime.now(timezone.utc).replace(microsecond=0)
        new, links = {}, []
        for feed in feeds:
            catalogue = self.catalogues.setdefault(feed, _continued(feed, self.options.items))
            items = []
            for n in range(count):
                if n < attacks or self.rng.random() < attack_rate:
                    self.attacks += 1
                    xml, link = catalogue.item(self.rng, now - INCIDENT_SPACING * self.attacks, attack=True)
                    self.expected[link] = phase
                    links.append(link)
                else:
                    xml, _ = catalogue.item(self.rng, now - timedelta(seconds=n))
                items.append(xml)
            new[feed] = items
        self.server.ask("publish", new)
        return links

    def urls(self) -> list[str]:
        return [self.server.url(n) for n in range(self.options.feeds)]

    def etags(self) -> dict[str, str]:
        return dict(zip(self.urls(), self.server.ask("etags")))

    # ---- (1)-(3): one poll, against the baseline --------------------------------------------

    def poll_phase(self, tag: str, name: str, etags: dict | None, items_offered: int) -> dict:
        options = self.options
        baseline = self.child("fetch", urls=self.urls(), etags=etags, client=options.baseline_client,
                              concurrency=options.concurrency or default_concurrency())
        before = self.server.ask("served", True)
        result = self.child("poll", config=str(self.config))
        served = self.server.ask("served", True)
        feeds = result["feeds"]
        self.add(f"{tag} {name}", wall=result["wall"], cpu=result["cpu"], rss=result["rss"],
                 feeds_per_s=feeds / result["wall"], items_per_s=result["new_items"] / result["wall"],
                 ratio=(result["wall"] / baseline["wall"], result["cpu"] / baseline["cpu"]),
                 note=f"{feeds} feeds ({result['errors']} errors, {result['not_modified']} 304), "
                      f"{result['new_items']} new items of {items_offered} served, {result['matches']} matches, "
                      f"{result['alerts']} alerts, dispatched {result['sent'] or 'nothing'} in "
                      f"{result['dispatch']:.2f} s ({result['dispatch_cpu']:.2f} s CPU"
                      f"{', apprise loading its plugins once included' if result['sent'] else ''}); "
                      f"the feed server's CPU meanwhile "
                      f"{served['cpu'] - before['cpu']:.2f} s; {_batches(result['lookup_batches'])}"
                      + (f"; first error: {result['first_error']}" if result["first_error"] else ""))
        self.add(f"    {tag} baseline: {options.baseline_client} GET, bodies dropped", wall=baseline["wall"], cpu=baseline["cpu"],
                 rss=baseline["rss"], feeds_per_s=len(self.urls()) / baseline["wall"],
                 items_per_s=items_offered / baseline["wall"],
                 note=f"answers {baseline['statuses']}, {baseline['bytes'] / 2**20:.1f} MiB")
        return result

    def first_poll(self) -> None:
        offered = self.options.feeds * self.options.items
        self.poll_phase("(1)", f"first poll, {self.options.feeds} feeds, all new", None, offered)

    def all_not_modified(self) -> None:
        self.poll_phase("(2)", "every feed answers 304", self.etags(), 0)

    def some_changed(self) -> None:
        options = self.options
        etags = self.etags()
        changed = sorted(self.rng.sample(range(options.feeds), max(1, round(options.feeds * options.changed))))
        links = self.publish(changed, options.new_items, "(3)", attack_rate=options.incident_rate)
        result = self.poll_phase("(3)", f"{len(changed)} feeds with {options.new_items} new items",
                                 etags, len(changed) * options.items)
        arrivals = self.receiver.arrivals()
        print(f"      {len(links)} attack reports among the new items -> "
              f"{sum(link in arrivals for link in links)} of them paged ({result['alerts']} alerts written)",
              flush=True)

    # ---- (4) dedupe lookups --------------------------------------------------------------------

    def dedupe(self) -> None:
        options = self.options
        stored, added = fill_items(self.engine, options.stored)
        count = min(options.lookup_feeds, options.feeds)
        feeds = [(f"f{n}", self.server.url(n)) for n in self.rng.sample(range(options.feeds), count)]
        batch = options.lookup_batch
        rows = [(dict(every_entry=every_entry, batch=size),
                 f"{'every entry' if every_entry else 'as a poll does'}, "
                 f"{size} feed{'s' if size > 1 else ''} a statement")
                for every_entry in (True, False) for size in sorted({1, batch})]
        # the floor under a lone feed's lookup: one statement's round trip through the same connection path
        rows.append((dict(round_trip_only=True, batch=1), "round trip alone (SELECT 1), 1 feed a statement"))
        runs = {how: [] for _, how in rows}
        for _ in range(options.lookup_repeat):  # alternating, so that the machine's noise falls on each row
            for spec, how in rows:
                runs[how].append(self.child("seen", database=self.url, feeds=feeds, **spec))
        for how, results in runs.items():
            wall, cpu = (statistics.median(r[key] for r in results) for key in ("wall", "cpu"))
            self.add(f"(4) dedupe: {count} feeds, {how}", wall=wall, cpu=cpu,
                     rss=max(r["rss"] for r in results), feeds_per_s=count / wall,
                     items_per_s=results[0]["items"] / wall,
                     note=f"{stored:,} item rows stored ({added:,} filler rows added); "
                          f"{results[0]['items']} items, {results[0]['seen']} found seen; "
                          f"{1000 * wall / count:.2f} ms per feed; median of "
                          + ", ".join(f"{r['wall']:.3f}" for r in results) + " s")

    # ---- (5) latency under the daemon -------------------------------------------------------------

    def latency(self) -> None:
        """`monitor run` on the watchlist; the timed feeds fall due one after the other over
        --window seconds, each with a new attack report, while the other feeds fall due at the
        rate their interval gives (N / interval per second)."""
        options = self.options
        # The daemon sleeps a tick after starting, as nothing is due then: the timed feeds fall due
        # after that first wake-up, which reads the due times set here and wakes at the earliest.
        lead = duration_seconds(options.tick) + 1.0
        window, interval = options.window, duration_seconds(options.interval)
        timed = self.rng.sample(range(options.feeds), min(options.samples, options.feeds))
        offsets = {n: lead + self.rng.uniform(0, interval) for n in range(options.feeds)}
        offsets.update({feed: lead + window * (k + 0.5) / len(timed) for k, feed in enumerate(timed)})
        patience = lead + window + 3 * (duration_seconds(options.tick)
                                        + duration_seconds(options.dispatch_interval)) + 60
        set_due(self.engine, {n: timedelta(days=1) for n in range(options.feeds)})  # none due while it starts
        with running_daemons([self.config], self.folder, "latency") as (daemon,):
            links = {self.publish([feed], 1, "(5)", attacks=1)[0]: feed for feed in timed}
            self.server.ask("served", True)
            cpu, moment = daemon.cpu(), datetime.now(timezone.utc)
            set_due(self.engine, {n: timedelta(seconds=offset) for n, offset in offsets.items()}, moment)
            self.wait_for_pages(links, patience)
            ran, cpu = time.time() - moment.timestamp(), daemon.cpu() - cpu
            served = self.server.ask("served", True)
        arrivals = self.receiver.arrivals()
        latencies = [arrivals[link][0] - moment.timestamp() - offsets[feed]
                     for link, feed in links.items() if link in arrivals]
        self.add("(5) publish-to-page latency, monitor run", wall=ran, cpu=cpu, rss=daemon.peak,
                 latency=latencies,
                 note=f"{len(latencies)} of {len(links)} pages, from next_due_at to the receiver; tick "
                      f"{options.tick}, dispatch every {options.dispatch_interval}; meanwhile "
                      f"{len({feed for feed, _, _ in served['served']})} feeds polled "
                      f"({sum(served['served'].values())} requests); wall and CPU from the first feed set "
                      f"due to the last page")

    def wait_for_pages(self, links, seconds: float) -> float | None:
        """When the receiver had a page for every link (None: not within `seconds`)."""
        try:
            return wait_until(lambda: all(link in self.receiver.arrivals() for link in links), seconds,
                              "the pages", every=0.2)
        except TimeoutError as exc:
            print(f"      {exc}", flush=True)
            return None

    # ---- (6) several workers on one database ----------------------------------------------------

    def workers(self) -> None:
        options = self.options
        counts = sorted({1, options.workers}) if options.worker_counts == "ends" else range(1, options.workers + 1)
        for k in counts:
            self.worker_round(k)

    def worker_round(self, k: int) -> None:
        """k `monitor run` processes; every feed falls due at once with new items."""
        options = self.options
        configs = [self.watchlist(self.folder / f"worker-{n}.yaml", agent=f"scalebench-worker-{n}")
                   for n in range(k)]
        set_due(self.engine, {n: timedelta(days=1) for n in range(options.feeds)})  # none due while they start
        links = self.publish(list(range(options.feeds)), options.new_items, f"(6) k={k}",
                             attack_rate=options.incident_rate)
        with running_daemons(configs, self.folder, f"workers{k}") as daemons:
            self.server.ask("served", True)
            cpu, moment = sum(d.cpu() for d in daemons), datetime.now(timezone.utc)
            set_due(self.engine, {n: timedelta(0) for n in range(options.feeds)}, moment)
            stored_at = wait_until(lambda: stored_since(self.engine, moment) >= options.feeds,
                                   120 + options.feeds * options.items / 100, "every feed to be stored",
                                   every=0.2)
            paged_at = self.wait_for_pages(links, 60)
            cpu = sum(d.cpu() for d in daemons) - cpu
            time.sleep(2 * duration_seconds(options.tick))  # time for a feed to be polled twice, if it would be
            served = self.server.ask("served", True)
        per_feed, per_worker = Counter(), Counter()
        for (feed, _, agent), requests in served["served"].items():
            per_feed[feed] += requests
            per_worker[agent] += requests
        arrivals = self.receiver.arrivals()
        busy = stored_at - served["first_at"]
        paged = f"the last {paged_at - moment.timestamp():.1f} s after due" if paged_at else "timed out"
        self.add(f"(6) {k} worker{'s' if k > 1 else ''}: {options.feeds} feeds due, "
                 f"{options.new_items} new items each", wall=busy, cpu=cpu, rss=max(d.peak for d in daemons),
                 feeds_per_s=options.feeds / busy, items_per_s=options.feeds * options.new_items / busy,
                 note=f"wall = first request -> last feed stored ({stored_at - moment.timestamp():.1f} s "
                      f"from due); feeds polled twice: {sum(n > 1 for n in per_feed.values())}; pages "
                      f"{sum(link in arrivals for link in links)}/{len(links)} ({paged}), sent twice: "
                      f"{sum(len(arrivals[link]) - 1 for link in links if link in arrivals)}; requests per "
                      f"worker: {', '.join(str(per_worker[f'scalebench-worker-{n}']) for n in range(k))}; "
                      f"CPU: all workers', from due to the last page; peak: the largest worker")

    # ---- end --------------------------------------------------------------------------------------

    def close(self) -> None:
        arrivals = self.receiver.arrivals()
        twice = {link: times for link, times in arrivals.items() if len(times) > 1}
        lost = [link for link in self.expected if link not in arrivals]
        print(f"  pages: {len(self.receiver.pages)} received, {len(arrivals)} distinct; "
              f"sent twice: {len(twice)}; attack reports published after the first poll without a page: "
              f"{len(lost)}", flush=True)
        self.receiver.stop()
        self.server.stop()
        self.engine.dispose()


def _continued(feed: int, already: int) -> Catalogue:
    """The catalogue of a feed past its initial items (new items get new serial numbers)."""
    catalogue = Catalogue(feed)
    catalogue.next = already
    return catalogue


# --------------------------------------------------------------------------------------------
# Database helpers (the parent's; the measured passes use the monitor's own code)
# --------------------------------------------------------------------------------------------

def open_fresh(url: str):
    """The schema at head on an empty database (PostgreSQL: schema public dropped first)."""
    if not url.startswith("sqlite"):
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return open_database(url)


def set_due(engine, due: dict[int, timedelta], moment: datetime | None = None) -> None:
    """Set feed f<n>'s next_due_at to moment + due[n]."""
    moment = moment or datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(update(Feed).where(Feed.name == bindparam("feed"))
                           .values(next_due_at=bindparam("due")),
                           [{"feed": f"f{n}", "due": moment + offset} for n, offset in due.items()])


def stored_since(engine, moment: datetime) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Feed)
                                  .where(Feed.last_success_at >= moment)).scalar_one()


def fill_items(engine, target: int) -> tuple[int, int]:
    """Add archive items (spread over the feeds) until the item table holds `target` rows.
    Returns (rows now, rows added). PostgreSQL is ANALYZEd afterwards, as autovacuum would."""
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(ItemRow)).scalar_one()
        feeds = [row[0] for row in connection.execute(select(Feed.id).order_by(Feed.id))]
    missing = max(0, target - stored)
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    for start in range(0, missing, 20_000):
        with engine.begin() as connection:
            connection.execute(insert(ItemRow), [
                dict(feed_id=feeds[n % len(feeds)], key=f"urn:archive:{n}",
                     url=f"https://archive{n % len(feeds)}.example.org/story-{n}",
                     title=f"Archived story {n}", text=FILLERS[n % len(FILLERS)],
                     published_at=old, fetched_at=old)
                for n in range(start, min(start + 20_000, missing))])
    if missing and engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return stored + missing, missing


def default_concurrency() -> int:
    return FetchConfig().concurrency


def public_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def duration_seconds(value: str) -> float:
    return parse_duration(value).total_seconds()


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

HEADER = (f"{'':44} {'wall s':>8} {'CPU s':>7} {'peak MB':>8} {'feeds/s':>9} {'new items/s':>11} "
          f"{'x baseline (wall, CPU)':>23}")


def format_row(name: str, figures: dict) -> str:
    if "latency" in figures:
        samples = figures["latency"]
        if len(samples) >= 2:
            p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
            spread = (f"p50 {statistics.median(samples):.1f} s, p95 {p95:.1f} s, "
                      f"min {min(samples):.1f} s, max {max(samples):.1f} s")
        else:
            spread = f"samples: {samples}"
        return (f"{name:<44} {figures['wall']:8.1f} {figures['cpu']:7.1f} {figures['rss']:8.0f}   {spread}\n"
                f"      {figures['note']}")

    def cell(key, width, digits):
        value = figures.get(key)
        return f"{value:{width}.{digits}f}" if value is not None else " " * width
    line = (f"{name:<44} {cell('wall', 8, 2)} {cell('cpu', 7, 2)} {cell('rss', 8, 0)} "
            f"{cell('feeds_per_s', 9, 0)} {cell('items_per_s', 11, 0)}")
    if figures.get("ratio") is not None:
        line += f" {figures['ratio'][0]:11.1f}x {figures['ratio'][1]:9.1f}x"
    return line + (f"\n      {figures['note']}" if figures.get("note") else "")


def print_summary(results: dict[str, list[tuple[str, dict]]]) -> None:
    """The databases side by side: wall s / CPU s / peak MB (x baseline: wall, CPU); latency p50 / p95."""
    names = list(dict.fromkeys(name for rows in results.values() for name, _ in rows))
    print(f"\nsummary: wall s / CPU s / peak MB (x baseline: wall, CPU); latency p50 / p95\n{'':44}"
          + "".join(f" {kind:>32}" for kind in results))
    for name in names:
        cells = []
        for rows in results.values():
            figures = dict(rows).get(name)
            if figures is None:
                cells.append("-")
            elif "latency" in figures:
                samples = figures["latency"] or [float("nan")]
                p95 = statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]
                cells.append(f"p50 {statistics.median(samples):.1f} s / p95 {p95:.1f} s")
            else:
                ratio = f" ({figures['ratio'][0]:.1f}x, {figures['ratio'][1]:.1f}x)" if figures.get("ratio") else ""
                cells.append(f"{figures['wall']:.2f} / {figures['cpu']:.2f} / {figures['rss']:.0f}{ratio}")
        print(f"{name:<44}" + "".join(f" {cell:>32}" for cell in cells))


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300, help="feeds (default 300; 5000 for the full run)")
    parser.add_argument("--items", type=int, default=33, help="items per feed (default 33)")
    parser.add_argument("--incident-rate", type=float, default=0.03,
                        help="share of items that are attack reports (default 0.03)")
    parser.add_argument("--concurrency", type=int, help="fetch.concurrency (default: the shipped default)")
    parser.add_argument("--baseline-client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="(1)-(3): the bare client of the baseline (default aiohttp, the monitor's)")
    parser.add_argument("--changed", type=float, default=0.10, help="(3): share of feeds with new items")
    parser.add_argument("--new-items", type=int, default=3, help="(3) and (6): new items per changed feed")
    parser.add_argument("--stored", type=int, default=100_000,
                        help="(4): item rows in the table for the lookups (default 100,000; 500,000 for the full run)")
    parser.add_argument("--lookup-feeds", type=int, default=500, help="(4): feeds looked up (default 500)")
    parser.add_argument("--lookup-batch", type=int, default=4,
                        help="(4): feeds looked up in one statement, as a busy poll does (default 4; the "
                             "notes of (1) and (3) tell what the poll did)")
    parser.add_argument("--lookup-repeat", type=int, default=3,
                        help="(4): runs of each lookup row, alternating; the median is shown (default 3)")
    parser.add_argument("--samples", type=int, default=10, help="(5): pages timed (default 10)")
    parser.add_argument("--window", type=float, default=10.0,
                        help="(5): seconds over which the timed feeds fall due (default 10)")
    parser.add_argument("--tick", default="5s", help="(5), (6): the daemon's tick (shipped default 30s)")
    parser.add_argument("--dispatch-interval", default="5s",
                        help="(5), (6): dispatch.interval (shipped default 15s)")
    parser.add_argument("--interval", default="10m", help="fetch.interval, the feeds' poll interval (default 10m)")
    parser.add_argument("--database", help="also run on this PostgreSQL database (it is wiped), "
                        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/scalebench")
    parser.add_argument("--no-sqlite", action="store_true", help="run on --database only")
    parser.add_argument("--workers", type=int, default=0,
                        help="(6), PostgreSQL only: up to K `monitor run` processes on one database")
    parser.add_argument("--worker-counts", choices=("all", "ends"), default="all",
                        help="(6): every worker count 1..K, or only 1 and K")
    parser.add_argument("--phases", default="123456", help="which phases to run, in order (default 123456; 1 is needed)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, watchlists, logs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # spec on stdin
    options = parser.parse_args(argv)
    if options.child:
        print("RESULT " + json.dumps(child_main(json.load(sys.stdin))))
        return 0
    if set(options.phases) - set("123456") or "1" not in options.phases:
        parser.error(f"--phases {options.phases!r}: digits 1 to 6, with 1 (the later phases use the "
                     f"feeds and items the first poll stores)")
    if options.feeds < 1 or options.items < 1:
        parser.error("--feeds and --items must be at least 1")
    if options.no_sqlite and not options.database:
        parser.error("--no-sqlite needs --database")
    if options.database and options.database.startswith("sqlite"):
        parser.error("--database is for PostgreSQL; SQLite runs anyway (a fresh file)")

    folder = Path(tempfile.mkdtemp(prefix="monitor-scale-"))
    databases = [] if options.no_sqlite else [("sqlite", f"sqlite:///{folder / 'sqlite' / 'monitor.db'}")]
    if options.database:
        databases.append(("postgresql", options.database))
    print(f"scale benchmark  {datetime.now():%Y-%m-%d %H:%M}  python {sys.version.split()[0]}  "
          f"cpus {os.cpu_count()}  load {os.getloadavg()[0]:.1f}  {options.feeds} feeds x {options.items} "
          f"items, attack reports {options.incident_rate:.0%}, fetch.concurrency "
          f"{options.concurrency or default_concurrency()}")
    print(HEADER)
    started, results = time.perf_counter(), {}
    for kind, url in databases:
        bench = Bench(options, kind, url, folder / kind)
        results[kind] = bench.rows
        try:
            phases = {"1": bench.first_poll, "2": bench.all_not_modified, "3": bench.some_changed,
                      "4": bench.dedupe, "5": bench.latency, "6": bench.workers}
            for phase in options.phases:
                if phase == "6" and (kind != "postgresql" or options.workers < 1):
                    if kind == "postgresql" or options.workers:
                        print("(6) workers: skipped (needs --workers K and a PostgreSQL --database)")
                    continue
                phases[phase]()
        finally:
            bench.close()
    if len(results) > 1:
        print_summary(results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.1f} "
          f"(other work on the machine makes these figures noisy)")
    if options.keep:
        print(f"temp dir kept: {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
