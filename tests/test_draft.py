"""`monitor profile learn` drafts: a profile learned from example articles loads and classifies."""

import gzip
import json
from pathlib import Path

import pytest
import yaml

from monitor.classify.rules import Classifier
from monitor.tools.draft import (DEFAULT_BACKGROUND, DraftInputError, draft_profile, read_background, read_examples)
from monitor.settings.profile import load_profile

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"

# Three made-up reports of wildfires near towns.
WILDFIRES = [
    ("Wildfire forces evacuation of Pine Ridge as flames near homes",
     "A fast-moving wildfire burned close to the town of Pine Ridge in Oregon on Tuesday. "
     "Firefighters ordered residents of the town to evacuate as strong winds pushed the flames "
     "toward homes. The blaze has burned 4,000 acres and destroyed two barns, fire officials said."),
    ("Thousands evacuated as wildfire threatens Cedar Falls",
     "Residents of Cedar Falls fled on Friday as a wildfire spread through dry forest near the "
     "town in Oregon. Firefighters battled the flames with aircraft dropping retardant, and "
     "officials said homes on the edge of town were threatened by the blaze."),
    ("Firefighters hold wildfire line outside Pine Ridge",
     "Crews held the wildfire at a containment line outside Pine Ridge after it burned through "
     "forest overnight. Evacuation orders remain for residents near the flames, and the blaze "
     "is 20 percent contained, Oregon fire officials said on Saturday."),
]


def _save(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_background_table_is_small_word_counts():
    assert DEFAULT_BACKGROUND.stat().st_size < 500_000
    table = read_background()
    assert len(table) > 10_000 and table["the"] > table["fire"] > 0
    assert all(word.isalpha() and word == word.lower() for word in table)


def test_draft_from_examples_loads_and_classifies_an_example(tmp_path):
    text = draft_profile(WILDFIRES, None, "wildfires")
    assert text.startswith("# DRAFT")
    profile = load_profile(_save(tmp_path, text, "wildfires"))
    assert profile.groups and profile.rules
    assert {rule.label for rule in profile.rules} == {"incident", "related"}
    terms = {term.name.lower() for group in profile.groups.values() for term in group.terms}
    assert {"wildfire", "oregon"} <= terms
    classifier = Classifier(profile)
    assert classifier.score(*WILDFIRES[0]).label != "none"
    assert classifier.score("Stocks rise as tech shares rally", "Markets closed higher.").label == "none"


def test_draft_with_own_background_corpus_and_jsonl_examples(tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps({"title": title, "text": f"<p>{body}</p>"}) + "\n"
                                for title, body in WILDFIRES), encoding="utf-8")
    read = read_examples([examples])
    assert read[1][0] == WILDFIRES[1][0] and "<p>" not in read[1][1]
    corpus = tmp_path / "news.jsonl.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as out:
        for i in range(50):
            out.write(json.dumps({"title": f"Council votes on the town budget {i}",
                                  "text": "Officials said residents of the town will vote."}) + "\n")
    background = read_background(corpus)
    assert background["town"] >= 100 and "budget" in background
    profile = load_profile(_save(tmp_path, draft_profile(read, background, "fires"), "fires"))
    assert Classifier(profile).score(*WILDFIRES[2]).label != "none"


def test_text_examples_and_tsv_background(tmp_path):
    paths = []
    for i, (title, body) in enumerate(WILDFIRES):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    table = tmp_path / "bg.tsv"
    table.write_text("the\t1000\ntown\t50\nfire\t40\n", encoding="utf-8")
    assert read_background(table) == {"the": 1000, "town": 50, "fire": 40}
    examples = read_examples(paths)
    assert examples[0] == (WILDFIRES[0][0], WILDFIRES[0][1])
    data = yaml.safe_load(draft_profile(examples, read_background(table), "fires"))
    assert data["name"] == "fires" and data["rules"][0]["within"] == 2


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(DraftInputError, match="no example"):
        read_examples([])
    with pytest.raises(DraftInputError, match="missing.txt"):
        read_examples([tmp_path / "missing.txt"])
    with pytest.raises(DraftInputError, match="profile name"):
        draft_profile(WILDFIRES, None, "Bad Name")


@pytest.mark.skipif(not SEEDS.is_dir(), reason="no shared seed articles here")
def test_draft_from_seeds_names_places_actors_and_targets(tmp_path):
    examples = read_examples(sorted(SEEDS.glob("*.txt")))
    profile = load_profile(_save(tmp_path, draft_profile(examples, None, "seeds"), "seeds"))
    names = {group: {term.name for term in spec.terms} for group, spec in profile.groups.items()}
    assert {"Iraq", "Syria"} <= names["place"]
    assert names.get("actor") and names.get("target")
    assert any("forces" in term or "base" in term for term in names["target"])
    incident = next(rule for rule in profile.rules if rule.label == "incident")
    assert incident.within == 2 and len(incident.groups) == 3
    classifier = Classifier(profile)
    assert sum(classifier.score(title, text).label != "none" for title, text in examples) >= 4
