"""Web dashboard latency and memory (issue 11).

1. Latency: a temporary SQLite database with 200,000 items in 50 feeds and 2,000 incidents (three
   reports each, one page each, written straight into the store's tables), served by a real
   uvicorn on 127.0.0.1; p50/p95 of sequential requests for the incidents list (page and API, first
   page and a page deep in the cursor) and one incident (page and API, random incidents).
2. Memory: the peak RSS of `monitor run` on that database with `web: null` and with the web server
   on (after serving 100 requests), each in its own process (os.wait4's rusage); the difference is
   what the web server costs the daemon.

    .venv/bin/python bench/web.py [--items 200000] [--incidents 2000] [--requests 200]
"""

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.pipeline import Runtime
from monitor.settings.config import WebConfig, load_config
from monitor.store import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow, open_database
from monitor.web.app import create_app
from monitor.web.server import WebServer, listen

PROFILE = "iraq-syria-militia-attacks"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
PLACES = ["Erbil", "Ain al-Asad", "Baghdad airport", "Tower 22", "al-Tanf", "Rumalyn", "Deir ez-Zor"]
WEAPONS = ["rocket", "drone", "mortar", "missile"]
FILLER = ("Officials said the talks would continue next week, and markets were little changed as "
          "investors waited for the central bank's decision on interest rates.")


def build(database: str, items: int, incidents: int, feeds: int = 50) -> None:
    engine = open_database(database)
    rng = random.Random(11)
    with engine.begin() as connection:
        connection.execute(insert(Feed), [dict(name=f"feed-{n:02d}", url=f"https://feeds.example/{n}.xml",
                                               next_due_at=START, items_seen=items // feeds)
                                          for n in range(feeds)])
        feed_ids = [row[0] for row in connection.execute(select(Feed.id).order_by(Feed.id))]
        reports = incidents * 3
        for chunk in range(0, items, 10_000):
            rows = []
            for n in range(chunk, min(chunk + 10_000, items)):
                when = START + timedelta(minutes=n)
                if n < reports:
                    place, weapon = PLACES[n // 3 % len(PLACES)], WEAPONS[n // 3 % len(WEAPONS)]
                    title = f"{weapon.title()} attack hits US base at {place} ({n // 3})"
                    text = (f"A {weapon} struck the base housing US troops at {place} on Monday, a coalition "
                            f"spokesman said. No casualties were reported. {FILLER}")
                else:
                    title, text = f"Markets edge higher as talks continue ({n})", FILLER
                rows.append(dict(feed_id=feed_ids[rng.randrange(feeds)], key=f"id:{n}",
                                 url=f"https://news.example/{n}", title=title, text=text,
                                 published_at=when, fetched_at=when))
            connection.execute(insert(ItemRow), rows)
        connection.execute(insert(IncidentRow), [
            dict(profile=PROFILE,
                 title=f"{WEAPONS[i % 4].title()} attack hits US base at {PLACES[i % 7]} ({i})",
                 opened_at=START + timedelta(minutes=3 * i), last_at=START + timedelta(minutes=3 * i + 2),
                 sources=3, updates=1, words=[], entities={}, facts=["casualties"])
            for i in range(incidents)])
        evidence = {"attack": ["rocket", "strike"], "us_target": ["US base", "US troops"], "place": ["Iraq"]}
        connection.execute(insert(MatchRow), [
            dict(item_id=n + 1, profile=PROFILE, label="incident", score=1.0, rule="attack-on-us-target",
                 evidence=evidence, created_at=START + timedelta(minutes=n), incident_id=n // 3 + 1,
                 role=("opened", "joined", "update")[n % 3], layer="rules", headline={})
            for n in range(reports)])
        connection.execute(insert(OutboxRow), [
            dict(match_id=n + 1, channel="ops-email", status="dead" if n % 30 == 0 else "sent", attempts=1,
                 next_attempt_at=START, title=f"[INCIDENT] {n}", body="...", created_at=START,
                 sent_at=None if n % 30 == 0 else START, kind="alert" if n % 3 == 0 else "update",
                 last_error="channel 'ops-email': SMTP 451" if n % 30 == 0 else None)
            for n in range(reports) if n % 3 != 1])
    engine.dispose()


def watchlist(folder: Path, database: str, web: dict | None) -> Path:
    path = folder / f"monitor-{'web' if web else 'noweb'}.yaml"
    path.write_text(yaml.safe_dump({"database": database, "profiles_dir": str(ROOT / "config" / "profiles"),
                                    "feeds": [], "web": web, "ops": {"watch_config": False}}))
    return path


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=20)
    return f"p50 {statistics.median(samples) * 1000:7.1f} ms   p95 {cuts[18] * 1000:7.1f} ms"


def latency(path: Path, requests: int, incidents: int) -> None:
    config = load_config(path)
    runtime = Runtime(config, open_database(config.database, migrate=False))
    web = WebConfig(listen=f"127.0.0.1:{free_port()}")
    server = WebServer(create_app(lambda: runtime, web), web, listen(web)).start()
    rng = random.Random(3)
    with httpx.Client(base_url=server.url.rstrip("/"), timeout=30) as client:
        deep = client.get("/api/v1/incidents", params={"limit": 50})
        for _ in range(20):  # 1,000 incidents back
            deep = client.get("/api/v1/incidents", params={"limit": 50, "cursor": deep.json()["next_cursor"]})
        cursor = deep.json()["next_cursor"]
        cases = {"incidents page (50 a page)": lambda: "/incidents",
                 "incidents API (50 a page)": lambda: "/api/v1/incidents",
                 "incidents API, 1,000 back": lambda: f"/api/v1/incidents?cursor={cursor}",
                 "one incident page": lambda: f"/incidents/{rng.randint(1, incidents)}",
                 "one incident API": lambda: f"/api/v1/incidents/{rng.randint(1, incidents)}"}
        for name, path_of in cases.items():
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                answer = client.get(path_of())
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text[:200]
            print(f"  {name:<30} {percentiles(samples)}")
    server.stop()
    server.join(5)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daemon_peak_rss(path: Path, port: int | None, incidents: int) -> int:
    """Peak RSS (KiB) of `monitor run` on the database: started, 100 requests served if the web
    server is on, then stopped with SIGTERM."""
    environment = {k: v for k, v in os.environ.items() if k not in ("MONITOR_DATABASE_URL", "MONITOR_CONFIG")}
    process = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(path)],
                               env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4)
    if port:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for n in range(50):
                client.get("/incidents")
                client.get(f"/incidents/{n * incidents // 50 + 1}")
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        database = f"sqlite:///{folder / 'bench.db'}"
        started = time.perf_counter()
        build(database, options.items, options.incidents)
        size = (folder / "bench.db").stat().st_size / 2 ** 20
        reports = 3 * options.incidents
        print(f"database: {options.items:,} items, {options.incidents:,} incidents ({reports:,} "
              f"reports, {2 * options.incidents:,} pages), SQLite {size:.0f} MiB, built in "
              f"{time.perf_counter() - started:.1f} s")
        print(f"latency, {options.requests} sequential requests each (real uvicorn on 127.0.0.1):")
        latency(watchlist(folder, database, None), options.requests, options.incidents)
        port = free_port()
        without = daemon_peak_rss(watchlist(folder, database, None), None, options.incidents)
        with_web = daemon_peak_rss(watchlist(folder, database, {"listen": f"127.0.0.1:{port}"}), port,
                                   options.incidents)
        print(f"`monitor run` peak RSS: web: null {without / 1024:.0f} MiB; web on, after 100 requests "
              f"{with_web / 1024:.0f} MiB; the web server adds {(with_web - without) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
