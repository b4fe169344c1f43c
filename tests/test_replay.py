"""`monitor replay`: a past period, day by day, through the poll path; pages per attack."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app

runner = CliRunner()
DATA = Path(__file__).parent / "data"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _replay(path: Path, tmp_path: Path, *args) -> dict:
    result = runner.invoke(app, ["replay", str(path), "--json", "--config", str(tmp_path / "none.yaml"),
                                 *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_dense_campaign_pages_every_attack(tmp_path):
    """Six weeks of attacks on the same three bases every day or two, with tallies, analysis,
    condemnations and follow-ups (tests/data/campaign.md): every attack gets its own page."""
    report = _replay(DATA / "campaign.jsonl", tmp_path)
    pages = report["pages"]
    assert pages["events"] == 28
    assert pages["events_paged"] == pages["events"], pages["missed"] + pages["swallowed_events"]
    assert pages["swallowed"] == 0 and pages["false_pages"] == 0
    assert pages["pages_per_paged_event"] <= 1.5
    headlines = [page for page in report["page_list"] if page["kind"] == "alert"]
    assert all(page["label"] == "incident" for page in headlines)  # generic news never pages
    alerted = {page["event"] for page in headlines}
    assert len(alerted) == 28


def test_replay_and_eval_group_alike(tmp_path):
    """The in-memory grouping of `monitor eval` measures what the daemon's database path does."""
    replayed = _replay(DATA / "campaign.jsonl", tmp_path)["pages"]
    result = runner.invoke(app, ["eval", str(DATA / "campaign.jsonl"), "--json",
                                 "--config", str(tmp_path / "none.yaml")])
    assert json.loads(result.output)["pages"] == replayed


def test_replay_is_the_same_run_twice(tmp_path):
    first = _replay(DATA / "campaign.jsonl", tmp_path)["page_list"]
    assert _replay(DATA / "campaign.jsonl", tmp_path)["page_list"] == first


def test_an_unlabelled_archive_prints_pages_per_day(tmp_path):
    archive = tmp_path / "archive.jsonl"
    items = [
        {"id": "1", "published": "2024-01-17T06:00:00+00:00", "source": "wire.example",
         "title": "Drone attack on Ain al-Asad air base in Iraq wounds two US troops",
         "text": "An explosive drone hit the base in Anbar province on Wednesday.",
         "link": "https://wire.example/1"},
        {"id": "2", "published": "2024-01-17T09:00:00+00:00", "source": "desk.example",
         "title": "Drone hits Ain al-Assad base housing US forces in western Iraq",
         "text": "The one-way drone struck the air base in Anbar early Wednesday.",
         "link": "https://desk.example/2"},
        {"id": "3", "published": "2024-01-18T10:00:00+00:00", "source": "desk.example",
         "title": "Houston Rockets win in overtime", "text": "The team beat Denver."},
    ]
    archive.write_text("".join(json.dumps(item) + "\n" for item in items))
    result = runner.invoke(app, ["replay", str(archive), "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 0, result.output
    assert "2024-01-17\n  ALERT  Drone attack on Ain al-Asad air base in Iraq wounds two US troops" \
        in result.output
    assert "replayed 3 items over 2 days" in result.output and "1 pages" in result.output
    assert "pages (what users get" not in result.output  # no labels, no metrics


def test_a_bad_archive_line_names_file_and_line(tmp_path):
    archive = tmp_path / "bad.jsonl"
    archive.write_text('{"id": "1", "title": "x", "text": ""}\nnot json\n')
    result = runner.invoke(app, ["replay", str(archive), "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2 and f"{archive}:2: not JSON" in result.output


SEED_ITEMS = {  # seed file -> (outlet, published): each pair from two outlets, times as they tell
    "000_1b27733353c780ba.txt": ("wire.example", "2024-04-21T20:30:00+00:00"),
    "001_5bcd107d223617e9.txt": ("desk.example", "2024-04-22T01:15:00+00:00"),
    "002_340022767c8390a7.txt": ("wire.example", "2021-06-29T02:00:00+00:00"),
    "004_2e7a738337dea250.txt": ("desk.example", "2021-06-28T19:30:00+00:00"),
    "003_f5b4acb679cb0f64.txt": ("wire.example", "2020-02-16T04:00:00+00:00"),
}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="needs ../shared/seeds")
def test_the_seed_pairs_each_form_one_incident(tmp_path):
    archive = tmp_path / "seeds.jsonl"
    lines = []
    for name, (outlet, published) in SEED_ITEMS.items():
        text = (SEEDS / name).read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if len(line.split()) >= 6)
        lines.append(json.dumps({"id": name[:3], "published": published, "source": outlet,
                                 "title": title.split(". ")[0], "text": text, "label": "incident",
                                 "event": {"000": "a", "001": "a", "002": "b", "004": "b"}.get(name[:3], "c"),
                                 "link": f"https://{outlet}/{name[:3]}"}))
    archive.write_text("\n".join(lines) + "\n")
    report = _replay(archive, tmp_path)
    alerts = [page for page in report["page_list"] if page["kind"] == "alert"]
    assert sorted(page["event"] for page in alerts) == ["a", "b", "c"]
    assert report["pages"]["swallowed"] == 0
