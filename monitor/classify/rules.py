"""Score an item against a profile with one multi-pattern automaton over folded text.

Every spelling of every term is folded and put in one Aho-Corasick automaton, wrapped in spaces
so that it only matches whole words ("tanf" does not match inside "stanford"); prefix terms
("attack*") drop the trailing space. Text is folded sentence by sentence, the headline being
sentence 0, and sentences are joined by " | " so that no term spans two of them. The sentences
of an article page's text (after text.ARTICLE_BREAK) follow those of the feed's text; the verdict
says where they start, so that its evidence can tell what only the page said.

score = sum over groups of weight x best term weight (x `body_weight` if not in the headline),
plus `cooccurrence_bonus` when a rule's groups meet within its sentence window,
minus negatives (full weight in the headline or the rule's window, half elsewhere).
The score is that sum up to LINEAR_UP_TO (0.6); above it the sum is compressed so that the score
keeps growing with every detail but never reaches 1 (`spread`), where a clamp at 1 gave most
incidents 1.00 and left `min_score` nothing to tell apart. Thresholds up to 0.6 mean what they
meant before; the mapping is monotone, so a higher threshold is the same cut at
`spread(old threshold)`.
The class is the strongest rule that fired and whose threshold (and `min_score`) the score
reaches. A hit lying inside a longer hit of a negative or of a `mask` group is dropped first.

Most items match nothing: the whole item is folded once and run through the automaton, and only
when something is found is it split into sentences and scored. A poll wants only labels: it skips
the scoring too when the groups found cannot make any rule fire (`may_fire`), as for most items
that name only a weekday or a place.
"""

import math
from bisect import bisect_right
from dataclasses import dataclass

import ahocorasick

from ..model import Hit, Label, Score
from ..settings.profile import Profile, Rule, Term, is_acronym
from ..text import fold_cased, split_article, split_sentences

_NEGATIVE = "-negative"
_SEPARATOR = " | "
LINEAR_UP_TO = 0.6
_KEPT_ANSWERS = 4096  # may_fire's, at most


def spread(total: float) -> float:
    """The score of a summed weight: the sum itself up to LINEAR_UP_TO, then a curve with the
    same slope there that approaches 1 without reaching it (1.15 -> 0.90, 1.55 -> 0.96)."""
    total = max(0.0, total)
    if total <= LINEAR_UP_TO:
        return total
    room = 1.0 - LINEAR_UP_TO
    return LINEAR_UP_TO + room * (1.0 - math.exp(-(total - LINEAR_UP_TO) / room))


@dataclass(frozen=True)
class _Pattern:
    group: str
    term: str
    weight: float
    cased: tuple[tuple[int, str], ...]  # (offset, word): capitalised words that must match exactly
    length: int  # of the automaton key, leading space included
    trailing: bool  # the key ends with a space (whole word), not counted in the hit


@dataclass(frozen=True)
class FoldedText:
    cased: str
    lower: str
    sentence_starts: tuple[int, ...]
    article_from: int | None = None  # the first sentence of the article page's text, if any

    @classmethod
    def of(cls, title: str, text: str) -> "FoldedText":
        feed_text, article = split_article(text)
        sentences = [title] + split_sentences(feed_text) if title else split_sentences(feed_text)
        article_from = len(sentences) if article else None
        sentences += split_sentences(article)
        parts, starts, offset = [], [], 1
        for sentence in sentences:
            folded = fold_cased(sentence)
            starts.append(offset)
            parts.append(folded)
            offset += len(folded) + len(_SEPARATOR)
        cased = " " + _SEPARATOR.join(parts) + " "
        return cls(cased, cased.lower(), tuple(starts), article_from)

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
        self._masking = {name for name, group in profile.groups.items() if group.mask} | {_NEGATIVE}
        for group_name, group in profile.groups.items():
            for term in group.terms:
                self._add(group_name, term)
        for term in profile.negatives:
            self._add(_NEGATIVE, term)
        self._automaton.make_automaton()
        # incident rules are tried first, each class in file order; each with its groups, read
        # once rather than for every item
        self._rules = [(rule, rule.requirements()) for rule in
                       sorted(profile.rules, key=lambda rule: rule.label != Label.INCIDENT)]
        self._may_fire: dict[frozenset[str], bool] = {}
        self._incident_core = {group for rule in profile.rules if rule.label == Label.INCIDENT
                               for alternatives in rule.requirements() for group in alternatives}

    def _add(self, group: str, term: Term) -> None:
        for spelling in term.spellings():
            prefix = spelling.endswith("*")
            folded = " " + fold_cased(spelling.rstrip("*")) + ("" if prefix else " ")
            cased = _capitals(folded)
            patterns = self._automaton.get(folded.lower(), [])
            patterns.append(_Pattern(group, term.name, term.weight, cased, len(folded), not prefix))
            self._automaton.add_word(folded.lower(), patterns)

    def _matches(self, cased: str, lower: str):
        """(start, end, pattern) of every whole-word match; end excludes the trailing space."""
        for end, patterns in self._automaton.iter(lower):
            for pattern in patterns:
                start = end - pattern.length + 1  # the space before the word
                if pattern.cased and any(cased[start + offset:start + offset + len(word)] != word
                                         for offset, word in pattern.cased):
                    continue
                yield start + 1, end + 1 - pattern.trailing, pattern

    def hits(self, folded: FoldedText) -> list[Hit]:
        found = [Hit(p.group, p.term, folded.sentence_of(start), start, end)
                 for start, end, p in self._matches(folded.cased, folded.lower)]
        masks = [(h.start, h.end) for h in found if h.group in self._masking]
        if not masks:
            return found
        return [h for h in found if not any(s <= h.start and h.end <= e and e - s > h.end - h.start
                                            for s, e in masks)]

    def groups_anywhere(self, title: str, text: str) -> frozenset[str]:
        """The groups with a term anywhere in the item, from the whole item folded at once: a
        cheap first look. Masks are not applied, so the groups of any hit `score` counts are
        among these."""
        cased = " " + fold_cased(title + "\n" + text) + " "
        return frozenset(p.group for _, _, p in self._matches(cased, cased.lower()))

    def prefilter(self, title: str, text: str) -> bool:
        """A cheap first look (is an article page worth reading?): does a term of a group that an
        incident rule requires occur at all (in the shipped profile: an attack word, a weapon or a
        US target)? Groups a rule only wants nearby (a weekday, a place, a casualty word) do not
        count: nearly every other headline has one."""
        return not self._incident_core.isdisjoint(self.groups_anywhere(title, text))

    def may_fire(self, groups: frozenset[str]) -> bool:
        """Whether some rule's groups are all among `groups` (from groups_anywhere): without that
        no rule fires and the label is `none` whatever the score. Items bring few distinct sets
        of groups, so the answers are kept."""
        known = self._may_fire.get(groups)
        if known is None:
            if len(self._may_fire) >= _KEPT_ANSWERS:
                self._may_fire.clear()
            known = self._may_fire[groups] = any(_covers(requirements, groups)
                                                 for _, requirements in self._rules)
        return known

    def score(self, title: str, text: str = "") -> Score:
        if not self.groups_anywhere(title, text):
            return Score(self.profile.name, Label.NONE, 0.0)
        folded = FoldedText.of(title, text)
        all_hits = self.hits(folded)
        hits = [h for h in all_hits if h.group != _NEGATIVE]
        negatives = [h for h in all_hits if h.group == _NEGATIVE]
        has_title = bool(title)

        by_sentence: dict[int, set[str]] = {}
        for hit in hits:
            by_sentence.setdefault(hit.sentence, set()).add(hit.group)
        base = self._concept_score(hits, has_title)
        present = set().union(*by_sentence.values())
        fired = [(rule, window) for rule, requirements in self._rules
                 if _covers(requirements, present)
                 and (window := _window(rule, requirements, by_sentence, has_title)) is not None]
        best_window = min((w for _, w in fired), key=lambda w: w[1] - w[0], default=None)
        bonus = self.profile.cooccurrence_bonus if fired else 0.0
        penalty = self._penalty(negatives, best_window, has_title)
        value = min(0.9999, round(spread(base + bonus - penalty), 4))  # 4 places never round to 1

        label, rule_name = Label.NONE, None
        for rule, _ in fired:
            if value >= max(getattr(self.profile.thresholds, rule.label), rule.min_score):
                label, rule_name = rule.label, rule.name
                break
        return Score(self.profile.name, label, value, rule_name, tuple(hits), tuple(negatives),
                     article_from=folded.article_from)

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


def _capitals(folded: str) -> tuple[tuple[int, str], ...]:
    """Words of a folded spelling written in capitals ("US", "PMF"): they match only in capitals."""
    found, offset = [], 0
    for word in folded.split(" "):
        if is_acronym(word):
            found.append((offset, word))
        offset += len(word) + 1
    return tuple(found)


def _covers(requirements, groups: set[str]) -> bool:
    return all(not groups.isdisjoint(alternatives) for alternatives in requirements)


def _window(rule: Rule, requirements, by_sentence: dict[int, set[str]],
            has_title: bool) -> tuple[int, int] | None:
    """(first, last) sentence of the tightest window where the rule holds, if there is one."""
    near = rule.near_requirements()
    unless = set(rule.unless)
    if unless and has_title and not unless.isdisjoint(by_sentence.get(0, ())):
        return None
    sentences = sorted(by_sentence)
    best = None
    for i, first in enumerate(sentences):
        if rule.in_title and not (has_title and first == 0):
            break
        covered: set[str] = set()
        for last in sentences[i:]:
            if rule.within and last - first + 1 > rule.within:
                break
            if best is not None and last - first >= best[1] - best[0]:
                break
            covered |= by_sentence[last]
            if unless and not unless.isdisjoint(covered):
                break
            if _covers(requirements, covered) and (
                    not near or _covers(near, _near_groups(rule, by_sentence, first, last, has_title))):
                best = (first, last)
                break
    return best


def _near_groups(rule: Rule, by_sentence, first: int, last: int, has_title: bool) -> set[str]:
    distance = rule.near_distance
    groups: set[str] = set()
    for sentence, found in by_sentence.items():
        if (distance is None or first - distance <= sentence <= last + distance
                or (has_title and sentence == 0)):
            groups |= found
    return groups
