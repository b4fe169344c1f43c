"""`monitor backtest` replays a profile over stored items without sending or writing anything."""

import json
import shutil

from sqlmodel import Session, func, select
from typer.testing import CliRunner

from conftest import INCIDENT, ORDINARY, PROFILES
from monitor.cli import app
from monitor.pipeline import poll
from monitor.store import MatchRow, OutboxRow
from peers import Route, rss

runner = CliRunner()


def _counts(runtime):
    with Session(runtime.engine) as session:
        return (session.exec(select(func.count()).select_from(MatchRow)).one(),
                session.exec(select(func.count()).select_from(OutboxRow)).one())


def test_backtest_shows_alerts_and_the_effect_of_a_profile_edit(feed_server, write_watchlist,
                                                                make_runtime, tmp_path):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1", link="https://n.example/1"),
                                              dict(ORDINARY, guid="2", link="https://n.example/2")]))
    path = write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}],
                           profiles_dir=str(profiles))
    runtime = make_runtime(path)
    poll(runtime)
    before = _counts(runtime)

    result = runner.invoke(app, ["backtest", "--config", str(path), "--since", "3650d", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"] == {"matches": 1, "alerts": 1, "incidents": 1, "newly_incident": 0,
                                 "no_longer_incident": 0}
    [item] = report["items"]
    assert item["alert"] == "alert" and item["stored_class"] == "incident"

    profile = profiles / "iraq-syria-militia-attacks.yaml"
    profile.write_text(profile.read_text().replace(
        "\nnegatives:\n", "\nnegatives:\n  - {name: eastern Syria, weight: 1.0}\n", 1))
    text = runner.invoke(app, ["backtest", "--config", str(path), "--since", "3650d"]).output
    assert "(stored then: incident)" in text and "1 no longer incident" in text
    assert "Nothing was sent or stored." in text
    assert _counts(runtime) == before
