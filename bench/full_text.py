"""What `full_text` costs: how many article pages per 100 new items would a poll read?

No network: the real outlet feeds in ../shared/data/real-feeds/ are parsed as the daemon parses
them, and each item goes through the same choice as a poll (pipeline.wants_article, with the
shipped profile), for `auto` and `always`. With --eval, the labelled dev stream
(../shared/eval/dev.jsonl.gz: 88k items from ~30 outlets) is counted too, with what the pages
could change: how many of its `incident` items are asked for, and how many already page.

    .venv/bin/python bench/full_text.py
    .venv/bin/python bench/full_text.py --eval
"""

import argparse
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.classify.scorer import load_scorers  # noqa: E402
from monitor.ingest.parse import normalise_entry, parse_feed  # noqa: E402
from monitor.model import Label  # noqa: E402
from monitor.pipeline import SHORT_TEXT, wants_article  # noqa: E402
from monitor.settings.profile import load_profiles  # noqa: E402

SHARED = ROOT.parent / "shared"
FEEDS = SHARED / "data" / "real-feeds"
DEV = SHARED / "eval" / "dev.jsonl.gz"
MODES = ("auto", "always")


def count(items, scorers) -> Counter:
    counted = Counter()
    for item in items:
        counted["items"] += 1
        counted["short"] += len(item.text) < SHORT_TEXT
        for mode in MODES:
            counted[mode] += wants_article(item, mode, scorers)
    return counted


def line(name: str, counted: Counter) -> str:
    per_100 = "  ".join(f"{mode} {counted[mode]:>4} ({100 * counted[mode] / counted['items']:.1f}/100)"
                        for mode in MODES)
    return (f"{name:<14} {counted['items']:>6} items, {counted['short']:>6} under {SHORT_TEXT} chars   "
            f"pages: {per_100}")


def dev_items(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for raw in lines:
            record = json.loads(raw)
            entry = {"title": record["title"], "summary": record.get("text") or "",
                     "link": record.get("link") or "", "id": record["id"]}
            item = normalise_entry(entry, record.get("source") or "dev")
            if item is not None:
                yield item, record["label"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", action="store_true", help=f"also count {DEV}")
    args = parser.parse_args()
    scorers = load_scorers(load_profiles(ROOT / "config" / "profiles"), None)
    total = Counter()
    for path in sorted(FEEDS.glob("*.xml")):
        counted = count(parse_feed(path.read_bytes(), path.stem), scorers)
        total += counted
        print(line(path.stem, counted))
    print(line("real feeds", total))
    if args.eval:
        dev, labels = Counter(), Counter()
        for item, label in dev_items(DEV):
            counted = count([item], scorers)
            dev += counted
            if label == Label.INCIDENT:
                labels["incident"] += 1
                labels["incident asked (auto)"] += counted["auto"]
                labels["incident paged on feed text"] += any(
                    s.score(item.title, item.text).label == Label.INCIDENT for s in scorers.values())
        print(line("dev stream", dev))
        print("dev incident items:", dict(labels))


if __name__ == "__main__":
    main()
