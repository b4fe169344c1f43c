"""Draft a profile from example articles (`monitor profile learn`): a starting point to edit.

    examples --> sentences --> folded words and 1-3 word phrases ---+--> event / topic groups
             +--> capitalised names + context (gazetteer, cue words) +--> place / target / actor
    background word counts (what ordinary news says) ---------------/
                                                      --> rules, thresholds --> commented YAML

A word counts when it is in many of the examples (document frequency counts most) and much
more frequent there than in the background table (log-odds of the two rates). Phrases are kept
when their words stick together and are distinctive. Capitalised names ("Kataib Hezbollah",
"Ain al-Asad") are sorted by a small generic gazetteer of countries and by the words around
them: "in/near/from X" is a place, "X base/embassy/airport" a target, "X militia/group/brigades"
an actor. Nothing here knows about any particular incident type.

The background table (`monitor/data/background.tsv`, built by scripts/build_background.py) is
word<TAB>count of folded words from general news; `--background` takes a table of the same
format or a corpus (JSON Lines items with title/text, or plain text) to count.
"""

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .jsonl import read_objects
from .text import fold, fold_cased, html_to_text, split_sentences

DEFAULT_BACKGROUND = Path(__file__).with_name("data") / "background.tsv"


class DraftInputError(InputError):
    """An example or background file that cannot be read or holds nothing to learn from."""


# --- generic word lists ------------------------------------------------------------------------

STOPWORDS = frozenset("""
a about above after again against all almost also although am among an and another any are
around as at be because been before being below between both but by can could did do does doing
down during each either else even ever every few for from further had has have having he her here
hers herself him himself his how however i if in into is it its itself just least less like
made make many may me might more most much must my myself near neither no nor not now of off
often on once one only onto or other others our ours out over own per perhaps quite rather re
said same say says she should since so some still such than that the their theirs them then there
these they this those though through thus to too toward towards under until up upon us very via
was we were what whatever when where whether which while who whom whose why will with within
without would yet you your yours also s t mr mrs ms new told according amid across including
""".split())

# Capitalised words that start sentences or name times, titles and outlets, not things.
NOT_NAMES = frozenset(fold(w) for w in """
The This That These Those A An It Its He She They We I You His Her Their Our There Here But And
Or If When While After Before As At In On Of For From To By With Without Since During Under Over
According However Meanwhile Also Earlier Later Yesterday Today Tonight Last Next Early Late
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
Mr Mrs Ms Dr President Prime Minister Secretary General Gen Col Lt Sgt Capt Maj Adm Sen Senator
Rep Gov Governor Mayor King Prince Sheikh Chancellor Spokesman Spokeswoman Spokesperson Chief
Reuters AFP AP CNN BBC NBC CBS ABC Fox Guardian Times Post News Press Associated Agency Telegram
Twitter Facebook Instagram YouTube TikTok Google Apple Please Read More Sign Subscribe Cookie
Cookies Privacy Advertisement Share Copyright Breaking Live Video Photo Image Getty Images Watch
""".split())

TITLES = frozenset(fold(w) for w in """
President Prime Minister Secretary Gen General Col Colonel Lt Sgt Capt Captain Maj Major Adm
Admiral Sen Senator Rep Gov Governor Mayor King Prince Sheikh Chancellor spokesman spokeswoman
spokesperson Mr Mrs Ms Dr commander leader chief ambassador envoy minister official
""".split())

# Countries and their adjectives: a generic gazetteer of where things happen.
COUNTRIES = """Afghanistan:Afghan Albania:Albanian Algeria:Algerian Angola:Angolan Argentina:Argentine
Armenia:Armenian Australia:Australian Austria:Austrian Azerbaijan:Azerbaijani Bahrain:Bahraini
Bangladesh:Bangladeshi Belarus:Belarusian Belgium:Belgian Bolivia:Bolivian Bosnia:Bosnian
Brazil:Brazilian Bulgaria:Bulgarian Burkina_Faso:Burkinabe Cambodia:Cambodian Cameroon:Cameroonian
Canada:Canadian Chad:Chadian Chile:Chilean China:Chinese Colombia:Colombian Congo:Congolese
Croatia:Croatian Cuba:Cuban Cyprus:Cypriot Czech_Republic:Czech Denmark:Danish Djibouti:Djiboutian
Ecuador:Ecuadorian Egypt:Egyptian Eritrea:Eritrean Estonia:Estonian Ethiopia:Ethiopian
Finland:Finnish France:French Georgia:Georgian Germany:German Ghana:Ghanaian Greece:Greek
Guatemala:Guatemalan Haiti:Haitian Honduras:Honduran Hungary:Hungarian India:Indian
Indonesia:Indonesian Iran:Iranian Iraq:Iraqi Ireland:Irish Israel:Israeli Italy:Italian
Japan:Japanese Jordan:Jordanian Kazakhstan:Kazakh Kenya:Kenyan Kosovo:Kosovar Kuwait:Kuwaiti
Kyrgyzstan:Kyrgyz Latvia:Latvian Lebanon:Lebanese Libya:Libyan Lithuania:Lithuanian
Malaysia:Malaysian Mali:Malian Mexico:Mexican Moldova:Moldovan Mongolia:Mongolian
Morocco:Moroccan Mozambique:Mozambican Myanmar:Burmese Nepal:Nepalese Netherlands:Dutch
New_Zealand:New_Zealander Nicaragua:Nicaraguan Niger:Nigerien Nigeria:Nigerian North_Korea:North_Korean
Norway:Norwegian Oman:Omani Pakistan:Pakistani Palestine:Palestinian Panama:Panamanian Peru:Peruvian
Philippines:Filipino Poland:Polish Portugal:Portuguese Qatar:Qatari Romania:Romanian Russia:Russian
Rwanda:Rwandan Saudi_Arabia:Saudi Senegal:Senegalese Serbia:Serbian Slovakia:Slovak
Somalia:Somali South_Africa:South_African South_Korea:South_Korean South_Sudan:South_Sudanese
Spain:Spanish Sri_Lanka:Sri_Lankan Sudan:Sudanese Sweden:Swedish Switzerland:Swiss Syria:Syrian
Taiwan:Taiwanese Tajikistan:Tajik Tanzania:Tanzanian Thailand:Thai Tunisia:Tunisian Turkey:Turkish
Turkmenistan:Turkmen Uganda:Ugandan Ukraine:Ukrainian United_Arab_Emirates:Emirati
United_Kingdom:British Uruguay:Uruguayan Uzbekistan:Uzbek Venezuela:Venezuelan Vietnam:Vietnamese
Yemen:Yemeni Zambia:Zambian Zimbabwe:Zimbabwean United_States:American US:American"""
_COUNTRY_OF: dict[str, str] = {}
for _pair in COUNTRIES.split():
    _country, _adjective = (part.replace("_", " ") for part in _pair.split(":"))
    for _spelling in (_country, _adjective, _adjective + "s"):
        _COUNTRY_OF[fold(_spelling)] = _country
REGIONS = frozenset(fold(w) for w in ("Middle East", "Europe", "Africa", "Asia", "Latin America",
                                      "Gulf", "Persian Gulf", "Balkans", "Caucasus", "Sahel",
                                      "Levant", "Kurdistan", "Gaza", "West Bank", "Crimea"))

# Words around a name that say what it is.
PLACE_BEFORE = frozenset("in near at from across outside inside into to toward towards throughout "
                         "northern southern eastern western northeastern northwestern southeastern "
                         "southwestern central province city town village region district "
                         "capital border".split())
PLACE_WORDS = frozenset("province city town village region district governorate county state "
                        "border river valley mountains mountain island islands sea lake bay coast "
                        "desert peninsula area neighbourhood neighborhood suburb".split())
TARGET_HEADS = frozenset("base bases airbase airbases embassy embassies consulate airport airports "
                         "compound camp camps facility facilities garrison outpost installation "
                         "installations port station barracks headquarters mission field fields "
                         "plant refinery pipeline bridge tower hospital school convoy patrol "
                         "checkpoint office offices".split())
PERSONNEL_HEADS = frozenset("forces troops soldiers personnel servicemen service members "
                            "marines sailors airmen contractors diplomats staff workers "
                            "civilians residents".split())
ACTOR_CUES = frozenset("militia militias group groups brigade brigades faction factions forces "
                       "movement army guard guards party front organisation organization rebels "
                       "fighters insurgents militants resistance network cell gunmen backed "
                       "aligned linked affiliated allied sponsored claimed claims".split())
ATTACK_PREPOSITIONS = frozenset("on against at targeting targeted toward towards hit struck "
                                "near".split())
EVENT_CUES = frozenset("attack strike fire blast explosion bomb shoot shooting clash raid kill "
                       "wound injure storm burn flood quake earthquake collapse crash evacuate "
                       "hit launch target intercept shell spread destroy damage".split())
_BACKED = frozenset("backed aligned linked affiliated allied sponsored supported funded".split())

_DOTTED = re.compile(r"\b([A-Z])\.([A-Z])\.(?:([A-Z])\.)?")
_CAPWORD = r"(?:(?:al|el|ad|an|as|ash|az|ez|at)[-\u2010\u2011])?[A-Z][A-Za-z'\u2019]*(?:-[A-Za-z][A-Za-z'\u2019]*)*"
_NAME = re.compile(rf"{_CAPWORD}(?:\s+(?:(?:of|bin|ibn|de|del|du|la|le|van|von|the)\s+)?{_CAPWORD})*"
                   r"(?:\s+\d{1,3}\b)?")


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
        table: dict[str, int] = {}
        for line in lines:
            word, _, count = line.rpartition("\t")
            if count.strip().isdigit():
                for folded in fold(word).split():
                    table[folded] = table.get(folded, 0) + int(count)
        return table
    return dict(count_words([("", raw)]))


def _undot(text: str) -> str:
    """"U.S." -> "US", so that acronyms stay one word."""
    return _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), text)


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


# --- the YAML --------------------------------------------------------------------------------

ROLE_WEIGHT = {"event": 0.25, "topic": 0.2, "target": 0.25, "place": 0.15, "actor": 0.15}
ROLE_NOTE = {
    "event": "what happens: distinctive verbs and event nouns of the examples",
    "topic": "what it involves: distinctive things and means named in the examples",
    "target": "whom or what it hits: facilities and people attacked or affected",
    "place": "where: countries, regions and named places (gazetteer or 'in/near/from X')",
    "actor": "who does it: named groups ('X militia', 'X-backed', 'claimed by X')",
}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def draft_profile(examples: list[tuple[str, str]], background: dict[str, int] | None = None,
                  name: str = "draft") -> str:
    """A commented YAML profile drafted from (title, text) examples; load_profile accepts it
    when saved as NAME.yaml. `background` maps folded words to counts (None = the shipped table)."""
    if not examples:
        raise DraftInputError("no example articles to learn from")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise DraftInputError(f"profile name {name!r}: use lower-case letters, digits, - and _")
    if background is None:
        background = read_background(DEFAULT_BACKGROUND)
    groups = _build(examples, background)
    if not groups:
        raise DraftInputError("the examples have no words or names in common to build a profile "
                              "from; give more (or longer) examples")

    salience = {role: sum(c.df for c in cs[:5]) for role, cs in groups.items()}
    what = [r for r in ("event", "topic") if r in groups]
    others = sorted((r for r in ("target", "place", "actor") if r in groups),
                    key=lambda r: (-salience[r], r))
    total = sum(ROLE_WEIGHT[r] for r in groups)
    weights = {r: round(ROLE_WEIGHT[r] / total, 2) for r in groups}
    head = [what] if what else [others.pop(0)] if others else []
    incident_groups = head + others[:2]
    related_groups = head + others[:1] if len(head + others) >= 2 else incident_groups

    def requirement_weight(req):
        return min(weights[g] for g in req) if isinstance(req, list) else weights[req]

    def threshold(reqs, strength):
        return round(min(0.9, 0.2 + 0.75 * strength * sum(map(requirement_weight, reqs))), 2)

    incident = threshold(incident_groups, 0.6)
    related = min(incident - 0.05, threshold(related_groups, 0.5))

    out = [f"# DRAFT profile learned from {len(examples)} example article(s) by "
           f"`monitor profile learn`.",
           "# It is a starting point, not a finished profile: read every group, delete terms that",
           "# are page junk or belong to one story only, add spellings and negatives, then check",
           "#   monitor check        (validates the file)",
           "#   monitor score FILE   (shows how a text scores and why)",
           "#   monitor eval FILE    (precision and recall on labelled items)",
           "# Terms are folded before matching (case, accents, apostrophes, hyphens and 'al-' do not",
           "# matter); 'word*' matches any word starting so; a word in capitals ('US') matches only",
           "# in capitals. Comments after a term say in how many examples it was seen.",
           f"name: {name}",
           f"description: {_q('Draft learned from ' + str(len(examples)) + ' examples; describe the incident type here.')}",
           "", "thresholds:", f"  incident: {incident}", f"  related: {related}",
           "body_weight: 0.75", "cooccurrence_bonus: 0.2", "", "groups:"]
    for role, candidates in groups.items():
        out.append(f"  # {role}: {ROLE_NOTE[role]}")
        out += [f"  {role}:", f"    weight: {weights[role]}", "    terms:"]
        best = max(c.score for c in candidates)
        for c in candidates:
            parts = [f"name: {_q(c.name)}"]
            aliases = [a for a in c.aliases if a != c.name]
            if aliases:
                parts.append(f"aliases: [{', '.join(map(_q, aliases))}]")
            weight = _weight(c.score, best)
            if weight != 1.0:
                parts.append(f"weight: {weight}")
            out.append(f"      - {{{', '.join(parts)}}}  # in {c.df}/{len(examples)} examples")
    out += ["", "rules:",
            "  # An incident: the strongest groups together within two sentences.",
            "  - name: draft-incident", "    class: incident",
            f"    groups: {_flow(incident_groups)}", "    within: 2",
            "  # Related news: the two strongest groups anywhere in the item.",
            "  - name: draft-related", "    class: related",
            f"    groups: {_flow(related_groups)}", "    within: 0", "",
            "# Terms that mark look-alike news to push down (other places, sports, ...), e.g.",
            "#   - {name: football, aliases: [soccer, league], weight: 0.5}",
            "negatives: []", ""]
    return "\n".join(out)


def _flow(requirements) -> str:
    return "[" + ", ".join(f"[{', '.join(r)}]" if isinstance(r, list) else r
                           for r in requirements) + "]"
