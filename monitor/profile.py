"""Incident profiles: weighted concept groups, co-occurrence rules, negatives, class thresholds.

A profile file (YAML) looks like:

    name: wildfires-near-towns
    thresholds: {incident: 0.6, related: 0.35}
    groups:
      hazard:
        weight: 0.5
        terms:
          - wildfire
          - {name: brush fire, aliases: [bushfire, "grass fire*"], weight: 0.8}
      place: {weight: 0.5, terms: [town, village]}
    rules:
      - {name: fire-near-town, class: incident, groups: [hazard, place], within: 1}
    negatives:
      - {name: fire drill, weight: 0.4}

A term ending in "*" matches any word that starts with it ("attack*" -> attacked, attacks).
A term written in capitals ("US", "PMF") matches only in capitals.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError
from .text import fold, fold_cased
from .yamlsource import load_model


class Term(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Canonical form, shown in evidence")
    aliases: tuple[str, ...] = Field(default=(), description="Spelling variants and other names")
    weight: float = Field(default=1.0, ge=0.0, le=1.0, description="Strength of this term in its group")

    @field_validator("name", "aliases", mode="after")
    @classmethod
    def _foldable(cls, value):
        for text in (value,) if isinstance(value, str) else value:
            if not fold(text.rstrip("*")):
                raise ValueError(f"term {text!r} has no letters or digits to match")
        return value

    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _term(value):
    return {"name": value} if isinstance(value, str) else value



class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(ge=0.0, le=1.0, description="Share of the score this concept carries")
    terms: tuple[Term, ...] = Field(min_length=1)

    @field_validator("terms", mode="before")
    @classmethod
    def _strings_are_terms(cls, value):
        return [_term(entry) for entry in value] if isinstance(value, list) else value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    label: Literal["incident", "related"] = Field(alias="class")
    groups: tuple[str, ...] = Field(min_length=1)
    within: int = Field(default=1, ge=0, description="Sentences the groups must fall in; 0 = anywhere")


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    incident: float = Field(default=0.6, ge=0.0, le=1.0)
    related: float = Field(default=0.35, ge=0.0, le=1.0)


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

    @field_validator("negatives", mode="before")
    @classmethod
    def _strings_are_terms(cls, value):
        return [_term(entry) for entry in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _rules_name_known_groups(self):
        for rule in self.rules:
            unknown = [g for g in rule.groups if g not in self.groups]
            if unknown:
                raise ValueError(f"rule {rule.name!r} names unknown group(s) {unknown}; "
                                 f"known: {sorted(self.groups)}")
        return self


def is_acronym(spelling: str) -> bool:
    cased = fold_cased(spelling.rstrip("*"))
    return cased.isupper() and " " not in cased and len(cased) <= 6


def load_profile(path: Path) -> Profile:
    profile = load_model(path, Profile)
    if profile.name != path.stem:
        raise ConfigError(f"profile name {profile.name!r} differs from the file name {path.stem!r}",
                          file=str(path), field="name")
    return profile


def load_profiles(directory: Path) -> dict[str, Profile]:
    if not directory.is_dir():
        raise ConfigError("profiles directory does not exist", file=str(directory))
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return {profile.name: profile for profile in map(load_profile, paths)}
