"""Everyday rough edges an operator trips on: schedules that never fire, zero intervals, the
version, the log level, a poll where every feed failed."""

import re
from datetime import datetime, timezone

import pytest
import yaml
from typer.testing import CliRunner

from conftest import INCIDENT, PROFILES
from monitor.alerts.routing import due_digests, hold_for
from monitor.cli import app
from monitor.settings.config import RouteConfig, load_config
from peers import Route, free_port, rss

runner = CliRunner()
PROFILE = "iraq-syria-militia-attacks"


def _watchlist(tmp_path, **settings):
    watchlist = {"database": f"sqlite:///{tmp_path / 'm.db'}", "profiles_dir": str(PROFILES),
                 "feeds": [{"name": "a", "url": "http://127.0.0.1:9/a.xml"}],
                 "channels": [{"name": "hook", "url": "json://127.0.0.1:9/hook"}]}
    watchlist.update(settings)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(watchlist, sort_keys=False))
    return path


@pytest.mark.parametrize("cron, problem", [("0 25 * * *", "higher than the maximum value (23)"),
                                           ("0 8 31 2 *", "never fires"),
                                           ("0 8 * * 8", "higher than the maximum value (6)")])
def test_check_refuses_a_digest_schedule_that_cannot_fire(tmp_path, cron, problem):
    path = _watchlist(tmp_path, routes=[{"profile": PROFILE, "channels": ["hook"], "digest": cron}])
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert "routes[0].digest" in result.output and problem in result.output
    assert f"{path.name}:" in result.output  # file:line


def test_alerts_of_a_digest_route_that_cannot_be_scheduled_go_out_at_once(tmp_path):
    config = load_config(_watchlist(tmp_path), environ={})
    broken = RouteConfig.model_construct(profile=PROFILE, min_class="incident", min_score=0.0,
                                         channels=("hook",), quiet_hours=None, digest="0 25 * * *",
                                         timezone="UTC")
    config = config.model_copy(update={"routes": (broken,)})
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    assert hold_for(config, "hook", PROFILE, "incident", 1.0, now) is None  # not held for ever
    assert due_digests(config) == []


@pytest.mark.parametrize("setting", [{"fetch": {"interval": "0s"}}, {"fetch": {"max_backoff": "0s"}},
                                     {"tick": "0"}, {"dispatch": {"interval": "0s"}},
                                     {"feeds": [{"name": "a", "url": "http://127.0.0.1:9/a", "interval": "0s"}]}])
def test_zero_intervals_are_errors(tmp_path, setting):
    result = runner.invoke(app, ["check", "--config", str(_watchlist(tmp_path, **setting))])
    assert result.exit_code == 2 and "must be longer than 0s" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("monitor 0.")


def test_poll_exits_non_zero_when_every_feed_failed(tmp_path, feed_server):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    dead = {"name": "dead", "url": f"http://127.0.0.1:{free_port()}/rss"}
    all_dead = _watchlist(tmp_path, feeds=[dead])
    result = runner.invoke(app, ["poll", "--config", str(all_dead)])
    assert result.exit_code == 1 and "(1 failed)" in result.output
    some_alive = _watchlist(tmp_path, feeds=[dead, {"name": "a", "url": feed_server.url("/a.xml")}])
    result = runner.invoke(app, ["poll", "--config", str(some_alive)])
    assert result.exit_code == 0 and "(1 failed)" in result.output


def test_log_level_from_the_option_or_the_environment(tmp_path, feed_server):
    from test_cli import _run
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]), etag='"v1"')
    path = _watchlist(tmp_path, feeds=[{"name": "a", "url": feed_server.url("/a.xml")}])
    first = _run(["poll", "--config", str(path)])
    assert "poll feed=a status=ok" in first.stderr
    quiet = _run(["poll", "--config", str(path)])  # 304: not worth a line at INFO
    assert "status=not-modified" not in quiet.stderr
    verbose = _run(["--log-level", "DEBUG", "poll", "--config", str(path)])
    assert "poll feed=a status=not-modified" in verbose.stderr
    warnings_only = _run(["poll", "--config", str(path)], env={"MONITOR_LOG_LEVEL": "WARNING"})
    assert " INFO " not in warnings_only.stderr


def test_a_relative_sqlite_path_is_relative_to_the_watchlist_from_any_directory(tmp_path, feed_server):
    from test_cli import _run
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    (tmp_path / "conf").mkdir()
    (tmp_path / "elsewhere").mkdir()
    path = _watchlist(tmp_path / "conf", database="sqlite:///data/monitor.db",
                      feeds=[{"name": "a", "url": feed_server.url("/a.xml")}])
    polled = _run(["poll", "--config", str(path)], cwd=tmp_path / "elsewhere")
    assert polled.returncode == 0, polled.stderr
    database = tmp_path / "conf" / "data" / "monitor.db"
    assert database.exists() and not (tmp_path / "elsewhere" / "data").exists()
    shown = _run(["feeds", "--config", str(path)], cwd=tmp_path)
    assert "a: status=ok" in shown.stdout and f"database sqlite:///{database}" in shown.stdout


def test_read_only_commands_need_no_channel_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    path = _watchlist(tmp_path, channels=[{"name": "hook", "url": "json://127.0.0.1:9/${HOOK_TOKEN}"}])
    for command in (["feeds"], ["matches"], ["incidents"], ["outbox"]):
        result = runner.invoke(app, command + ["--config", str(path)])
        assert result.exit_code == 0, (command, result.output)
    result = runner.invoke(app, ["poll", "--config", str(path)])  # it may send: it needs them
    assert result.exit_code == 2 and "HOOK_TOKEN is not set" in result.output


def test_check_asks_apprise_about_every_channel_url(tmp_path):
    path = _watchlist(tmp_path, channels=[{"name": "hook", "url": "json://127.0.0.1:9/hook"},
                                          {"name": "mail", "url": "mailtoo://ops@example.com"}])
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert re.search(r"monitor.yaml:\d+: channels\[1\]\.url: channel 'mail': apprise cannot use this URL",
                     result.output), result.output
    fine = _watchlist(tmp_path, channels=[{"name": "hook", "url": "json://127.0.0.1:9/hook"}])
    assert runner.invoke(app, ["check", "--config", str(fine)]).exit_code == 0


def test_an_alert_for_a_url_apprise_can_never_use_is_dead_at_once(tmp_path, feed_server, make_runtime):
    from monitor.alerts.deliver import dispatch
    from monitor.pipeline import poll
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="1")]))
    path = _watchlist(tmp_path, feeds=[{"name": "a", "url": feed_server.url("/a.xml")}],
                      channels=[{"name": "mail", "url": "mailtoo://ops@example.com"}],
                      routes=[{"profile": PROFILE, "channels": ["mail"]}],
                      first_poll_alerts=True, max_item_age="36500d")
    runtime = make_runtime(path)
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"dead": 1}  # not 8 tries
    listed = runner.invoke(app, ["outbox", "--config", str(path)])
    assert "dead" in listed.output and "apprise rejected the URL" in listed.output
