"""An alert's "why" for a reader: one line built from the evidence and the profile's group roles,
e.g. "rocket attack on US base (Deir ez-Zor, Syria), 2 wounded, claimed by Kataib Hezbollah".

Each group of a profile may say what its terms are in that line (`role`, monitor/settings/profile.py):

    <weapon> <event> on <target> (<place>), <casualty>, claimed by <actor> | <actor> named

The event is, of the matched terms of the `event` groups that are not weapons, the first in the
profile's order ("on" is left out after an event ending in a preposition: "fired at"); a `topic`
(what else a report is about: a strike, a threat) leads when there is none: "<topic> — <target>
(<place>)". Groups marked `internal` are never shown; groups without a role that carry weight
add their terms at the end. A profile without any role gives the matched terms of the groups
that carry weight, in order. Casualty
counts ("2 wounded") are taken from the headline and the first sentence of the text, only where
a number stands next to a word for people and a casualty word; otherwise the casualty terms
themselves are shown. The full evidence (group: terms) stays where operators look for it:
`monitor score`, `monitor matches`, the dashboard.
"""

import re

from ..model import ARTICLE
from ..settings.profile import Profile
from ..text import split_sentences

_NUMBER_WORDS = {"a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11",
                 "twelve": "12", "a dozen": "12", "dozens of": "dozens"}
_NUMBER = r"(\d{1,4}|a dozen|dozens of|several|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|an?)"
_PEOPLE = (r"(?:of\s+(?:its|their|the)\s+)?"
           r"(?:(?:US|U\.S\.|American|coalition|British|Iraqi|Syrian|more|other|military|service)\s+){0,2}"
           r"(?:troops?|soldiers?|service\s?members?|servicemen|servicewomen|personnel|contractors?|"
           r"civilians?|people|persons?|Americans?|Marines?|sailors?|airm[ae]n|guards?|workers?)")
_HARM = {"kill": "killed", "dead": "killed", "die": "killed", "wound": "wounded", "injur": "wounded",
         "hurt": "wounded"}
# "two US soldiers were wounded", "11 of its troops had been injured"
_COUNT_BEFORE = re.compile(rf"\b{_NUMBER}\s+{_PEOPLE}\s+(?:were\s+|was\s+|have\s+been\s+|had\s+been\s+)?"
                           r"(killed|dead|died|wounded|injured|hurt)\b", re.IGNORECASE)
# "killed three American soldiers", "wounding 2" (a bare number must end the clause)
_COUNT_AFTER = re.compile(rf"\b(killing|killed|kills|wounding|wounded|wounds|injuring|injured|injures)"
                          rf"\s+(?:at\s+least\s+)?{_NUMBER}(?:\s+(?P<people>{_PEOPLE})\b"
                          r"|(?=\s*(?:$|[,.;:)]|\s(?:and|in|on|at)\b)))", re.IGNORECASE)
# share of the heaviest actor term's weight a term needs to be shown: a named group (IRGC, 0.8)
# shows beside another, a description (Iran-backed 0.7, militia 0.6) does not
ACTOR_SHARE = 0.8
_PREPOSITIONS = {"at", "on", "in", "into", "near", "toward", "towards", "against", "upon", "onto"}


def reason(profile: Profile | None, evidence: dict[str, list[str]], title: str = "", text: str = "") -> str:
    """The one-line why of a match from its evidence as stored (group -> terms, first seen first)
    and the report's headline and text (for casualty counts)."""
    groups = {group: terms for group, terms in evidence.items()
              if group not in ("negative", ARTICLE) and terms}
    if profile is None or not any(group.role for group in profile.groups.values()):
        return ", ".join(_weighted_terms(profile, groups)) or "no terms matched"
    by_role = _by_role(profile, groups)
    events = _first_event(profile, groups, by_role.get("weapon", []))
    topics = by_role.get("topic", [])[:1]
    what = _what(by_role, events, " on ") if events or not topics else _what(by_role, topics, " — ")
    parts = [what, _casualties(by_role.get("casualty", []), title, text), _actor(profile, groups, by_role)]
    line = ", ".join(part for part in parts if part)
    extra = ", ".join(term for term in by_role.get(None, []) if term not in line)
    return "; ".join(part for part in (line, extra) if part) or "no terms matched"


def _by_role(profile: Profile, groups: dict[str, list[str]]) -> dict[str | None, list[str]]:
    """The matched terms of each role, first seen first; None: groups without a role that carry
    weight (or that the profile no longer has)."""
    by_role: dict[str | None, list[str]] = {}
    for name, terms in groups.items():
        group = profile.groups.get(name)
        role = group.role if group is not None else None
        if role == "internal" or (group is not None and role is None and group.weight == 0):
            continue
        shown = by_role.setdefault(role, [])
        shown += [term for term in terms if term not in shown]
    return by_role


def _first_event(profile: Profile, groups: dict[str, list[str]], weapons: list[str]) -> list[str]:
    """What happened: of the matched terms (not weapons) of the event groups, the first in the
    profile's order, so that the profile decides which word leads ("attack" before "targeted")."""
    for name, group in profile.groups.items():
        if group.role == "event" and name in groups:
            matched = set(groups[name]) - set(weapons)
            for term in group.terms:
                if term.name in matched:
                    return [term.name]
    return []


def _what(by_role: dict, events: list[str], joiner: str) -> str:
    """"rocket attack on US base (Deir ez-Zor, Syria)", or as much of it as the evidence has; a
    topic is not done *on* the target ("US strike — US forces (Iraq)")."""
    weapons = by_role.get("weapon", [])[:2] if joiner == " on " else []
    targets = by_role.get("target", [])[:2]
    places = [term for term in by_role.get("place", []) if term not in targets][:3]
    what = " ".join(part for part in (" and ".join(weapons), *events) if part)
    target = " and ".join(targets)
    if what.rsplit(" ", 1)[-1] in _PREPOSITIONS:
        joiner = " "
    what = f"{what}{joiner}{target}" if what and target else what or target
    if places:
        what = f"{what} ({', '.join(places)})" if what else f"in {', '.join(places)}"
    return what


def _casualties(terms: list[str], title: str, text: str) -> str:
    if not terms:
        return ""
    counts = casualty_counts(" . ".join([title, *split_sentences(text)[:1]]))
    if counts:
        return ", ".join(f"{number} {harm}" for harm, number in counts.items())
    # "no casualties" says more than "casualties": a term inside another shown one is left out
    kept = [term for term in terms if not any(term != other and f" {term} " in f" {other} " for other in terms)]
    return " and ".join(kept[:3])


def casualty_counts(text: str) -> dict[str, str]:
    """{"killed": "3", "wounded": "34"}: the first count of each kind `text` states next to a word
    for people and a casualty word; {} when it states none that way."""
    found = [(m.start(), _harm(m.group(2)), m.group(1)) for m in _COUNT_BEFORE.finditer(text)]
    found += [(m.start(), _harm(m.group(1)), m.group(2)) for m in _COUNT_AFTER.finditer(text)
              if m.group("people") or m.group(2).lower() not in ("a", "an")]
    counts: dict[str, str] = {}
    for _, harm, number in sorted(found):
        counts.setdefault(harm, _NUMBER_WORDS.get(number.lower(), number))
    return counts


def _harm(word: str) -> str:
    word = word.lower()
    return next(harm for stem, harm in _HARM.items() if word.startswith(stem))


def _actor(profile: Profile, groups: dict[str, list[str]], by_role: dict) -> str:
    """Who: the actor terms that weigh (group weight x term weight) at least ACTOR_SHARE of the
    heaviest, at most two, first seen first. A group the report names outweighs a word that only
    describes one ("militia", "Iran-backed", "Iran"), so "an Iran-backed militia, the Islamic
    Resistance in Iraq, claimed it" reads "claimed by Islamic Resistance in Iraq", not "claimed
    by Iran and Iran-backed", while two groups named together both show."""
    weighted: dict[str, float] = {}
    for name, terms in groups.items():
        group = profile.groups.get(name)
        if group is not None and group.role == "actor":
            term_weights = {term.name: term.weight for term in group.terms}
            for term in terms:
                weighted.setdefault(term, group.weight * term_weights.get(term, 1.0))
    top = max(weighted.values(), default=0.0)
    actors = " and ".join([term for term, weight in weighted.items() if weight >= ACTOR_SHARE * top][:2])
    if by_role.get("claim"):
        return f"claimed by {actors}" if actors else "claimed"
    return f"{actors} named" if actors else ""


def _weighted_terms(profile: Profile | None, groups: dict[str, list[str]]) -> list[str]:
    """The matched terms of the groups that count towards the score (of every group when the
    profile is unknown), first seen first."""
    names = [name for name in groups if profile is None
             or (name in profile.groups and profile.groups[name].weight > 0)]
    return list(dict.fromkeys(term for name in names for term in groups[name]))
