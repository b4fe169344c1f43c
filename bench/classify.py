"""Classifier benchmark: how many items per second does `Classifier.score` get through?

Reads the labelled dev stream (/work/shared/eval/dev.jsonl.gz, 88k real RSS items) into memory
and normalises every title and text with `html_to_text`, as the daemon does (not timed). Then, in
one run, it times scoring every item with

  (a) shipped    the shipped profile, config/profiles/iraq-syria-militia-attacks.yaml;
  (b) large      the shipped profile plus ~2,000 generated terms (made-up place, person, base and
                 organisation names built from syllable lists, some with "(a|b)" alternatives,
                 "*" prefixes and ALL-CAPS acronyms) spread across its groups and negatives,
                 written to a temp YAML file and loaded with `load_profile`: a big watchlist;
  (c) baseline   one compiled regex alternation of the shipped profile's spellings (escaped,
                 word-bounded, case-insensitive), `re.search` over title + "\\n" + text per item:
                 the plain regex-alternation baseline. With ~4,000 spellings Python's `re` tries
                 every alternative at every position (a few hundred items/s), so it is timed on an
                 evenly spaced sample of --baseline-limit items (default 2,000; items/s do not
                 depend on how many items are timed);
  (c') trie      the same spellings factored into a character trie inside one regex
                 ("attack(?:\\w*\\b)|..." sharing prefixes), `re.search` over every item: what a
                 careful regex gets, for reference.

Items/s are wall-clock, best of --repeat runs, single thread (one core); CPU-time items/s are
shown too (process_time), as they suffer less when other processes share the machine.
Targets: (a) >= 20,000 items/s; (b) no more than 2x slower than (a).

Memory: each phase is run once more, untimed, under tracemalloc (building the classifier or regex
included), and its tracemalloc peak is printed: the Python-heap high-water mark of that phase
over the items already in memory (pyahocorasick allocates through Python's allocator, so the
automaton is counted). Tracing slows Python down, so these passes are not timed. ru_maxrss of the whole process is printed at
the end (it includes the items in memory and never goes down).

    /tmp/venv/bin/python bench/classify.py                    # all items, best of 1
    /tmp/venv/bin/python bench/classify.py --limit 20000 --repeat 3
    /tmp/venv/bin/python bench/classify.py --profile          # also cProfile the shipped phase
    /tmp/venv/bin/python bench/classify.py --no-memory        # skip the tracemalloc passes
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import gzip
import io
import json
import os
import pstats
import random
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import yaml

from monitor.classify.rules import Classifier
from monitor.settings.profile import Profile, load_profile
from monitor.text import html_to_text

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "profiles" / "iraq-syria-militia-attacks.yaml"
DEV = Path("/work/shared/eval/dev.jsonl.gz")
LARGE_NAME = "bench-large-watchlist"
EXTRA_TERMS = 2000
TARGET_ITEMS_PER_S = 20_000
TARGET_LARGE_SLOWDOWN = 2.0


# --------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------

def load_items(path: Path, limit: int | None) -> list[tuple[str, str]]:
    """(title, text) of each item, normalised like the daemon (monitor/evaluate.py) does."""
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and len(items) >= limit:
                break
            record = json.loads(line)
            items.append((html_to_text(record.get("title") or ""), html_to_text(record.get("text") or "")))
    return items


# --------------------------------------------------------------------------------------------
# A large profile: the shipped one plus generated names
# --------------------------------------------------------------------------------------------

ONSETS = ["b", "d", "f", "g", "h", "j", "k", "kh", "l", "m", "n", "q", "r", "s", "sh", "t", "z",
          "br", "dr", "gr", "tr", "v", "w", "y", "ch", "th"]
VOWELS = ["a", "e", "i", "o", "u", "aa", "ei", "ou", "ia", "ai"]
CODAS = ["", "", "", "n", "r", "m", "l", "s", "d", "b", "k", "sh", "q", "t"]
PLACE_SUFFIXES = ["abad", "iyah", "stan", "ville", "burg", "dar", "kand", "pur", "ton", "wick"]
ORG_KINDS = ["Brigades", "Front", "Movement", "Battalion", "Guard", "Resistance", "Council",
             "Army", "Legion", "Forces", "Party", "League", "Union", "Authority", "Company"]
BASE_KINDS = ["Camp", "Forward Operating Base", "Outpost", "Air Base", "Fire Base", "Station"]


def _syllable(rng: random.Random) -> str:
    return rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)


def _word(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    word = "".join(_syllable(rng) for _ in range(rng.randint(*syllables)))
    return word.capitalize()


def _acronym(rng: random.Random) -> str:
    return "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(rng.randint(3, 5)))


def generated_term(rng: random.Random, kind: str) -> dict:
    """One made-up term of a given kind, with a few spelling variants like the real ones."""
    if kind == "place":
        stem = _word(rng)
        name = stem + rng.choice(PLACE_SUFFIXES) if rng.random() < 0.4 else stem
        aliases = []
        if rng.random() < 0.5:  # a transliteration variant
            aliases.append(name.replace("ou", "u").replace("aa", "a").replace("q", "k") + "e")
        if rng.random() < 0.2:
            aliases.append(f"(North|South|East|West) {name}")
        return {"name": name, "aliases": aliases}
    if kind == "person":
        first, last = _word(rng, (2, 2)), _word(rng)
        aliases = [last] if rng.random() < 0.3 else []
        if rng.random() < 0.3:
            aliases.append(f"(Abu|Abou) {last}")
        return {"name": f"{first} {last}", "aliases": aliases, "weight": 0.8}
    if kind == "org":
        core = _word(rng)
        name = f"{core} {rng.choice(ORG_KINDS)}"
        aliases = []
        if rng.random() < 0.4:
            aliases.append(_acronym(rng))
        if rng.random() < 0.3:
            aliases.append(f"{core}*")
        return {"name": name, "aliases": aliases}
    if kind == "base":
        name = f"{rng.choice(BASE_KINDS)} {_word(rng)}"
        return {"name": name, "aliases": [f"{name.split()[-1]} (base|airbase|garrison)"]}
    if kind == "word":
        stem = _word(rng, (2, 3)).lower()
        return {"name": stem, "aliases": [stem + "*"] if rng.random() < 0.3 else [], "weight": 0.7}
    raise ValueError(kind)


# which kind of name goes into which group, and how many shares of the extra terms it gets;
# a group not named here (the profile is being tuned) gets made-up words, one share
GROUP_KINDS = {
    "us_target": ("base", 3), "country": ("place", 1), "place": ("place", 1), "site": ("place", 6),
    "actor": ("org", 3), "iran": ("person", 1), "commander_killed": ("person", 1),
    "us_strike": ("org", 1), "isis": ("org", 1), "-negatives": ("place", 3),
}
DEFAULT_KIND = ("word", 1)


def large_profile_yaml(shipped: Path, extra: int, seed: int = 7) -> tuple[str, Counter]:
    """YAML text of the shipped profile with `extra` generated terms spread across its groups."""
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["name"] = LARGE_NAME
    rng = random.Random(seed)
    seen: set[str] = set()
    kinds = {group: GROUP_KINDS.get(group, DEFAULT_KIND) for group in [*data["groups"], "-negatives"]}
    slots = [group for group, (_, share) in kinds.items() for _ in range(share)]
    added: Counter = Counter()
    while sum(added.values()) < extra:
        group = slots[sum(added.values()) % len(slots)]
        kind = kinds[group][0]
        term = generated_term(rng, kind)
        if term["name"].lower() in seen:
            continue
        seen.add(term["name"].lower())
        if group == "-negatives":
            term["weight"] = 0.3
            data.setdefault("negatives", []).append(term)
        else:
            data["groups"][group]["terms"].append(term)
        added[group] += 1
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True), added


def spellings_of(profile: Profile) -> list[str]:
    """Every spelling of every term (groups and negatives), alternatives expanded."""
    terms = [t for group in profile.groups.values() for t in group.terms] + list(profile.negatives)
    return [s for t in terms for s in t.spellings()]


# --------------------------------------------------------------------------------------------
# The plain regex-alternation baseline
# --------------------------------------------------------------------------------------------

def baseline_regex(profile: Profile) -> re.Pattern:
    """One alternation of the profile's spellings: escaped, word-bounded, case-insensitive.

    "attack*" becomes r"attack\\w*"; longest spellings first so the longest alternative wins.
    """
    alternatives = []
    for spelling in sorted(set(spellings_of(profile)), key=lambda s: (-len(s), s)):
        if spelling.endswith("*"):
            alternatives.append(re.escape(spelling.rstrip("*")) + r"\w*")
        else:
            alternatives.append(re.escape(spelling))
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


def trie_regex(profile: Profile) -> re.Pattern:
    """The same spellings, same matches, as one regex whose alternatives share their prefixes."""
    trie: dict = {}
    for spelling in spellings_of(profile):
        node = trie
        for char in spelling.rstrip("*").lower():
            node = node.setdefault(char, {})
        if spelling.endswith("*") or node.get("") == "prefix":
            node[""] = "prefix"
        else:
            node[""] = "word"

    def pattern(node: dict) -> str:
        alternatives = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if node.get("") == "prefix":
            alternatives.append(r"\w*\b")
        elif node.get("") == "word":
            alternatives.append(r"\b")
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return re.compile(r"\b" + pattern(trie), re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

def score_all(classifier: Classifier, items) -> Counter:
    labels: Counter = Counter()
    score = classifier.score
    for title, text in items:
        labels[score(title, text).label] += 1
    return labels


def search_all(pattern: re.Pattern, items) -> Counter:
    search = pattern.search
    return Counter("match" if search(title + "\n" + text) else "none" for title, text in items)


def best_of(repeat: int, run) -> tuple[float, float, object]:
    """Best wall-clock and best CPU seconds of `repeat` runs, and the last run's result."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def traced_peak(phase) -> int:
    """tracemalloc peak (bytes) while `phase` runs, over what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        phase()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="items to read (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="best of K timed runs (default 1)")
    parser.add_argument("--baseline-limit", type=int, default=2000,
                        help="items (evenly spaced) to time the plain regex baseline on (default 2000)")
    parser.add_argument("--data", type=Path, default=DEV, help=f"JSON lines, gzipped (default {DEV})")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc passes")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the shipped-profile phase and print the top functions")
    args = parser.parse_args(argv)

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs (other busy processes lower items/s; compare the CPU-time column)")
    start = time.perf_counter()
    items = load_items(args.data, args.limit)
    n = len(items)
    chars = sum(len(t) + len(x) for t, x in items)
    print(f"items: {n:,} from {args.data} ({chars / max(n, 1):.0f} chars each on average), "
          f"read and normalised with html_to_text in {time.perf_counter() - start:.1f}s (not timed)")

    shipped = load_profile(SHIPPED)
    with tempfile.TemporaryDirectory() as tmp:
        text, added = large_profile_yaml(SHIPPED, EXTRA_TERMS)
        path = Path(tmp) / f"{LARGE_NAME}.yaml"
        path.write_text(text, encoding="utf-8")
        large = load_profile(path)
    n_shipped, n_large = len(spellings_of(shipped)), len(spellings_of(large))
    print(f"(a) shipped profile {shipped.name}: "
          f"{sum(len(g.terms) for g in shipped.groups.values()) + len(shipped.negatives)} terms, "
          f"{n_shipped:,} spellings")
    print(f"(b) large profile {large.name}: +{sum(added.values()):,} generated terms "
          f"({', '.join(f'{g} {c}' for g, c in added.items())}), "
          f"{sum(len(g.terms) for g in large.groups.values()) + len(large.negatives):,} terms, "
          f"{n_large:,} spellings" + ("" if n_large >= 2000 else "  ** fewer than 2,000 **"))

    step = max(1, n // max(1, args.baseline_limit))
    sample = items[::step][:args.baseline_limit]

    build = {}
    t0 = time.perf_counter()
    shipped_classifier = Classifier(shipped)
    build["shipped"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    large_classifier = Classifier(large)
    build["large"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pattern = baseline_regex(shipped)
    build["baseline"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trie = trie_regex(shipped)
    build["trie"] = time.perf_counter() - t0

    phases = {  # name: (items timed, run)
        "shipped": (items, lambda: score_all(shipped_classifier, items)),
        "large": (items, lambda: score_all(large_classifier, items)),
        "baseline": (sample, lambda: search_all(pattern, sample)),
        "trie": (items, lambda: search_all(trie, items)),
    }
    wall, cpu, results = {}, {}, {}
    for name, (timed, run) in phases.items():
        wall[name], cpu[name], results[name] = best_of(args.repeat, run)
    rate = {name: len(phases[name][0]) / s for name, s in wall.items()}
    cpu_rate = {name: len(phases[name][0]) / s for name, s in cpu.items()}

    peaks = {}
    if not args.no_memory:
        peaks["shipped"] = traced_peak(lambda: score_all(Classifier(load_profile(SHIPPED)), items))
        peaks["large"] = traced_peak(lambda: score_all(Classifier(large), items))
        peaks["baseline"] = traced_peak(lambda: search_all(baseline_regex(shipped), sample))
        peaks["trie"] = traced_peak(lambda: search_all(trie_regex(shipped), items))

    titles = {"shipped": "(a) shipped profile", "large": "(b) 2,000+ term profile",
              "baseline": "(c) plain regex alternation", "trie": "(c') trie regex (reference)"}
    print(f"\nbest of {args.repeat} run(s), one thread; items/s by wall clock (and CPU time); "
          f"peak = tracemalloc peak of a separate untimed pass (build + score)")
    print(f"{'phase':<29} {'build':>7} {'items':>7} {'seconds':>8} {'items/s':>9} {'(cpu)':>9} "
          f"{'vs (c)':>8} {'peak':>9}  outcome")
    for name, (timed, _) in phases.items():
        outcome = ", ".join(f"{label} {count:,}" for label, count in sorted(results[name].items()))
        peak = mib(peaks[name]) if name in peaks else "-"
        print(f"{titles[name]:<29} {build[name] * 1000:>4.0f} ms {len(timed):>7,} {wall[name]:>8.2f} "
              f"{rate[name]:>9,.0f} {cpu_rate[name]:>9,.0f} {rate[name] / rate['baseline']:>7.1f}x "
              f"{peak:>9}  {outcome}")
    if len(sample) < n:
        print(f"(c) timed on every {step}th item ({len(sample):,} of {n:,}); see --baseline-limit")

    slowdown = rate["shipped"] / rate["large"]
    print(f"\n(b)/(a) items/s: {rate['large'] / rate['shipped']:.2f}  (b is {slowdown:.2f}x slower than a)")
    print(f"(a)/(c) items/s: {rate['shipped'] / rate['baseline']:.1f}   "
          f"(a)/(c') items/s: {rate['shipped'] / rate['trie']:.2f}")
    ok_a = rate["shipped"] >= TARGET_ITEMS_PER_S
    ok_b = slowdown <= TARGET_LARGE_SLOWDOWN
    print(f"target (a) >= {TARGET_ITEMS_PER_S:,} items/s: {'met' if ok_a else 'MISSED'} "
          f"({rate['shipped']:,.0f})")
    print(f"target (b) no more than {TARGET_LARGE_SLOWDOWN:.0f}x slower than (a): "
          f"{'met' if ok_b else 'MISSED'} ({slowdown:.2f}x)")
    print(f"ru_maxrss of the process at the end: {mib(max_rss_bytes())} "
          f"(includes the {n:,} items held in memory)")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        score_all(shipped_classifier, items)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\ncProfile of (a), by own time:\n" + out.getvalue())
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
