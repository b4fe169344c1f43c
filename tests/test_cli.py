"""The command line as a user runs it: real processes, real peers on 127.0.0.1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import INCIDENT, ORDINARY
from monitor.cli import app
from peers import Route, free_port, rss

runner = CliRunner()
MONITOR = [sys.executable, "-m", "monitor"]


def _run(args, cwd=None, env=None, timeout=120):
    environment = {**os.environ, **(env or {})}
    environment.pop("MONITOR_CONFIG", None)
    return subprocess.run(MONITOR + args, cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_runs_from_any_directory_without_network(tmp_path):
    result = _run(["demo"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Polled 4 example feeds served on 127.0.0.1" in result.stdout
    alerts, rest = result.stdout.split("RELATED (stored for review, no page)")
    related, near_misses = rest.split("NEAR MISSES")
    assert alerts.count("    why: ") == 6 and "Tower 22" in alerts
    assert alerts.count("    + joined by: ") == 1 and "6 incidents, 6 alerts" in result.stdout
    assert "US strikes Kataib Hezbollah sites" in related
    for near_miss in ("Houthi missile", "Lakers in Houston", "Turkish drones strike PKK"):
        assert near_miss in near_misses and near_miss not in alerts
    assert "One alert as a channel receives it:" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the demo leaves nothing behind


def test_score_json_gives_class_score_and_evidence(tmp_path):
    text = tmp_path / "story.txt"
    text.write_text(f"{INCIDENT['title']}\n{INCIDENT['text']}\n")
    result = runner.invoke(app, ["score", "--json", "--config", str(tmp_path / "none.yaml"), str(text)])
    assert result.exit_code == 0, result.output
    [line] = result.output.strip().splitlines()
    verdict = json.loads(line)
    assert verdict["profile"] == "iraq-syria-militia-attacks" and verdict["class"] == "incident"
    assert 0 < verdict["score"] <= 1
    terms = [term for entry in verdict["evidence"] for term in entry["terms"]]
    assert any("rocket" in term for term in terms) and "Syria" in terms
    assert verdict["layer"] == "rules"


def test_score_reads_stdin_and_rejects_unknown_profile(tmp_path):
    result = runner.invoke(app, ["score", "--config", str(tmp_path / "none.yaml")],
                           input=f"{ORDINARY['title']}\n{ORDINARY['text']}")
    assert result.exit_code == 0 and "iraq-syria-militia-attacks: none" in result.output
    result = runner.invoke(app, ["score", "--profile", "nope", "--config", str(tmp_path / "x.yaml")], input="x")
    assert result.exit_code == 2 and "unknown profile 'nope'" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the command line, not the store
def test_poll_matches_and_feeds_commands(feed_server, json_endpoint, write_watchlist):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1", link="https://n.example/1"),
                                              dict(ORDINARY, guid="2", link="https://n.example/2")]))
    path = write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")},
                                  {"name": "dead", "url": f"http://127.0.0.1:{free_port()}/rss"}],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}],
                           first_poll_alerts=True)
    result = _run(["poll", "--config", str(path)])
    assert result.returncode == 0, result.stderr
    assert "polled 2 feeds (1 failed): 2 new items, 1 matches, 1 alerts; dispatched: 1 sent" in result.stdout
    assert "poll feed=wire status=ok new_items=2 matches=1 alerts=1" in result.stderr
    assert "poll feed=dead status=error" in result.stderr
    assert len(json_endpoint.posts) == 1

    matches = json.loads(_run(["matches", "--json", "--since", "1000d", "--config", str(path)]).stdout)
    assert [m["title"] for m in matches] == [INCIDENT["title"]]
    assert matches[0]["class"] == "incident" and matches[0]["evidence"]["attack"]

    feeds = _run(["feeds", "--config", str(path)]).stdout
    assert "wire: status=ok items_seen=2 errors=0" in feeds
    assert "dead: status=error items_seen=0 errors=1" in feeds and "could not connect to 127.0.0.1" in feeds

    result = _run(["poll", "--config", str(path), "--feed", "wire"])
    assert "polled 1 feeds (0 failed): 0 new items" in result.stdout
    assert len(json_endpoint.posts) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the command line, not the store
def test_notify_test_reports_success_and_exact_failure(json_endpoint, write_watchlist):
    port = free_port()
    path = write_watchlist(channels=[{"name": "hook", "url": json_endpoint.url},
                                     {"name": "mail", "url": f"mailto://u:${{MAIL_PW}}@127.0.0.1:{port}?from=m@b.example&to=a@b.example"}])
    ok = _run(["notify-test", "hook", "--config", str(path)], env={"MAIL_PW": "pw-123456"})
    assert ok.returncode == 0 and "sent a test alert through hook" in ok.stdout
    assert json_endpoint.posts[0]["title"] == "[TEST] news incident monitor"

    failed = _run(["notify-test", "mail", "--config", str(path)], env={"MAIL_PW": "pw-123456"})
    assert failed.returncode == 1
    assert "error: failed: channel 'mail':" in failed.stderr and "refused" in failed.stderr.lower()
    assert "pw-123456" not in failed.stderr + failed.stdout

    unknown = _run(["notify-test", "nope", "--config", str(path)], env={"MAIL_PW": "x"})
    assert unknown.returncode == 2 and "no channel named 'nope'" in unknown.stderr


def test_missing_watchlist_is_a_clear_error(tmp_path):
    result = _run(["check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "config/monitor.yaml: watchlist file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_score_explain_marks_terms_rule_and_negatives(tmp_path):
    story = ("Drone attack on Ain al-Assad air base wounds two U.S. troops\n"
             "The base in Anbar was hit on Tuesday. Separately, Israel struck Gaza.\n")
    result = runner.invoke(app, ["score", "--explain", "--config", str(tmp_path / "none.yaml")], input=story)
    assert result.exit_code == 0, result.output
    assert "headline: [Drone]{attack}" in result.output
    assert "[Ain Assad]{us_target}" in result.output and "[Gaza]{NOT Gaza}" in result.output
    assert "rule fired: attack-on-us-target" in result.output
    assert "negatives:  Gaza" in result.output and "class incident" in result.output
