"""Reading example articles and the background word table (word<TAB>count of general news)."""

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...data import BACKGROUND, parse_word_counts
from ...errors import InputError
from ...jsonl import read_objects
from ...text import fold, html_to_text
from .words import _DOTTED

DEFAULT_BACKGROUND = BACKGROUND


class DraftInputError(InputError):
    """An example or background file that cannot be read or holds nothing to learn from."""


# --- reading examples and background ---------------------------------------------------------

def iter_jsonl(path: Path) -> Iterator[tuple[str, str, str | None]]:
    """(title, plain text, label or None) of each item of a JSON Lines file (.gz allowed)."""
    for _, item in read_objects(path):
        title = html_to_text(str(item.get("title") or ""))
        text = html_to_text(str(item.get("text") or item.get("summary") or
                                 item.get("description") or item.get("content") or ""))
        yield title, text, item.get("label")


def _is_jsonl(path: Path) -> bool:
    if path.suffix in (".jsonl", ".ndjson", ".gz", ".json"):
        return True
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(1).strip() == "{"
    except OSError as exc:
        raise DraftInputError(f"{path}: {exc.strerror or exc}") from None


def read_examples(paths: Iterable[Path | str]) -> list[tuple[str, str]]:
    """(title, text) of each example: a text file (first line = title) or each JSON Lines item."""
    examples = []
    for path in map(Path, paths):
        if _is_jsonl(path):
            examples.extend((title, text) for title, text, _ in iter_jsonl(path) if title or text)
            continue
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DraftInputError(f"{path}: {exc.strerror or exc}") from None
        if "<" in raw and re.search(r"</?(p|div|br|html|body|span|a)\b", raw, re.IGNORECASE):
            raw = html_to_text(raw)
        title, _, text = raw.strip().partition("\n")
        if title.strip() or text.strip():
            examples.append((title.strip(), text.strip()))
    if not examples:
        raise DraftInputError("no example articles to learn from")
    return examples


def count_words(items: Iterable[tuple[str, str]]) -> Counter:
    """Folded words of the items and how often each occurs; words with digits are left out."""
    counts: Counter = Counter()
    for title, text in items:
        counts.update(w for w in fold(_undot(f"{title}\n{text}")).split()
                      if w.isalpha())
    return counts


def write_background(counts: Counter, path: Path, top: int = 25000, min_count: int = 3) -> int:
    """Write the `top` most frequent words seen at least `min_count` times; return how many."""
    kept = [(w, n) for w, n in counts.most_common() if n >= min_count and w.isalpha()][:top]
    path.parent.mkdir(parents=True, exist_ok=True)
    total = sum(counts.values())
    with path.open("w", encoding="utf-8") as out:
        out.write(f"# word\tcount; folded words of general news, {total} words counted\n")
        out.writelines(f"{w}\t{n}\n" for w, n in kept)
    return len(kept)


def read_background(path: Path | str | None = None) -> dict[str, int]:
    """A word-count table (word<TAB>count) or a corpus to count (JSON Lines or plain text)."""
    path = Path(path) if path else DEFAULT_BACKGROUND
    if _is_jsonl(path):
        return dict(count_words((t, x) for t, x, _ in iter_jsonl(path)))
    try:
        raw = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DraftInputError(f"{path}: {exc.strerror or exc}") from None
    lines = [line for line in raw.splitlines() if line.strip() and not line.startswith("#")]
    if lines and all(re.fullmatch(r"[^\t]+\t\d+\s*", line) for line in lines[:50]):
        return parse_word_counts(lines)
    return dict(count_words([("", raw)]))


def _undot(text: str) -> str:
    """"U.S." -> "US", so that acronyms stay one word."""
    return _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), text)
