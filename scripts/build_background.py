"""Build monitor/data/background.tsv: how often each word occurs in general news.

`monitor profile learn` ranks the words of example articles by how much more often they occur
there than in ordinary news; this table is the "ordinary news". Only single folded words and
their counts are written (no sentences): words seen fewer than --min-count times and words with
digits are dropped, and the --top most frequent are kept.

    python scripts/build_background.py [CORPUS.jsonl(.gz)] [-o monitor/data/background.tsv]

The default corpus is the `none`-labelled items of ../shared/eval/dev.jsonl.gz (general news
headlines and descriptions from about 30 outlets). Any JSON Lines file with title/text fields
will do; items carrying a `label` other than "none" are skipped so that the incidents being
learned do not count as ordinary news.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.draft import count_words, iter_jsonl, write_background  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "eval" / "dev.jsonl.gz"
DEFAULT_OUTPUT = ROOT / "monitor" / "data" / "background.tsv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--top", type=int, default=25000, help="Words to keep (most frequent)")
    parser.add_argument("--min-count", type=int, default=3)
    args = parser.parse_args(argv)

    items = ((title, text) for title, text, label in iter_jsonl(args.corpus)
             if label in (None, "none"))
    counts = count_words(items)
    kept = write_background(counts, args.output, top=args.top, min_count=args.min_count)
    size = args.output.stat().st_size
    print(f"{args.output}: {kept} words, {size / 1024:.0f} KB "
          f"(from {sum(counts.values())} words of {args.corpus.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
