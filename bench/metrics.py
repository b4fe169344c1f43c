"""What /metrics costs with many feeds: the monitor's per-feed counters (monitor.metrics.FeedCounter)
against prometheus_client's labelled Counter, the plain baseline, in the same run.

Each way runs in a fresh interpreter: it counts what a poll of every feed counts (an ok and a
not-modified poll, items seen and new), then renders the text format once, as a scrape does.
Printed: the memory the counts hold (RSS after counting, above RSS with the modules loaded), the
scrape's CPU time and peak memory, the body's size, and the ratios against the baseline.

    .venv/bin/python bench/metrics.py                  # 50,000 feeds, about 6 s
    .venv/bin/python bench/metrics.py --feeds 5000
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def child(way: str, feeds: int) -> dict:
    """Count every feed's polls and items one way, then render them once."""
    sys.path.insert(0, str(ROOT))
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from monitor import metrics
    if way == "monitor":
        registry = metrics.REGISTRY
        polls, seen, new = metrics.POLLS, metrics.ITEMS_SEEN, metrics.ITEMS_NEW
    else:
        registry = CollectorRegistry()
        names = (("bench_polls", ["feed", "result"]), ("bench_items_seen", ["feed"]),
                 ("bench_items_new", ["feed"]))
        polls, seen, new = (Counter(name, "baseline", labels, registry=registry) for name, labels in names)
    loaded = rss_mb()
    started = time.process_time()
    for n in range(feeds):
        feed = f"feed-{n}"
        if way == "monitor":
            polls.inc(feed, "ok")
            polls.inc(feed, "not-modified")
            seen.inc(feed, amount=33)
            new.inc(feed, amount=3)
        else:
            polls.labels(feed, "ok").inc()
            polls.labels(feed, "not-modified").inc()
            seen.labels(feed).inc(33)
            new.labels(feed).inc(3)
    counted, counting = rss_mb(), time.process_time() - started
    started = time.process_time()
    body = generate_latest(registry)
    return dict(held=counted - loaded, counting=counting, scrape=time.process_time() - started,
                body=len(body) / 2**20, peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=50_000)
    parser.add_argument("--child", choices=("monitor", "baseline"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.feeds)))
        return
    results = {}
    for way in ("baseline", "monitor"):
        ran = subprocess.run([sys.executable, __file__, "--child", way, "--feeds", str(options.feeds)],
                             capture_output=True, text=True, check=True)
        results[way] = json.loads(ran.stdout)
    print(f"/metrics with {options.feeds:,} feeds (polls ok and not-modified, items seen and new)")
    print(f"{'':40} {'held MB':>8} {'count s':>8} {'scrape s':>9} {'body MB':>8} {'peak MB':>8}")
    labels = {"baseline": "prometheus_client labelled Counter", "monitor": "monitor.metrics.FeedCounter"}
    for way, r in results.items():
        print(f"{labels[way]:40} {r['held']:8.1f} {r['counting']:8.2f} {r['scrape']:9.2f} {r['body']:8.1f} "
              f"{r['peak']:8.0f}")
    base, ours = results["baseline"], results["monitor"]
    print(f"ratio monitor/baseline: held {ours['held'] / base['held']:.2f}, scrape CPU "
          f"{ours['scrape'] / base['scrape']:.2f}, body {ours['body'] / base['body']:.2f}")


if __name__ == "__main__":
    main()
