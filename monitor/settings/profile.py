"""Incident profiles: weighted concept groups, co-occurrence rules, negatives, class thresholds.

A profile file (YAML) looks like:

    name: wildfires-near-towns
    thresholds: {incident: 0.6, related: 0.35}
    groups:
      hazard:
        weight: 0.5
        role: event                        # what it is in an alert's one-line why
        terms:
          - wildfire
          - {name: brush fire, aliases: [bushfire, "grass fire*"], weight: 0.8}
      place: {weight: 0.5, role: place, terms: [town, village]}
    rules:
      - {name: fire-near-town, class: incident, groups: [hazard, place], within: 1}
      - name: evacuation
        class: related
        groups: [[hazard, evacuation]]     # a list inside `groups` = any one of these groups
        near: [place]                      # also needed, within `near_distance` sentences
        unless: [drill]                    # not if one of these is in the window or headline
    negatives:
      - {name: fire drill, weight: 0.4}

A term ending in "*" matches any word that starts with it ("attack*" -> attacked, attacks).
A word written in capitals ("US" in "US forces", "PMF") matches only in capitals.
"(a|b|c)" in a term stands for each alternative: "(Kataib|Kataeb) (Hezbollah|Hizballah)";
"(the |)" makes a word optional. A term may stand for at most MAX_SPELLINGS_PER_TERM spellings
(name and aliases together) and a profile for MAX_SPELLINGS_PER_PROFILE; both are counted without
expanding, so a hostile profile is refused at once.
A hit inside a longer hit of a negative or of a group with `mask: true` is dropped
("Houston Rockets" hides "rocket"; "strikes by US forces" hides the target "US forces").

A rule fires when a window of at most `within` consecutive sentences (0 = the whole item)
holds a hit of every entry of `groups`, every entry of `near` is hit within `near_distance`
sentences of that window (or in the headline; `near_distance: null` = anywhere), no group of
`unless` is hit in the window or the headline, the window includes the headline if `in_title`,
and the score reaches the class threshold and the rule's `min_score`. Scores lie in [0, 1):
the summed weights up to 0.6, compressed above (monitor/classify/rules.py `spread`).
"""

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..errors import ConfigError
from ..text import fold, fold_cased
from .yamlsource import load_model, not_checked

# The shipped profile has at most 8,116 spellings in one term and 33,340 in all; every spelling
# costs about 0.7 KB and 50 us in the classifier, so the limits bound a profile to ~150 MB.
MAX_SPELLINGS_PER_TERM = 50_000
MAX_SPELLINGS_PER_PROFILE = 200_000


class SpellingBudget:
    """The spellings of a profile's terms, counted as each term is validated (groups, then negatives)."""

    KEY = "spelling_budget"

    def __init__(self):
        self.used = 0

    def spend(self, count: int, term: str) -> None:
        """Refuse the term that overspends (reported), and every term after it (not reported, but
        never expanded either)."""
        spent = self.used > MAX_SPELLINGS_PER_PROFILE
        self.used += count
        if spent:
            raise not_checked("the profile's spelling budget is spent")
        if self.used > MAX_SPELLINGS_PER_PROFILE:
            raise ValueError(f"{quoted(term)} brings the profile's terms to {self.used} spellings; "
                             f"at most {MAX_SPELLINGS_PER_PROFILE} per profile")


class Term(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Canonical form, shown in evidence")
    aliases: tuple[str, ...] = Field(default=(), description="Spelling variants and other names")
    weight: float = Field(default=1.0, ge=0.0, le=1.0, description="Strength of this term in its group")

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data, info: ValidationInfo):
        """Refuse a term with too many spellings, or the one that fills the profile's budget (given as
        context by `load_profile`), before anything expands it."""
        if not isinstance(data, dict):
            return data
        aliases = data.get("aliases")
        texts = [text for text in (data.get("name"), *(aliases if isinstance(aliases, (list, tuple)) else ()))
                 if isinstance(text, str)]
        count = sum(map(count_spellings, texts))
        if count > MAX_SPELLINGS_PER_TERM:
            largest = max(texts, key=count_spellings)
            raise ValueError(f"{quoted(largest)}{' with its aliases' if len(texts) > 1 else ''} expands to "
                             f"{count} spellings; at most {MAX_SPELLINGS_PER_TERM} per term")
        budget = (info.context or {}).get(SpellingBudget.KEY)
        if budget is not None:
            budget.spend(count, texts[0] if texts else "")
        return data

    @field_validator("name", "aliases", mode="after")
    @classmethod
    def _foldable(cls, value):
        for text in (value,) if isinstance(value, str) else value:
            for spelling in expand(text):
                if "*" in spelling.rstrip("*"):
                    raise ValueError(f"term {text!r}: '*' may only end a spelling, not {spelling!r}")
                if not fold(spelling.rstrip("*")):
                    raise ValueError(f"term {text!r} has a spelling with no letters or digits to match")
        return value

    def spellings(self) -> tuple[str, ...]:
        """Every spelling: the name and the aliases, "(a|b)" alternatives expanded."""
        return tuple(dict.fromkeys(s for text in (self.name, *self.aliases) for s in expand(text)))

    def spelling_count(self) -> int:
        """How many spellings `spellings()` gives at most (before removing repeats), counted."""
        return sum(map(count_spellings, (self.name, *self.aliases)))


def _term(value):
    return {"name": value} if isinstance(value, str) else value



# What a group's terms are in the one-line "why" of an alert (monitor/alerts/why.py):
# "<weapon> <event> on <target> (<place>), <casualty>, claimed by <actor>"; a topic (what
# else a report is about) stands in for a missing event. `internal` groups (helpers for rules and
# incident grouping) are never shown; without any role in a profile the line lists the matched
# terms of the groups that carry weight.
GroupRole = Literal["event", "weapon", "target", "place", "casualty", "actor", "claim", "topic", "internal"]


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(ge=0.0, le=1.0, description="Share of the score this concept carries")
    terms: tuple[Term, ...] = Field(min_length=1)
    mask: bool = Field(default=False, description="Hide hits of other groups inside these hits")
    role: GroupRole | None = Field(default=None, description="What the terms are in an alert's one-line "
                              "why: event, weapon, target, place, casualty, actor, claim, topic, "
                              "or internal (not shown)")

    @field_validator("terms", mode="before")
    @classmethod
    def _strings_are_terms(cls, value):
        return [_term(entry) for entry in value] if isinstance(value, list) else value


Requirement = str | tuple[str, ...]  # a group, or a list of groups any one of which will do


def _alternatives(requirement: Requirement) -> tuple[str, ...]:
    return (requirement,) if isinstance(requirement, str) else tuple(requirement)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    label: Literal["incident", "related"] = Field(alias="class")
    groups: tuple[Requirement, ...] = Field(min_length=1)
    within: int = Field(default=1, ge=0, description="Sentences the groups must fall in; 0 = anywhere")
    near: tuple[Requirement, ...] = Field(default=(), description="Also needed near the window")
    near_distance: int | None = Field(default=1, ge=0,
                                      description="Sentences from the window for `near`; null = anywhere")
    unless: tuple[str, ...] = Field(default=(), description="Groups that stop the rule if in the window "
                                                           "or the headline")
    in_title: bool = Field(default=False, description="The window must include the headline")
    min_score: float = Field(default=0.0, ge=0.0, lt=1.0)  # scores stay below 1.00

    @field_validator("groups", "near", mode="after")
    @classmethod
    def _non_empty_alternatives(cls, value):
        for requirement in value:
            if not _alternatives(requirement):
                raise ValueError("an empty list of alternative groups")
        return value

    def requirements(self) -> tuple[tuple[str, ...], ...]:
        return tuple(map(_alternatives, self.groups))

    def near_requirements(self) -> tuple[tuple[str, ...], ...]:
        return tuple(map(_alternatives, self.near))


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incident: float = Field(default=0.6, ge=0.0, lt=1.0)
    related: float = Field(default=0.35, ge=0.0, lt=1.0)


class IncidentSettings(BaseModel):
    """How matches of this profile are grouped into incidents (see monitor/incidents.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_hours: float = Field(default=48.0, gt=0, description="A report joins an incident opened "
                                "at most this long before it; then the incident closes")
    entity_groups: tuple[str, ...] = Field(default=(), description="Groups naming where it happened, "
                                           "most specific first (e.g. facility, city, country); "
                                           "different names keep incidents apart")
    detail_groups: tuple[str, ...] = Field(default=(), description="Groups whose terms tell two "
                                           "incidents apart (e.g. the weapon)")
    material: dict[str, str] = Field(default_factory=dict, description="Change name -> group; its first "
                                     "appearance in an incident sends one update")
    followup_group: str | None = Field(default=None, description="Group whose hit marks a report as "
                                       "a follow-up of an earlier attack: it joins, never opens")
    lookback_group: str | None = Field(default=None, description="Group whose hit says a report may "
                                       "look back at an earlier attack (\"after the attack\"): it "
                                       "joins one if it can, else counts as a first report")
    followup_window_hours: float = Field(default=168.0, gt=0, description="How long after its opening "
                                         "an incident takes follow-ups")
    followup_after_hours: float = Field(default=36.0, gt=0, description="A report whose own words place "
                                        "the attack this long before it is a follow-up")
    new_attack_group: str | None = Field(default=None, description="Group whose hit says the report is "
                                         "of another attack (\"a second attack\", \"again\")")
    new_attack_hours: float = Field(default=12.0, gt=0, description="...which then joins only an "
                                    "incident opened this recently, or one whose day it names")
    join_threshold: float = Field(default=0.4, ge=0.0, le=2.0)
    max_updates: int = Field(default=1, ge=0)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    thresholds: Thresholds = Thresholds()
    body_weight: float = Field(default=0.75, ge=0.0, le=1.0,
                               description="Factor for a group found only below the headline")
    cooccurrence_bonus: float = Field(default=0.2, ge=0.0, le=1.0)
    groups: dict[str, Group] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)
    negatives: tuple[Term, ...] = ()
    negative_cap: float = Field(default=0.6, ge=0.0, le=1.0)
    incidents: IncidentSettings = IncidentSettings()

    @field_validator("negatives", mode="before")
    @classmethod
    def _strings_are_terms(cls, value):
        return [_term(entry) for entry in value] if isinstance(value, list) else value



def is_acronym(spelling: str) -> bool:
    """A word written in capitals ("US", "PMF", "K1"); in a term it matches only in capitals."""
    cased = fold_cased(spelling.rstrip("*"))
    return bool(cased) and cased.isupper() and " " not in cased and len(cased) <= 6


_ALTERNATION = re.compile(r"\(([^()]*\|[^()]*)\)")


def expand(spelling: str) -> list[str]:
    """"(Kataib|Kataeb) (Hezbollah|Hizballah)" -> the four spellings it stands for."""
    match = _ALTERNATION.search(spelling)
    if not match:
        return [spelling]
    head, tail = spelling[:match.start()], spelling[match.end():]
    return [expanded for choice in match.group(1).split("|")
            for expanded in expand(head + choice + tail)]


def count_spellings(spelling: str) -> int:
    """len(expand(spelling)), counted without expanding: the product of the alternatives per group.

    `expand` replaces an innermost "(...|...)" by each alternative until none is left, so a group
    counts once its inner groups are gone; a pair of parentheses left in the text (no "|", or
    around one such) is literal and keeps the groups around it literal too."""
    count, open_groups = 1, []  # per open "(": [alternatives, stays literal]
    for char in spelling:
        if char == "(":
            open_groups.append([1, False])
        elif char == "|" and open_groups:
            open_groups[-1][0] += 1
        elif char == ")" and open_groups:
            alternatives, literal = open_groups.pop()
            if literal or alternatives == 1:
                if open_groups:
                    open_groups[-1][1] = True
            else:
                count *= alternatives
    return count


def quoted(text: str, limit: int = 40) -> str:
    """A term as an error message shows it: quoted, on one line, cut after `limit` characters."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "...", ensure_ascii=False)


_INCIDENT_GROUPS = ("entity_groups", "detail_groups", "material", "followup_group", "lookback_group",
                    "new_attack_group")


def reference_problems(data, stem: str) -> list[tuple[tuple, str]]:
    """What validation cannot see field by field, read from the profile as written: a name other
    than the file's, and rules or incident settings naming groups the profile lacks."""
    if not isinstance(data, dict):
        return []
    problems = []
    name = data.get("name")
    if isinstance(name, str) and name != stem:
        problems.append((("name",), f"profile name {name!r} differs from the file name {stem!r}"))
    groups = data.get("groups")
    if not isinstance(groups, dict):
        return problems  # validation reports it
    known = sorted(map(str, groups))
    for index, rule in enumerate(data.get("rules") if isinstance(data.get("rules"), list) else ()):
        if isinstance(rule, dict):
            unknown = _unknown(known, *(rule.get(key) for key in ("groups", "near", "unless")))
            if unknown:
                problems.append((("rules", index), f"rule {rule.get('name')!r} names unknown group(s) "
                                                   f"{unknown}; known: {known}"))
    settings = data.get("incidents") if isinstance(data.get("incidents"), dict) else {}
    for field in _INCIDENT_GROUPS:
        value = settings.get(field)
        unknown = _unknown(known, list(value.values()) if isinstance(value, dict) else value)
        if unknown:
            problems.append((("incidents", field), f"unknown group(s) {unknown}; known: {known}"))
    return problems


def _unknown(known: list[str], *values) -> list[str]:
    """The group names in `values` (a name, a list of names, or of lists of names) not in `known`."""
    names = set()
    for value in values:
        for entry in value if isinstance(value, list) else [value]:
            names.update(n for n in (entry if isinstance(entry, list) else [entry]) if isinstance(n, str))
    return sorted(names - set(known))


def load_profile(path: Path) -> Profile:
    """The profile in `path`; ConfigError naming every problem (the only way to make a Profile
    whose rules name groups it has)."""
    return load_model(path, Profile, context={SpellingBudget.KEY: SpellingBudget()},
                      checks=lambda data: reference_problems(data, path.stem))


def profile_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def read_profiles(directory: Path) -> tuple[dict[str, Profile], list[ConfigError]]:
    """Every profile in `directory` that loads, and the problems of those that do not."""
    if not directory.is_dir():
        return {}, [ConfigError("profiles directory does not exist", file=str(directory))]
    profiles, problems = {}, []
    for path in profile_files(directory):
        try:
            profile = load_profile(path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        profiles[profile.name] = profile
    return profiles, problems


def load_profiles(directory: Path) -> dict[str, Profile]:
    profiles, problems = read_profiles(directory)
    if problems:
        raise ConfigError.of(problems)
    return profiles
