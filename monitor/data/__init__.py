"""Data files shipped with the package: the background word counts of general news."""

from functools import lru_cache
from pathlib import Path

from ..text import fold

BACKGROUND = Path(__file__).parent / "background.tsv"


def parse_word_counts(lines: list[str]) -> dict[str, int]:
    """word<TAB>count lines (comments and blanks already dropped) as folded word -> count."""
    table: dict[str, int] = {}
    for line in lines:
        word, _, count = line.rpartition("\t")
        if count.strip().isdigit():
            for folded in fold(word).split():
                table[folded] = table.get(folded, 0) + int(count)
    return table


@lru_cache(maxsize=1)
def background_counts() -> tuple[dict[str, int], int]:
    """The shipped table and its total: how common each word is in general news."""
    lines = [line for line in BACKGROUND.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    table = parse_word_counts(lines)
    return table, sum(table.values())
