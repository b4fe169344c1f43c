"""Score an item against a profile with one multi-pattern automaton over folded text.

Every spelling of every term is folded and put in one Aho-Corasick automaton, wrapped in spaces
so that it only matches whole words ("tanf" does not match inside "stanford"); prefix terms
("attack*") drop the trailing space. Text is folded sentence by sentence, the headline being
sentence 0, and sentences are joined by " | " so that no term spans two of them.

score = sum over groups of weight x best term weight (x `body_weight` if not in the headline),
plus `cooccurrence_bonus` when a rule's groups meet within its sentence window,
minus negatives (full weight in the headline or the rule's window, half elsewhere).
The class is the strongest rule that fired and whose threshold the score reaches.
"""

from bisect import bisect_right
from dataclasses import dataclass

import ahocorasick

from .datatypes import Hit, Score
from .profile import Profile, Rule, Term, is_acronym
from .text import fold_cased, split_sentences

_NEGATIVE = "-negative"
_SEPARATOR = " | "


@dataclass(frozen=True)
class _Pattern:
    group: str
    term: str
    weight: float
    cased: str | None  # for acronyms: the exact capitals the text must have
    length: int  # of the automaton key, leading space included


@dataclass(frozen=True)
class FoldedText:
    cased: str
    lower: str
    sentence_starts: tuple[int, ...]

    @classmethod
    def of(cls, title: str, text: str) -> "FoldedText":
        sentences = [title] + split_sentences(text) if title else split_sentences(text)
        parts, starts, offset = [], [], 1
        for sentence in sentences:
            folded = fold_cased(sentence)
            starts.append(offset)
            parts.append(folded)
            offset += len(folded) + len(_SEPARATOR)
        cased = " " + _SEPARATOR.join(parts) + " "
        return cls(cased, cased.lower(), tuple(starts))

    def sentence_of(self, position: int) -> int:
        return bisect_right(self.sentence_starts, position) - 1


class Classifier:
    """A compiled profile. Build once, call `score` for each item."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._automaton = ahocorasick.Automaton()
        self._weights = {(name, term.name): term.weight
                         for name, group in profile.groups.items() for term in group.terms}
        self._weights.update({(_NEGATIVE, term.name): term.weight for term in profile.negatives})
        for group_name, group in profile.groups.items():
            for term in group.terms:
                self._add(group_name, term)
        for term in profile.negatives:
            self._add(_NEGATIVE, term)
        self._automaton.make_automaton()

    def _add(self, group: str, term: Term) -> None:
        for spelling in term.spellings():
            prefix = spelling.endswith("*")
            folded = " " + fold_cased(spelling.rstrip("*")) + ("" if prefix else " ")
            cased = folded if is_acronym(spelling) else None
            patterns = self._automaton.get(folded.lower(), [])
            patterns.append(_Pattern(group, term.name, term.weight, cased, len(folded)))
            self._automaton.add_word(folded.lower(), patterns)

    def hits(self, folded: FoldedText) -> list[Hit]:
        found = []
        for end, patterns in self._automaton.iter(folded.lower):
            for pattern in patterns:
                start = end - pattern.length + 1  # the space before the word
                if pattern.cased and folded.cased[start:end + 1] != pattern.cased:
                    continue
                found.append(Hit(pattern.group, pattern.term, folded.sentence_of(start + 1),
                                 start + 1, end + 1))
        return found

    def score(self, title: str, text: str = "") -> Score:
        folded = FoldedText.of(title, text)
        all_hits = self.hits(folded)
        hits = [h for h in all_hits if h.group != _NEGATIVE]
        negatives = [h for h in all_hits if h.group == _NEGATIVE]
        has_title = bool(title)

        base = self._concept_score(hits, has_title)
        fired = [(rule, window) for rule in self.profile.rules
                 if (window := _window(rule, hits)) is not None]
        best_window = min((w for _, w in fired), key=lambda w: w[1] - w[0], default=None)
        bonus = self.profile.cooccurrence_bonus if fired else 0.0
        penalty = self._penalty(negatives, best_window, has_title)
        value = round(min(1.0, max(0.0, base + bonus - penalty)), 4)

        label, rule_name = "none", None
        for rule, _ in sorted(fired, key=lambda pair: pair[0].label == "incident", reverse=True):
            if value >= getattr(self.profile.thresholds, rule.label):
                label, rule_name = rule.label, rule.name
                break
        return Score(self.profile.name, label, value, rule_name, tuple(hits), tuple(negatives))

    def _concept_score(self, hits: list[Hit], has_title: bool) -> float:
        """Each group counts its best term; a group seen only below the headline counts less."""
        best: dict[str, float] = {}
        for hit in hits:
            factor = 1.0 if has_title and hit.sentence == 0 else self.profile.body_weight
            weight = self._weights[(hit.group, hit.term)] * factor
            best[hit.group] = max(best.get(hit.group, 0.0), weight)
        return sum(self.profile.groups[name].weight * value for name, value in best.items())

    def _penalty(self, negatives: list[Hit], window, has_title: bool) -> float:
        counted: dict[str, float] = {}
        for hit in negatives:
            near = (has_title and hit.sentence == 0) or (
                window is not None and window[0] <= hit.sentence <= window[1])
            counted[hit.term] = max(counted.get(hit.term, 0.0),
                                    self._weights[(_NEGATIVE, hit.term)] * (1.0 if near else 0.5))
        return min(self.profile.negative_cap, sum(counted.values()))


def _window(rule: Rule, hits: list[Hit]) -> tuple[int, int] | None:
    """(first, last) sentence of the tightest span holding all the rule's groups, if it fits."""
    wanted = set(rule.groups)
    by_sentence: dict[int, set[str]] = {}
    for hit in hits:
        if hit.group in wanted:
            by_sentence.setdefault(hit.sentence, set()).add(hit.group)
    sentences = sorted(by_sentence)
    best = None
    for i, first in enumerate(sentences):
        covered: set[str] = set()
        for last in sentences[i:]:
            covered |= by_sentence[last]
            if covered == wanted:
                if best is None or last - first < best[1] - best[0]:
                    best = (first, last)
                break
    if best is None or (rule.within and best[1] - best[0] + 1 > rule.within):
        return None
    return best
