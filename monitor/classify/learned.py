"""The learned layer: a linear model over words, phrases and the rules' concept features.

It runs only on items the rules already found something in (hits in at least `min_groups`
concept groups), and it never pages on its own: an item it scores at or above
`thresholds.related` becomes `related`; at or above `thresholds.incident` it is promoted to
`incident` only when every group of one of the profile's incident rules is present in the
item (an attack with its details, at any distance). The rules' verdict otherwise stands.

The model is a readable JSON file beside the profile (`NAME.model.json`), weights sorted by
size, applied here in plain Python; fitting it needs scikit-learn (`monitor profile fit`).
"""

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from ..model import Label, Score
from ..settings.profile import Profile
from ..text import fold

MODEL_SUFFIX = ".model.json"


def features(title: str, text: str, rules: Score) -> set[str]:
    """Binary features: headline words, words and word pairs of the item, and concept hits."""
    found = {f"t:{word}" for word in fold(title).split()}
    words = fold(f"{title} {text}").split()
    found.update(f"w:{word}" for word in words)
    found.update(f"w:{a} {b}" for a, b in zip(words, words[1:]))
    for hit in rules.hits:
        found.add(f"g:{hit.group}")
        found.add(f"e:{hit.group}:{hit.term}")
        if hit.sentence == 0 and title:
            found.add(f"g:{hit.group}@title")
    found.update(f"n:{hit.term}" for hit in rules.negatives)
    if rules.rule:
        found.add(f"r:{rules.rule}")
    found.add(f"c:{rules.label}")
    return found


def concept_groups(rules: Score) -> set[str]:
    return {hit.group for hit in rules.hits}


@dataclass(frozen=True)
class LearnedModel:
    profile: str
    bias: float
    weights: dict[str, float]
    related_threshold: float
    incident_threshold: float
    min_groups: int
    trained_ids: frozenset[str]

    def probability(self, found: set[str]) -> float:
        total = self.bias + sum(self.weights.get(feature, 0.0) for feature in found)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, total))))

    def applies_to(self, rules: Score) -> bool:
        return len(concept_groups(rules)) >= self.min_groups

    def combine(self, profile: Profile, title: str, text: str, rules: Score) -> Score:
        """The final verdict from the rules' verdict and this model's estimate."""
        if rules.label == Label.INCIDENT or not self.applies_to(rules):
            return rules
        return self.decide(profile, rules, round(self.probability(features(title, text, rules)), 4))

    def decide(self, profile: Profile, rules: Score, p: float) -> Score:
        """Apply the thresholds to a probability for an item the rules did not page."""
        if p >= self.incident_threshold and _incident_groups_present(profile, rules):
            return replace(rules, label=Label.INCIDENT, layer="learned", probability=p)
        if p >= self.related_threshold and rules.label == Label.NONE:
            return replace(rules, label=Label.RELATED, layer="learned", probability=p)
        return replace(rules, probability=p)

    def to_json(self, extra: dict | None = None) -> str:
        ordered = sorted(self.weights.items(), key=lambda pair: (-abs(pair[1]), pair[0]))
        head = {"profile": self.profile, "kind": "logistic regression over binary features",
                "thresholds": {"related": self.related_threshold, "incident": self.incident_threshold},
                "min_groups": self.min_groups, "bias": self.bias, **(extra or {})}
        lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        lines.append('  "weights": [')
        lines += [f"    [{json.dumps(name)}, {weight:.6g}]," for name, weight in ordered]
        if ordered:
            lines[-1] = lines[-1].rstrip(",")
        lines += ["  ],", f'  "trained_ids": {json.dumps(sorted(self.trained_ids))}', "}"]
        return "\n".join(lines) + "\n"


def _incident_groups_present(profile: Profile, rules: Score) -> bool:
    """Some incident rule has all its groups (and its required details) somewhere in the item."""
    present = concept_groups(rules)

    def satisfied(requirement) -> bool:  # a group name, or a list of alternatives
        options = [requirement] if isinstance(requirement, str) else requirement
        return any(option in present for option in options)

    return any(rule.label == Label.INCIDENT and all(map(satisfied, rule.groups))
               and all(map(satisfied, getattr(rule, "near", ()) or ()))
               for rule in profile.rules)


def load_learned(path: Path) -> LearnedModel | None:
    """The model saved at `path`, or None if there is none."""
    if not path.exists():
        return None
    from ..errors import ConfigError
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LearnedModel(profile=data["profile"], bias=float(data["bias"]),
                            weights={name: float(weight) for name, weight in data["weights"]},
                            related_threshold=float(data["thresholds"]["related"]),
                            incident_threshold=float(data["thresholds"]["incident"]),
                            min_groups=int(data["min_groups"]),
                            trained_ids=frozenset(data.get("trained_ids", [])))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"not a valid learned model ({type(exc).__name__}: {exc}); "
                          f"refit it with `monitor profile fit`", file=str(path)) from None
