"""Candidate terms from the examples: n-gram statistics against the background, capitalised
names and their roles, and the event / topic / target / place / actor groups built from them."""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...text import fold, fold_cased, split_sentences
from .corpus import _undot
from .words import (
    _BACKED,
    _COUNTRY_OF,
    _DOTTED,
    _NAME,
    ACTOR_CUES,
    ATTACK_PREPOSITIONS,
    EVENT_CUES,
    NOT_NAMES,
    PERSONNEL_HEADS,
    PLACE_BEFORE,
    PLACE_WORDS,
    REGIONS,
    STOPWORDS,
    TARGET_HEADS,
    TITLES,
)

# --- statistics over the examples ------------------------------------------------------------

@dataclass
class _Stats:
    docs: int = 0
    words: int = 0
    tf: Counter = field(default_factory=Counter)      # n-gram -> occurrences
    df: Counter = field(default_factory=Counter)      # n-gram -> examples holding it
    cased: dict = field(default_factory=lambda: defaultdict(Counter))  # n-gram -> surface forms
    before: dict = field(default_factory=lambda: defaultdict(Counter))  # n-gram -> word before
    after: dict = field(default_factory=lambda: defaultdict(Counter))
    dotted: set = field(default_factory=set)          # acronyms written with dots (U.S.)


def _stop(word: str, cased: str) -> bool:
    return word in STOPWORDS and not cased.isupper()  # "US" is a name, "us" is not


def _sentences(title: str, text: str) -> list[str]:
    return ([title] if title else []) + split_sentences(text)


def _collect(examples: list[tuple[str, str]]) -> _Stats:
    stats = _Stats(docs=len(examples))
    for title, text in examples:
        seen: set[str] = set()
        for sentence in _sentences(title, text):
            stats.dotted.update("".join(g for g in m.groups() if g) for m in _DOTTED.finditer(sentence))
            cased = fold_cased(_undot(sentence)).split()
            lower = [w.lower() for w in cased]
            stats.words += len(lower)
            for n in (1, 2, 3):
                for i in range(len(lower) - n + 1):
                    gram = lower[i:i + n]
                    if (any(not w.isalpha() or len(w) < 2 for w in gram)
                            or _stop(gram[0], cased[i]) or _stop(gram[-1], cased[i + n - 1])):
                        continue
                    key = " ".join(gram)
                    stats.tf[key] += 1
                    seen.add(key)
                    stats.cased[key][" ".join(cased[i:i + n])] += 1
                    if i:
                        stats.before[key][lower[i - 1]] += 1
                    if i + n < len(lower):
                        stats.after[key][lower[i + n]] += 1
        stats.df.update(seen)
    return stats


class _Rarity:
    """Log-odds of a word in the examples against the background, smoothed."""

    def __init__(self, stats: _Stats, background: dict[str, int]):
        self.stats, self.background = stats, background
        self.total = max(1, sum(background.values()))
        self.floor = min(background.values(), default=1)  # a word missing is rarer than any listed

    def __call__(self, word: str) -> float:
        here = (self.stats.tf[word] + 0.5) / max(1, self.stats.words)
        there = (self.background.get(word, 0) or self.floor * 0.5) / self.total
        return math.log(here / there)

    def phrase(self, gram: str) -> float:
        content = [w for w in gram.split() if w not in STOPWORDS] or gram.split()
        return sum(map(self, content)) / len(content)


@dataclass
class _Candidate:
    key: str            # folded
    name: str           # as written
    df: int
    tf: int
    score: float
    aliases: tuple[str, ...] = ()


def _display(stats: _Stats, key: str) -> str:
    return stats.cased[key].most_common(1)[0][0] if stats.cased.get(key) else key


def _with_dots(name: str, stats: _Stats) -> tuple[str, ...]:
    """"US forces" also as "U.S. forces" when the examples write it so."""
    words = name.split()
    if not any(w in stats.dotted for w in words):
        return ()
    return (" ".join(".".join(w) + "." if w in stats.dotted else w for w in words),)


# --- names -----------------------------------------------------------------------------------

def _names(examples: list[tuple[str, str]]) -> dict[str, dict]:
    """Capitalised names with counts and role votes from the words around them."""
    found: dict[str, dict] = {}
    for index, (title, text) in enumerate(examples):
        for sentence in _sentences(title, text):
            sentence = _undot(sentence)
            if sum(w[:1].isupper() for w in sentence.split()) > 0.6 * len(sentence.split()) > 3:
                continue  # a headline in title case says nothing about what is a name
            for match in _NAME.finditer(sentence):
                words = match.group(0).split()
                while words and (fold(words[0]) in NOT_NAMES or fold(words[0]) in STOPWORDS):
                    words.pop(0)
                while words and (fold(words[-1]) in NOT_NAMES or fold(words[-1]) in STOPWORDS):
                    words.pop()
                if not words:
                    continue
                name = " ".join(words)
                key = fold(name)
                if not key or len(key) < 3 or key in STOPWORDS:
                    continue
                start = match.start() + match.group(0).find(words[0])
                before = fold(sentence[:start]).split()[-3:]
                after = fold(sentence[start + len(name):]).split()[:3]
                entry = found.setdefault(key, {"forms": Counter(), "docs": set(), "tf": 0,
                                               "votes": Counter(), "in": 0})
                entry["in"] += bool(before) and before[-1] in PLACE_BEFORE
                entry["forms"][name] += 1
                entry["docs"].add(index)
                entry["tf"] += 1
                _vote(entry["votes"], key, before, after)
    return found


def _vote(votes: Counter, key: str, before: list[str], after: list[str]) -> None:
    words = key.split()
    if key in _COUNTRY_OF or key in REGIONS:
        votes["place"] += 3
    if before and before[-1] in TITLES or after[:1] in (["said"], ["told"]) and len(words) == 2:
        votes["person"] += 2
    if words[-1] in PLACE_WORDS or before[-1:] and before[-1] in PLACE_BEFORE:
        votes["place"] += 0.5 if before[-1:] and before[-1] in ("to", "at", "from") else 1
    if words[-1] in TARGET_HEADS or after[:1] and after[0] in TARGET_HEADS or \
            after[:2] and after[:2][-1] in TARGET_HEADS and after[0] in ("air", "military", "oil", "gas"):
        votes["target"] += 2
    if any(w in ACTOR_CUES for w in words) or any(w in ACTOR_CUES for w in after[:2]):
        votes["actor"] += 1.5
    if any(w in ACTOR_CUES for w in before[-3:]):
        votes["actor"] += 1
    if before[-1:] and before[-1] in ("by", "claimed"):
        votes["actor"] += 0.5


# --- building the groups ---------------------------------------------------------------------

def _stem(word: str, known: frozenset | set = frozenset()) -> str:
    """Crude: attacked/attacking/attacks -> attack, casualties -> casualty, damaged -> damage."""
    if word.endswith("ies") and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 4:
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            stem = word[:-len(suffix)]
            return stem + "e" if stem + "e" in known else stem
    return word


def _forms(stem: str, seen: Iterable[str], verb: bool) -> list[str]:
    """The forms seen, and the regular ones a verb or a noun also takes."""
    seen = list(seen)
    if stem.endswith("y"):
        plural = stem[:-1] + "ies"
    else:
        plural = stem + ("es" if stem.endswith(("s", "x", "z", "ch", "sh")) else "s")
    extra = [stem] if verb and stem in seen else [stem, plural]
    if verb and stem not in seen:  # only a stem taken from an inflected form is surely a verb
        extra += [stem + "d", stem[:-1] + "ing"] if stem.endswith("e") else [stem + "ed", stem + "ing"]
    return list(dict.fromkeys([*seen, *(w for w in extra if len(w) >= 4)]))


def _weight(value: float, best: float) -> float:
    return round(min(1.0, max(0.5, 0.5 + 0.5 * value / best)) if best > 0 else 1.0, 1)


def _build(examples, background, max_terms: int = 15) -> dict[str, list[_Candidate]]:
    stats = _collect(examples)
    rarity = _Rarity(stats, background)
    docs = stats.docs
    min_df = 1 if docs == 1 else 2
    groups: dict[str, list[_Candidate]] = {"event": [], "topic": [], "target": [], "place": [],
                                           "actor": []}
    taken: set[str] = set()

    # names first: they are the most specific evidence
    for key, entry in _names(examples).items():
        if len(entry["docs"]) < min_df or not entry["votes"]:
            continue
        role, votes = entry["votes"].most_common(1)[0]
        if role == "person" or votes < 1:
            continue
        name = _COUNTRY_OF.get(key) if role == "place" and key in _COUNTRY_OF else \
            entry["forms"].most_common(1)[0][0]
        aliases = tuple(f for f in entry["forms"] if fold(f) != fold(name))
        df = len(entry["docs"])
        score = df / docs * (1 + math.log(entry["tf"]))
        if role == "place":  # "in X", "near X": where things happen, not whose they are
            score *= 0.3 + entry["in"] / entry["tf"]
            if not entry["in"]:
                continue
        groups[role].append(_Candidate(fold(name), name, df, entry["tf"], score, aliases))
        taken.update(key.split())

    # phrases that name a target ("US military base") or an actor ("Iran backed groups")
    for key in stats.tf:
        words = key.split()
        if len(words) < 2 or stats.df[key] < min_df or stats.tf[key] < 2:
            continue
        lift = rarity.phrase(key)
        score = stats.df[key] / docs * max(0.1, lift)
        if words[-1] in TARGET_HEADS | PERSONNEL_HEADS and len(words) <= 3:
            hits = sum(n for w, n in stats.before[key].items() if w in ATTACK_PREPOSITIONS)
            if words[-1] in TARGET_HEADS or hits:
                groups["target"].append(_Candidate(key, _display(stats, key), stats.df[key],
                                                   stats.tf[key], score))
        elif words[-1] in _BACKED or (len(words) == 3 and words[1] in _BACKED) or \
                words[-1] in ACTOR_CUES - _BACKED - {"forces", "claimed", "claims"}:
            groups["actor"].append(_Candidate(key, _display(stats, key), stats.df[key],
                                              stats.tf[key], score))

    # distinctive ordinary words: what happened (verbs, event nouns) and what it involved
    families: dict[str, Counter] = defaultdict(Counter)
    known = background.keys() | {k for k in stats.tf if " " not in k}
    for key, count in stats.tf.items():
        if " " in key or key in STOPWORDS or key in taken or len(key) < 4:
            continue
        if stats.df[key] < min_df or key in _COUNTRY_OF or key in REGIONS:
            continue
        forms = stats.cased[key]
        if sum(n for f, n in forms.items() if f[:1].isupper()) > 0.5 * count:
            continue  # mostly capitalised: a name, handled above or left out
        families[_stem(key, known)][key] += count
    scored = []
    for stem, members in families.items():
        df = max(stats.df[w] for w in members)
        lift = max(rarity(w) for w in members)
        if lift < 1.0:
            continue
        scored.append((df / docs * lift, stem, members))
    scored.sort(reverse=True)
    for score, stem, members in scored[:2 * max_terms]:
        verb_like = any(w.endswith(("ed", "ing")) for w in members) or stem in EVENT_CUES or \
            _stem(stem) in EVENT_CUES
        head = members.most_common(1)[0][0]
        df = max(stats.df[w] for w in members)
        candidate = _Candidate(stem, head, df, sum(members.values()), score,
                               tuple(_forms(stem, members, verb_like)))
        if members.keys() & ACTOR_CUES:
            role = "actor"
        elif members.keys() & (TARGET_HEADS | PERSONNEL_HEADS):
            role = "target"
        else:
            groups["event" if verb_like else "topic"].append(candidate)
            continue
        if df >= docs / 2:  # a lone cue word ("militias", "troops") is weak evidence
            candidate.score *= 0.5
            groups[role].append(candidate)

    for role, candidates in groups.items():
        merged: dict[str, _Candidate] = {}
        for c in sorted(candidates, key=lambda c: (len(c.key.split()), -c.score)):
            plural = " ".join([*c.key.split()[:-1], _stem(c.key.split()[-1])])
            if any(plural == " ".join([*m.split()[:-1], _stem(m.split()[-1])]) and " " not in m
                   for m in merged):
                continue
            if any(f" {m} " in f" {c.key} " or f" {m} " in f" {plural} " for m in merged):
                continue
            twin = next((m for m in merged.values() if len(m.key.split()) > 1 and
                         " ".join([*m.key.split()[:-1], _stem(m.key.split()[-1])]) == plural), None)
            if twin:
                twin.aliases += (c.name,)
                continue
            c.aliases += _with_dots(c.name, stats)
            merged[c.key] = c
        groups[role] = sorted(merged.values(), key=lambda c: -c.score)[:max_terms]
    return {role: cs for role, cs in groups.items() if cs}
