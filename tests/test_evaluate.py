"""`monitor eval` on small labelled files written for the tests."""

import gzip
import json

import pytest
from typer.testing import CliRunner

from monitor.cli import app

runner = CliRunner()

ITEMS = [
    {"id": "1", "title": "Rocket attack hits US base in eastern Syria", "label": "incident",
     "event": "2024-01-01 deir", "text": "<p>Rockets struck a base housing <b>US troops</b> near Deir ez-Zor.</p>"},
    {"id": "2", "title": "Drone attack on Ain al-Asad air base in Iraq wounds US troops", "label": "incident",
     "event": "2024-01-03 asad", "text": "The drone hit the base in Anbar province."},
    {"id": "3", "title": "Parliament debates budget", "label": "incident", "event": "2024-01-05 missed",
     "text": "Lawmakers argued late into the night."},
    {"id": "4", "title": "Houston Rockets beat Denver", "label": "none", "text": "A late three-pointer won it."},
    {"id": "5", "title": "Markets rise on rate hopes", "label": "none", "text": ""},
]


def _write(path, items, compress=False):
    data = "".join(json.dumps(item) + "\n" for item in items)
    if compress:
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data)
    return path


def _eval(path, *args):
    return runner.invoke(app, ["eval", str(path), "--config", str(path.parent / "none.yaml"), *args])


@pytest.mark.parametrize("compress", [False, True])
def test_eval_json_reports_classes_alerts_and_events(tmp_path, compress):
    path = _write(tmp_path / ("items.jsonl.gz" if compress else "items.jsonl"), ITEMS, compress)
    result = _eval(path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["items"] == 5 and report["items_per_s"] > 0
    assert report["incident"] == {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "tp": 2, "fp": 0, "fn": 1}
    assert set(report["alertable"]) == {"precision", "recall", "f1", "tp", "fp", "fn"}
    assert report["alerts"] == {"count": 2, "false_alarms": 0, "precision": 1.0}
    assert report["events"] == {"total": 3, "alerted": 2, "recall": 0.6667, "missed": ["2024-01-05 missed"]}


def test_eval_text_shows_confusion_and_worst_errors(tmp_path):
    result = _eval(_write(tmp_path / "items.jsonl", ITEMS), "--show-errors", "5")
    assert result.exit_code == 0, result.output
    assert "confusion (rows: label, columns: predicted)" in result.output
    assert "events: 2 of 3 incident events alerted" in result.output
    assert "missed: 2024-01-05 missed" in result.output
    assert "[incident -> none" in result.output and "Parliament debates budget" in result.output


@pytest.mark.parametrize("line, message", [
    ("not json", "items.jsonl:2: not JSON"),
    ('{"id": "x", "title": "t", "text": ""}', "items.jsonl:2: missing field 'label'"),
    ('{"id": "x", "title": "t", "text": "", "label": "maybe"}', "items.jsonl:2: unknown label 'maybe'"),
    ("[1, 2]", "items.jsonl:2: expected a JSON object"),
])
def test_bad_input_stops_with_line_number(tmp_path, line, message):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(ITEMS[0]) + "\n" + line + "\n")
    result = _eval(path)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
