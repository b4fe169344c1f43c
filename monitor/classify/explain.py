"""`monitor score --explain`: the folded text with every matched term marked by its group."""

from ..model import Hit, Score
from .rules import FoldedText
from .scorer import ProfileScorer

_SEPARATOR = " | "


def explain(scorer: ProfileScorer, title: str, text: str, verdict: Score) -> str:
    folded = FoldedText.of(title, text)
    hits = scorer.rules.hits(folded)
    marked = _mark(folded.cased, hits)
    lines = []
    for number, sentence in enumerate(marked.strip().split(_SEPARATOR)):
        label = "headline" if number == 0 and title else f"sentence {number}"
        lines.append(f"  {label:>11}: {sentence.strip()}")
    negatives = sorted({h.term for h in verdict.negatives})
    lines += ["", f"rule fired: {verdict.rule or 'none'}",
              f"negatives:  {', '.join(negatives) if negatives else 'none'}"]
    if verdict.probability is not None:
        lines.append(f"learned layer: p={verdict.probability:.2f}")
    lines.append(f"class {verdict.label}, score {verdict.score:.2f}, decided by {verdict.layer}")
    return "\n".join(lines)


def longest_first(hits: list[Hit]) -> list[Hit]:
    """The hits to mark, in text order: of overlapping hits the longest (earliest) wins."""
    chosen, taken_until = [], -1
    for hit in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
        if hit.start >= taken_until:
            chosen.append(hit)
            taken_until = hit.end
    return chosen


def _mark(text: str, hits: list[Hit]) -> str:
    """Wrap each hit as [words]{group}."""
    for hit in reversed(longest_first(hits)):
        group = "NOT " + hit.term if hit.group.startswith("-") else hit.group
        text = f"{text[:hit.start]}[{text[hit.start:hit.end]}]{{{group}}}{text[hit.end:]}"
    return text
