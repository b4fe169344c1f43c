"""`monitor backtest` replays a profile over stored items without sending or writing anything."""

import json
import shutil
from datetime import timedelta

from conftest import INCIDENT, INCIDENT_2, ORDINARY, PROFILES
from peers import Route, rss
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.pipeline import poll
from monitor.store import MatchRow, OutboxRow

runner = CliRunner()


def _counts(runtime):
    with Session(runtime.engine) as session:
        return (session.exec(select(func.count()).select_from(MatchRow)).one(),
                session.exec(select(func.count()).select_from(OutboxRow)).one())


def test_backtest_shows_alerts_and_the_effect_of_a_profile_edit(feed_server, write_watchlist,
                                                                make_runtime, tmp_path, clock):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1", link="https://n.example/1",
                                                   published=clock.now),
                                              dict(ORDINARY, guid="2", link="https://n.example/2")]))
    path = write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}],
                           profiles_dir=str(profiles), max_item_age="7d")
    runtime = make_runtime(path)
    poll(runtime)  # the feed's first poll: its back catalogue is stored, not paged
    clock.advance(hours=1)
    feed_server.routes["/a.xml"] = Route(rss([
        dict(INCIDENT, guid="1", link="https://n.example/1", published=clock.now - timedelta(hours=1)),
        dict(INCIDENT_2, guid="3", link="https://n.example/3", published=clock.now),
        dict(INCIDENT_2, title="Drone attack on Erbil air base wounds two US troops", guid="4",
             link="https://n.example/4", published=clock.now - timedelta(days=30))]))  # an old story again
    poll(runtime)
    before = _counts(runtime)

    result = runner.invoke(app, ["backtest", "--config", str(path), "--since", "3650d", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"] == {"matches": 3, "alerts": 1, "held": 2, "incidents": 1, "newly_incident": 0,
                                 "no_longer_incident": 0}
    held = {item["title"]: (item["alert"], item["held"]) for item in report["items"]}
    assert held == {INCIDENT["title"]: (None, "first poll"), INCIDENT_2["title"]: ("alert", None),
                    "Drone attack on Erbil air base wounds two US troops": (None, "stale")}
    assert _alerted(runtime) == [INCIDENT_2["title"]]  # what the daemon paged: the same

    profile = profiles / "iraq-syria-militia-attacks.yaml"
    profile.write_text(profile.read_text().replace(
        "\nnegatives:\n", "\nnegatives:\n  - {name: wounds two US troops, weight: 1.0}\n", 1))
    text = runner.invoke(app, ["backtest", "--config", str(path), "--since", "3650d"]).output
    assert "(stored then: incident)" in text and "1 no longer incident" in text
    assert "(first poll)" in text and "2 never paged" in text
    assert "Nothing was sent or stored." in text
    assert _counts(runtime) == before


def _alerted(runtime) -> list[str]:
    with Session(runtime.engine) as session:
        return [row.title.removeprefix("[INCIDENT] ") for row in session.exec(select(OutboxRow))]


def test_an_incident_after_an_empty_first_poll_is_an_alert_in_the_backtest_too(feed_server, write_watchlist,
                                                                               make_runtime, clock):
    """What the daemon did with each match decides, not when the item came: a feed whose first
    poll brought nothing matching pages its next incident, and the backtest says so."""
    feed_server.routes["/a.xml"] = Route(rss([dict(ORDINARY, guid="2", link="https://n.example/2")]))
    path = write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}])
    runtime = make_runtime(path)
    poll(runtime)
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1", link="https://n.example/1"),
                                              dict(ORDINARY, guid="2", link="https://n.example/2")]))
    poll(runtime)

    report = json.loads(runner.invoke(app, ["backtest", "--config", str(path), "--since", "3650d",
                                            "--json"]).output)

    assert (report["summary"]["alerts"], report["summary"]["held"]) == (1, 0)
    assert _alerted(runtime) == [INCIDENT["title"]]
