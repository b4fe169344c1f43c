"""feedparser against feedparser-rs behind parse_feed: do they give the same Items, how much faster
is the fast one, and what does parse_feed cost with the policy it uses (parser="auto")?

Files: shared/data/feedparser-corpus (feedparser's own ~2,100 edge-case feeds; the XML ones, as
the one JSON Feed is read by the json module, not by either parser) and shared/data/real-feeds
(five outlet feeds, saved byte for byte). shared/ sits beside the repository.

1. Agreement. For each file, parse_feed with parser="feedparser" and with parser="feedparser-rs"
   (title, link, key, text, published of every Item) is compared:
     agree          the same Items, or both refuse the feed
     differ         both give Items, not the same ones (the kinds of difference are listed)
     rs-rejects     feedparser-rs refuses a feed feedparser reads (auto falls back to feedparser)
     rs-crashes     feedparser-rs raises
     fp-rejects     feedparser refuses a feed feedparser-rs reads
   Then the policy: the files parse_feed reads with feedparser-rs (parser="auto"), and whether
   those give the same Items as feedparser. This must be all of them.
2. Speed. items/s of feedparser.parse and feedparser_rs.parse alone, and of parse_feed with each
   parser setting, on the real feeds and on the corpus (best of --repeat passes, wall clock).
3. Memory. Peak RSS (VmHWM) of a fresh interpreter running parse_feed with each parser setting
   over every file (--repeat times), then over one 5 MB feed (nyt.xml's items repeated), above
   its RSS once everything is loaded.

    .venv/bin/python bench/parsers.py              # about 25 s; exit status 1 if "auto" changed Items
    .venv/bin/python bench/parsers.py --repeat 3 --show 5
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402

from monitor.errors import ParseError  # noqa: E402
from monitor.ingest import fastparse  # noqa: E402
from monitor.ingest.parse import fast_parser_fits, parse_feed  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "feedparser-corpus"
REAL_FEEDS = SHARED / "real-feeds"
FIELDS = ("title", "url", "key", "text", "published")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.xml") if p.is_file())


def real_files() -> list[Path]:
    return sorted(REAL_FEEDS.glob("*.xml"))


def outcome(body: bytes, name: str, parser: str) -> tuple:
    """("items", items as tuples), ("refused", message) or ("crash", message)."""
    try:
        items = parse_feed(body, name, url=f"http://example.org/{name}", parser=parser)
    except ParseError as exc:
        kind = "crash" if str(exc).startswith(f"{parser} failed") else "refused"
        return (kind, str(exc))
    except Exception as exc:  # noqa: BLE001 - counted, never hidden
        return ("crash", f"{type(exc).__name__}: {exc}")
    return ("items", tuple(tuple(getattr(item, f) for f in FIELDS) for item in items))


def difference(reference: tuple, fast: tuple) -> str:
    """Which Item fields differ, e.g. "text" or "count"."""
    if reference[0] == "items" and fast[0] == "items":
        if len(reference[1]) != len(fast[1]):
            return "count"
        fields = {f for a, b in zip(reference[1], fast[1]) for f, x, y in zip(FIELDS, a, b) if x != y}
        return "+".join(f for f in FIELDS if f in fields)
    return f"{reference[0]}/{fast[0]}"


def verdict(reference: tuple, fast: tuple) -> str:
    if reference == fast or (reference[0] == fast[0] == "refused"):
        return "agree"
    if fast[0] == "crash":
        return "rs-crashes"
    if reference[0] == "items" and fast[0] == "refused":
        return "rs-rejects"
    if reference[0] != "items":
        return "fp-rejects"
    return "differ"


def agreement(files: list[Path], show: int) -> int:
    """Prints the counts and kinds; returns how many files parser="auto" gives other Items."""
    verdicts: collections.Counter[str] = collections.Counter()
    kinds: dict[str, list[str]] = collections.defaultdict(list)
    used_fast = policy_differs = 0
    for path in files:
        body, label = path.read_bytes(), f"{path.parent.name}/{path.name}"
        reference, fast = outcome(body, path.stem, "feedparser"), outcome(body, path.stem, "feedparser-rs")
        found = verdict(reference, fast)
        verdicts[found] += 1
        if found == "differ":
            kinds[difference(reference, fast)].append(label)
        elif found != "agree":
            kinds[found].append(label)
        used_fast += fast_parser_fits(body)
        if outcome(body, path.stem, "auto") != reference:
            policy_differs += 1
            kinds["POLICY DIFFERS"].append(label)
    print(f"  {len(files)} files: " + ", ".join(f"{k} {verdicts[k]}" for k in
                                              ("agree", "differ", "rs-rejects", "rs-crashes", "fp-rejects")))
    for kind, labels in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        print(f"    {len(labels):4d} x {kind:24s} e.g. {', '.join(labels[:show])}")
    print(f"  policy (parser=\"auto\"): {used_fast} files read by feedparser-rs, "
          f"{len(files) - used_fast} by feedparser; "
          f"{policy_differs} files with Items other than feedparser's")
    return policy_differs


def best_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def raw_parsers() -> dict:
    import feedparser_rs

    return {"feedparser": lambda body: feedparser.parse(io.BytesIO(body), response_headers={
                "content-type": "application/xml"}, sanitize_html=False, resolve_relative_uris=False),
            "feedparser-rs": lambda body: feedparser_rs.parse(body, sanitize_html=False,
                                                              resolve_relative_uris=False)}


def speed(title: str, files: list[Path], repeat: int) -> None:
    bodies = [(p.stem, p.read_bytes()) for p in files]
    items = sum(len(_items(body, name)) for name, body in bodies)
    entries: dict[str, int] = {}
    rates: dict[str, float] = {}
    print(f"  {title}: {len(bodies)} files, {sum(len(b) for _, b in bodies) / 1e6:.2f} MB, "
          f"{items} Items from parse_feed")
    for name, parse in raw_parsers().items():
        entries[name] = sum(len(_entries(parse, body)) for _, body in bodies)
        seconds = best_time(lambda: [_entries(parse, body) for _, body in bodies], repeat)
        rates[name] = entries[name] / seconds
        print(f"    {name + '.parse':28s} {seconds * 1000:8.1f} ms  {rates[name]:9,.0f} entries/s "
              f"({entries[name]} entries)")
    print(f"    speed-up of the parser alone: {rates['feedparser-rs'] / rates['feedparser']:.1f}x")
    pipeline: dict[str, float] = {}
    for parser in ("feedparser", "feedparser-rs", "auto"):
        pipeline[parser] = best_time(lambda: [_items(body, name, parser) for name, body in bodies], repeat)
        print(f"    parse_feed(parser={parser!r:16s}) {pipeline[parser] * 1000:8.1f} ms  "
              f"{items / pipeline[parser]:9,.0f} Items/s")
    fast = sum(1 for _, body in bodies if fast_parser_fits(body))
    print(f"    parse_feed as the pipeline uses it (auto, {fast} of {len(bodies)} files by feedparser-rs) "
          f"vs feedparser alone: {pipeline['feedparser'] / pipeline['auto']:.1f}x faster")


def _entries(parse, body: bytes) -> list:
    try:
        return parse(body).entries
    except Exception:  # noqa: BLE001 - counted as no entries; agreement() reports crashes
        return []


def _items(body: bytes, name: str, parser: str = "feedparser") -> list:
    try:
        return parse_feed(body, name, url=f"http://example.org/{name}", parser=parser)
    except ParseError:
        return []


def big_feed(megabytes: float = 5.0) -> bytes:
    """nyt.xml with its items repeated (each copy with its own guid) to about this size."""
    body = (REAL_FEEDS / "nyt.xml").read_bytes()
    head, rest = body.split(b"<item>", 1)
    items, tail = rest.rsplit(b"</item>", 1)
    items = b"<item>" + items + b"</item>"
    copies = max(1, int(megabytes * 1e6 / len(items)))
    return head + b"".join(items.replace(b"</guid>", b"/%d</guid>" % n) for n in range(copies)) + tail


def memory(repeat: int) -> None:
    print(f"    {'':34s} {'every file':>22s}   {'one 5 MB feed':>22s}")
    for parser in ("feedparser", "feedparser-rs", "auto"):
        result = subprocess.run([sys.executable, __file__, "--child-memory", parser, "--repeat", str(repeat)],
                                capture_output=True, text=True, check=True)
        figures = json.loads(result.stdout)
        print(f"    parse_feed(parser={parser!r:16s}) " + "   ".join(
            f"peak +{(figures[part] - figures['loaded']) / 1024:5.1f} MiB {figures[part + '_s']:6.2f} s"
            for part in ("files", "big")) + f" ({figures['big_items'] / figures['big_s']:,.0f} Items/s)"
              f"   (loaded: {figures['loaded'] / 1024:.0f} MiB)")


def child_memory(parser: str, repeat: int) -> None:
    """In a fresh interpreter: parse_feed over every file, then over one big feed; print peak
    RSS (KiB) after each, beside the RSS once everything is loaded, and the seconds each took."""
    bodies = [(p.stem, p.read_bytes()) for p in real_files() + corpus_files()]
    big = big_feed()
    figures = {"loaded": _status_kib("VmRSS")}
    start = time.perf_counter()
    for _ in range(repeat):
        for name, body in bodies:
            _items(body, name, parser)
    figures["files"], figures["files_s"] = _status_kib("VmHWM"), time.perf_counter() - start
    start = time.perf_counter()
    items = _items(big, "big", parser)
    figures["big"], figures["big_s"] = _status_kib("VmHWM"), time.perf_counter() - start
    figures["big_items"] = len(items)
    print(json.dumps(figures))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--repeat", type=int, default=5, help="timed passes; the best counts")
    options.add_argument("--show", type=int, default=3, help="example files per kind of difference")
    options.add_argument("--child-memory", help=argparse.SUPPRESS)
    args = options.parse_args(argv)
    if args.child_memory:
        child_memory(args.child_memory, args.repeat)
        return 0
    if not CORPUS.is_dir() or not REAL_FEEDS.is_dir():
        sys.exit(f"{SHARED} is missing: clone the repository beside shared/")
    if not fastparse.available():
        sys.exit("feedparser-rs is not installed: .venv/bin/pip install feedparser-rs")
    import feedparser_rs

    print(f"feedparser {feedparser.__version__}, feedparser-rs {feedparser_rs.__version__}, "
          f"Python {sys.version.split()[0]}")
    print("1. agreement (parse_feed Items: title, link, key, text, published)")
    print(" real outlet feeds")
    policy_differs = agreement(real_files(), args.show)
    print(" feedparser corpus")
    policy_differs += agreement(corpus_files(), args.show)
    print(f"2. speed (best of {args.repeat})")
    speed("real outlet feeds", real_files(), args.repeat)
    speed("feedparser corpus", corpus_files(), args.repeat)
    print(f"3. memory and one big feed (every file {args.repeat} times, then {len(big_feed()) / 1e6:.1f} MB; "
          f"a fresh interpreter each)")
    memory(args.repeat)
    return 1 if policy_differs else 0


if __name__ == "__main__":
    raise SystemExit(main())
