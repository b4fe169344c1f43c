"""`monitor profile fit` tells on stderr what it is doing (reading, scoring, each fold, ...), so a
user knows it is working; stdout keeps the report alone."""

import json

from typer.testing import CliRunner

from monitor.cli import app
from monitor.tools.fit import counted

runner = CliRunner()
PROFILE = ("name: tiny\ngroups:\n  attack: {weight: 0.5, terms: [rocket*, drone]}\n"
           "  target: {weight: 0.5, terms: [base, troops]}\n"
           "rules:\n  - {name: r, class: incident, groups: [attack, target]}\n")


def _labelled(count: int) -> str:
    items = []
    for n in range(count):
        items.append({"id": f"i{n}", "label": "incident", "event": f"e{n}",
                      "title": f"Rockets hit base {n}", "text": "Troops took cover."})
        items.append({"id": f"n{n}", "label": "none", "event": None,
                      "title": f"Drone photos of the base {n} stadium", "text": "A sunny day for troops."})
        items.append({"id": f"q{n}", "label": "none", "event": None, "title": f"Budget talks {n}",
                      "text": ""})
    return "".join(json.dumps(item) + "\n" for item in items)


def test_fit_prints_its_progress_on_stderr(tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text(PROFILE)
    (tmp_path / "monitor.yaml").write_text("profiles_dir: profiles\n")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(_labelled(10))

    result = runner.invoke(app, ["profile", "fit", str(labelled), "--config", str(tmp_path / "monitor.yaml"),
                                 "--folds", "3", "-o", str(tmp_path / "tiny.model.json")])
    assert result.exit_code == 0, result.output
    progress = result.stderr.splitlines()
    assert progress[0] == "reading labelled items... 30 done"
    assert "scoring with the rules... 3/30" in progress and "scoring with the rules... 30/30 done" in progress
    assert [line for line in progress if line.startswith("training: fold")] == \
        ["training: fold 1/3", "training: fold 2/3", "training: fold 3/3"]
    assert "training the final model on all 20 items" in progress
    assert progress[-1] == "measuring rules, learned layer and both, out of fold"
    assert "training:" not in result.stdout and "reading" not in result.stdout
    assert result.stdout.startswith("30 items, 20 past the concept pre-filter")


def test_counted_reports_every_tenth_or_every_read_step():
    lines = []
    assert list(counted(range(25), lines.append, "scoring", total=25)) == list(range(25))
    assert lines == [f"scoring... {n}/25" for n in range(3, 25, 3)] + ["scoring... 25/25 done"]
    lines.clear()
    list(counted(range(20_001), lines.append, "reading"))
    assert lines == ["reading... 10,000", "reading... 20,000", "reading... 20,001 done"]
