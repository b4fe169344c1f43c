"""The learned layer: fit on a small labelled set, save a readable model, apply it without sklearn."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from conftest import PROFILES
from monitor.cli import app
from monitor.model import Hit, Score
from monitor.classify.learned import LearnedModel, load_learned
from monitor.settings.profile import load_profile

runner = CliRunner()
PROFILE = load_profile(PROFILES / "iraq-syria-militia-attacks.yaml")
PLACES = ["Erbil", "Baghdad", "Deir ez-Zor", "Anbar", "Hasakah", "Ain al-Asad", "Tanf", "Kirkuk"]


def _labelled_items():
    items = []
    for n, place in enumerate(PLACES):
        event = f"2024-01-{n + 1:02d} {place}"
        items.append({"id": f"i{n}a", "label": "incident", "event": event,
                      "title": f"Rockets fired at US base near {place}",
                      "text": f"Several rockets struck a base housing American troops near {place}, Iraq."})
        items.append({"id": f"i{n}b", "label": "incident", "event": event,
                      "title": f"US troops hurt in {place} drone strike, officials say",
                      "text": "Two service members were treated for minor injuries."})
        items.append({"id": f"r{n}", "label": "related", "event": None,
                      "title": f"Militia warns US forces to leave {place}",
                      "text": "The group gave no details of any attack."})
        items.append({"id": f"n{n}", "label": "none", "event": None,
                      "title": f"Turkish drones strike PKK positions near {place}",
                      "text": "Ankara said the strikes targeted militants in the mountains."})
        items.append({"id": f"m{n}", "label": "none", "event": None,
                      "title": f"Iraq's parliament meets in {place} on the budget", "text": ""})
    return items


@pytest.fixture
def watchlist(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "iraq-syria-militia-attacks.yaml").write_text(
        (PROFILES / "iraq-syria-militia-attacks.yaml").read_text())
    path = tmp_path / "monitor.yaml"
    path.write_text("profiles_dir: profiles\n")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(item) + "\n" for item in _labelled_items()))
    return path, labelled


def test_fit_saves_a_readable_model_that_eval_and_score_use(watchlist):
    path, labelled = watchlist
    result = runner.invoke(app, ["profile", "fit", str(labelled), "--config", str(path), "--folds", "4"])
    assert result.exit_code == 0, result.output
    for layer in ("rules", "learned", "combined"):
        assert f"  {layer} " in result.output
    model_file = path.parent / "profiles" / "iraq-syria-militia-attacks.model.json"
    saved = json.loads(model_file.read_text())
    magnitudes = [abs(weight) for _, weight in saved["weights"]]
    assert magnitudes == sorted(magnitudes, reverse=True)  # top weighted terms first
    assert set(saved["out_of_fold"]) == {"rules", "learned", "combined"}
    assert "i0a" in saved["trained_ids"]

    evaluated = runner.invoke(app, ["eval", str(labelled), "--config", str(path), "--json"])
    report = json.loads(evaluated.output)
    assert report["learned_layer"]["used"] and report["learned_layer"]["trained_items_scored"] > 0
    text = runner.invoke(app, ["eval", str(labelled), "--config", str(path)]).output
    assert "trained the learned layer, so its numbers flatter it" in text


def test_the_daemon_side_loads_and_applies_the_model_without_sklearn(watchlist):
    path, labelled = watchlist
    runner.invoke(app, ["profile", "fit", str(labelled), "--config", str(path), "--folds", "4"])
    script = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from pathlib import Path\n"
        "from monitor.settings.config import load_config\n"
        "from monitor.classify.scorer import load_scorers\n"
        f"config = load_config(Path({str(path)!r}), environ={{}})\n"
        "[scorer] = load_scorers(config.profiles, config.profiles_path).values()\n"
        "verdict = scorer.score('Militia warns US forces to leave Mosul', 'No attack was reported.')\n"
        "print(scorer.model is not None, verdict.probability is not None)\n")
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.split() == ["True", "True"]


def _verdict(groups, label="none"):
    hits = tuple(Hit(group, group, 1, 0, 1) for group in groups)
    return Score(PROFILE.name, label, 0.3, None, hits)


def test_learned_layer_never_pages_alone_and_promotes_only_with_an_incident_rules_groups():
    model = LearnedModel(PROFILE.name, 0.0, {}, related_threshold=0.5, incident_threshold=0.8,
                         min_groups=1, trained_ids=frozenset())
    incident_rule = next(rule for rule in PROFILE.rules if rule.label == "incident")
    needed = [r if isinstance(r, str) else r[0] for r in (*incident_rule.groups, *getattr(incident_rule, "near", ()))]
    thin = _verdict(needed[:1])
    full = _verdict(needed)
    assert model.decide(PROFILE, thin, 0.95).label == "related"
    assert model.decide(PROFILE, thin, 0.95).layer == "learned"
    assert model.decide(PROFILE, full, 0.95).label == "incident"
    assert model.decide(PROFILE, full, 0.6).label == "related"
    assert model.decide(PROFILE, full, 0.2).label == "none"
    assert model.combine(PROFILE, "x", "", replace(full, label="incident")).layer == "rules"


def test_a_broken_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "p.model.json"
    bad.write_text('{"profile": "p"}')
    from monitor.errors import ConfigError
    with pytest.raises(ConfigError, match="not a valid learned model"):
        load_learned(bad)
