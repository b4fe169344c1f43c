"""The config watcher does not take a half-written watchlist for an edit: files are loaded only
once they stayed unchanged (content, mtime, size) for a second by the runtime's clock, and an edit
that drops every channel, every route or most feeds waits longer and is told to the admin.
A real watchlist file on disk, a fake clock."""

import os
from datetime import timedelta

import pytest
import yaml
from sqlmodel import select

from monitor.daemon.watch import ConfigWatcher, drastic_changes
from monitor.settings.config import load_config
from monitor.store import OutboxRow, session_scope

PROFILE = "tiny"  # a small profile loads in a moment; the shipped one takes about a second
TINY_PROFILE = ("name: tiny\ngroups:\n  attack:\n    weight: 1\n    terms: [rocket]\n"
                "rules:\n  - {name: r, class: incident, groups: [attack]}\n")
FEED_A = {"name": "a", "url": "http://127.0.0.1:9/a.xml"}
FEED_B = {"name": "b", "url": "http://127.0.0.1:9/b.xml"}
FEED_C = {"name": "c", "url": "http://127.0.0.1:9/c.xml"}
FEED_D = {"name": "d", "url": "http://127.0.0.1:9/d.xml"}


@pytest.fixture
def watchlist(write_watchlist, tmp_path):
    """A watchlist with an admin channel, a route and feeds a, b, c (nothing is ever sent)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / f"{PROFILE}.yaml").write_text(TINY_PROFILE)
    channels = [{"name": "admin", "url": "json://127.0.0.1:9/admin"},
                {"name": "hook", "url": "json://127.0.0.1:9/hook"}]
    return write_watchlist(feeds=[FEED_A, FEED_B, FEED_C], channels=channels,
                           routes=[{"profile": PROFILE, "channels": ["hook"]}], admin_channel="admin",
                           profiles_dir=str(profiles), dispatch={"interval": "1s"})


@pytest.fixture
def watched(watchlist, make_runtime):
    """The watchlist, a runtime on it (fake clock) and its ConfigWatcher."""
    runtime = make_runtime(watchlist)
    return watchlist, runtime, ConfigWatcher(runtime.config)


def _rewrite(path, change) -> str:
    """The watchlist's text after `change`, the way `yaml.safe_dump` writes it."""
    data = yaml.safe_load(path.read_text())
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def _ops_messages(runtime) -> list[OutboxRow]:
    with session_scope(runtime.engine) as session:
        return list(session.exec(select(OutboxRow).where(OutboxRow.kind == "ops").order_by(OutboxRow.id)))


def _ops_rows(runtime) -> list[tuple[str, str]]:
    return [(row.channel, row.title) for row in _ops_messages(runtime)]


def test_a_watchlist_cut_off_and_completed_within_the_window_is_never_loaded(watched, clock):
    path, runtime, watcher = watched
    edited = _rewrite(path, lambda data: data["feeds"].append(FEED_D))
    cut_off = edited[:edited.index("channels:")]  # still valid YAML, still a valid watchlist
    polls = []

    path.write_text(cut_off)
    for _ in range(3):  # 0.9 s of the cut-off file: a poll every 0.3 s
        polls.append(watcher.poll(runtime))
        clock.advance(seconds=0.3)
    path.write_text(edited)
    for _ in range(3):
        polls.append(watcher.poll(runtime))
        clock.advance(seconds=0.3)
    assert polls == [None] * 6  # the complete file: 0.6 s unchanged so far

    clock.advance(seconds=0.4)
    loaded = watcher.poll(runtime)
    assert loaded is not None
    assert [c.name for c in loaded.config.channels] == ["admin", "hook"]
    assert [f.name for f in loaded.config.feeds] == ["a", "b", "c", "d"]
    assert _ops_rows(runtime) == []  # nothing held back, nothing to tell


def test_a_new_mtime_restarts_the_window(watched, clock):
    path, runtime, watcher = watched
    path.write_text(_rewrite(path, lambda data: data["feeds"].append(FEED_D)))
    assert watcher.poll(runtime) is None
    clock.advance(seconds=0.8)
    stat = path.stat()  # the same bytes written again, say: only the mtime moves
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert watcher.poll(runtime) is None
    clock.advance(seconds=0.8)
    assert watcher.poll(runtime) is None  # 1.6 s since the first read, 0.8 s since the mtime moved
    clock.advance(seconds=0.3)
    assert watcher.poll(runtime) is not None


def test_dropping_every_channel_is_applied_only_after_the_longer_window_and_told(watched, clock):
    path, runtime, watcher = watched

    def drop_channels(data):
        data.update(channels=[], routes=[])
        del data["admin_channel"]
    path.write_text(_rewrite(path, drop_channels))
    assert watcher.poll(runtime) is None
    clock.advance(seconds=1.5)
    assert watcher.poll(runtime) is None  # settled, but drastic: held back
    assert _ops_rows(runtime) == [("admin", "[OPS] config edit held back")]
    assert "drops every channel (2), every route (1)" in _ops_messages(runtime)[0].body

    for _ in range(8):  # up to 9.5 s unchanged: still held, told once
        clock.advance(seconds=1)
        assert watcher.poll(runtime) is None
    assert len(_ops_rows(runtime)) == 1

    clock.advance(seconds=0.5)
    loaded = watcher.poll(runtime)
    assert loaded is not None and not loaded.config.channels and not loaded.config.routes
    # told through the new config's admin channel: it has none, so the log
    assert _ops_rows(runtime) == [("admin", "[OPS] config edit held back"),
                                  ("log", "[OPS] config edit applied")]


def test_a_held_back_edit_replaced_in_time_is_never_applied(watched, clock):
    path, runtime, watcher = watched
    path.write_text(_rewrite(path, lambda data: data.update(feeds=[FEED_A])))  # drops b and c of 3
    assert watcher.poll(runtime) is None
    clock.advance(seconds=1)
    assert watcher.poll(runtime) is None
    assert _ops_rows(runtime) == [("admin", "[OPS] config edit held back")]

    path.write_text(_rewrite(path, lambda data: data.update(feeds=[FEED_A, FEED_B, FEED_C, FEED_D])))
    clock.advance(seconds=9)  # the held version would be due now, but it is gone
    assert watcher.poll(runtime) is None  # the completed file, just seen
    clock.advance(seconds=1)
    loaded = watcher.poll(runtime)
    assert [f.name for f in loaded.config.feeds] == ["a", "b", "c", "d"]
    assert len(_ops_rows(runtime)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database is opened
def test_a_drastic_edit_waits_two_dispatch_intervals_if_longer(watchlist):
    """So the held-back notice goes out through the channels the edit would drop."""
    config = load_config(watchlist)  # dispatch every 1 s
    every_15s = config.dispatch.model_copy(update={"interval": timedelta(seconds=15)})
    slow = config.model_copy(update={"dispatch": every_15s})
    assert ConfigWatcher.hold_for(config) == timedelta(seconds=10)
    assert ConfigWatcher.hold_for(slow) == timedelta(seconds=30)


@pytest.mark.parametrize("change, drops", [
    ({"feeds": [FEED_A]}, ["2 of 3 feeds (b, c)"]),
    ({"feeds": [FEED_A, FEED_B]}, []),  # one of three: an ordinary edit
    ({"feeds": [FEED_A, {"name": "b2", "url": FEED_B["url"]}, FEED_C]}, []),
    ({"routes": []}, ["every route (1)"]),
    ({"channels": [], "routes": [], "admin_channel": None}, ["every channel (2)", "every route (1)"]),
])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database is opened
def test_drastic_changes(watchlist, tmp_path, change, drops):
    edited = tmp_path / "edited.yaml"
    edited.write_text(_rewrite(watchlist, lambda data: data.update(change)))
    assert drastic_changes(load_config(watchlist), load_config(edited)) == drops
