"""Table-driven checks of the rule classifier with the shipped profile, and a second profile."""

import gzip
import json
from pathlib import Path

import pytest
import yaml

from monitor.classify.rules import Classifier
from monitor.classify.scorer import ProfileScorer
from monitor.model import Label
from monitor.settings.profile import expand, load_profile

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "config" / "profiles" / "iraq-syria-militia-attacks.yaml"
CASES = yaml.safe_load((Path(__file__).parent / "data" / "classifier_cases.yaml").read_text())
CAMPAIGN = Path(__file__).parent / "data" / "campaign.jsonl"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl.gz"


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_profile(PROFILE))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["title"][:40])
def test_cases(classifier, case):
    score = classifier.score(case["title"], case.get("text", ""))
    assert score.label == case["label"], (score.rule, score.evidence())
    evidence = score.evidence()
    for group, terms in (case.get("evidence") or {}).items():
        for term in terms:
            assert term in evidence.get(group, []), (group, term, evidence)


VARIANTS = [
    ("actor", "Kataib Hezbollah", ["Kataib Hezbollah", "Kata'ib Hizballah", "Khataib Hezbollah",
                                   "Kataeb Hezbollah", "Kataib Hizbollah", "KATA’IB HIZBALLAH"]),
    ("us_target", "Ain al-Asad", ["Ain al-Asad", "Ain al-Assad", "Asad air base", "Ain al Asad",
                                  "al-Asad Air Base"]),
    ("site", "Erbil", ["Irbil", "Erbil", "Arbil"]),
    ("actor", "Popular Mobilization Forces", ["Hashd", "Hashed al-Shaabi", "Hashd al-Sha'abi", "PMF",
                                              "Popular Mobilization Forces",
                                              "Popular Mobilisation Forces"]),
    ("actor", "Harakat al-Nujaba", ["Harakat al-Nujaba", "Harakat Hezbollah al-Nujaba", "Nujaba"]),
    ("actor", "Islamic Resistance in Iraq", ["Islamic Resistance in Iraq", "Islamic Resistance of Iraq"]),
    ("us_target", "al-Tanf", ["al-Tanf", "Tanf garrison", "At-Tanf", "the Tanf garrison"]),
    ("us_target", "Tower 22", ["Tower 22"]),
]


@pytest.mark.parametrize("group,canonical,spellings", VARIANTS, ids=[v[1] for v in VARIANTS])
def test_name_variants_meet(classifier, group, canonical, spellings):
    for spelling in spellings:
        evidence = classifier.score(f"Report mentions {spelling} today").evidence()
        assert canonical in evidence.get(group, []), (spelling, evidence)


@pytest.mark.parametrize("text,group,term", [
    ("Stanford opens a new lab", "us_target", "al-Tanf"),
    ("ConocoPhillips reports profit", "us_target", "Conoco gas field"),
    ("give us troops of volunteers", "us_target", "US forces"),
    ("let us base the plan on facts", "us_target", "US base"),
    ("Strikes by US forces hit militia depots", "us_target", "US forces"),
    ("Houston Rockets win again", "weapon", "rocket"),
])
def test_no_false_match(classifier, text, group, term):
    assert term not in classifier.score(text).evidence().get(group, [])


def test_capitals_still_match_in_capitals(classifier):
    assert "US forces" in classifier.score("Drone attack on US troops").evidence()["us_target"]
    assert "US forces" in classifier.score("DRONE ATTACK ON US TROOPS").evidence()["us_target"]


def test_alternatives_expand():
    assert expand("(a|b) (c|d|)") == ["a c", "a d", "a ", "b c", "b d", "b "]


WILDFIRE = """
name: wildfires-near-towns
thresholds: {incident: 0.6, related: 0.3}
groups:
  hazard:
    weight: 0.5
    terms:
      - wildfire*
      - {name: brush fire, aliases: [bushfire, "grass fire*"], weight: 0.8}
  place: {weight: 0.4, terms: [town, village, suburb*]}
  response: {weight: 0.3, terms: ["evacuat*", "(fire|rescue) crews"]}
  drill: {weight: 0.0, terms: [fire drill, exercise]}
rules:
  - {name: fire-near-town, class: incident, groups: [hazard, place], within: 1}
  - name: evacuation-order
    class: related
    groups: [[hazard, response]]
    near: [place]
    near_distance: null
    unless: [drill]
negatives:
  - {name: metaphor, aliases: [spread like wildfire], weight: 0.5}
"""


def test_an_unrelated_profile(tmp_path):
    path = tmp_path / "wildfires-near-towns.yaml"
    path.write_text(WILDFIRE)
    fires = Classifier(load_profile(path))
    hit = fires.score("Wildfire reaches the edge of a mountain town")
    assert hit.label == "incident" and hit.rule == "fire-near-town"
    assert hit.evidence() == {"hazard": ["wildfire*"], "place": ["town"]}
    assert fires.score("Crews evacuate homes", "The village was told to leave.").label == "related"
    assert fires.score("School fire drill: pupils evacuated from the village hall").label == "none"
    assert fires.score("Rumour spread like wildfire through the town").label == "none"
    assert fires.score("Quarterly earnings beat forecasts").label == "none"


def test_the_polls_shortcut_gives_the_verdict_score_gives():
    """ProfileScorer.label skips scoring an item whose groups cannot make any rule fire: it must
    give the same verdict as `score` for every item that is not `none`, and None for the rest.
    On the project's own items, and on every 5th labelled real item when shared/ is beside."""
    scorer = ProfileScorer(load_profile(PROFILE))
    items = [(case["title"], case.get("text", "")) for case in CASES]
    items += [(row["title"], row["text"]) for row in map(json.loads, CAMPAIGN.read_text().splitlines())]
    if DEV.exists():
        with gzip.open(DEV, "rt", encoding="utf-8") as lines:
            items += [(row["title"], row["text"]) for n, row in enumerate(map(json.loads, lines)) if n % 5 == 0]
    skipped = 0
    for title, text in items:
        verdict = scorer.score(title, text)
        expected = None if verdict.label == Label.NONE else verdict
        assert scorer.label(title, text) == expected, title
        skipped += verdict.label == Label.NONE and verdict.score > 0 and \
            not scorer.rules.may_fire(scorer.rules.groups_anywhere(title, text))
    assert skipped > len(items) // 10  # the shortcut is taken: many items name a weekday or a place
