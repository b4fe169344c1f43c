"""OPML import and export of feeds: OPML files shaped like real readers' exports (tests/data/opml),
hostile XML, and a watchlist file that keeps its comments and is replaced whole or not at all."""

import difflib
import shutil
import time
import xml.etree.ElementTree as ElementTree

import pytest
import yaml
from typer.testing import CliRunner

from conftest import ROOT
from monitor.cli import app
from monitor.errors import ConfigError
from monitor.settings.config import load_config
from monitor.tools.opml import read_opml
from monitor.tools.watchlist import replace_checked, with_feeds

OPML = ROOT / "tests" / "data" / "opml"
runner = CliRunner()


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A copy of the shipped watchlist (comments, flow-style feeds) and its profiles."""
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config" / "monitor.yaml"


def _import(watchlist, opml, *options):
    return runner.invoke(app, ["feeds", "import", str(opml), "-c", str(watchlist), *options])


def _feeds(watchlist):
    return {feed.name: (feed.url, feed.tags) for feed in load_config(watchlist).feeds}


def test_import_adds_nested_feeds_with_tags_and_keeps_every_comment(shipped):
    before, watched = shipped.read_text(), len(load_config(shipped).feeds)
    result = _import(shipped, OPML / "feedly-nested.opml")
    assert result.exit_code == 0, result.output
    assert "added 3 feeds" in result.output
    assert "rudaw-english, shafaq-news, war-on-the-rocks" in result.output
    source = OPML / "feedly-nested.opml"
    assert f"skipped {source}:9: https://www.aljazeera.com/xml/rss/all.xml: already in the watchlist as " \
           f"aljazeera" in result.output
    assert f"skipped {source}:19: " in result.output and "as defense-news" in result.output
    assert f"skipped {source}:25: outline 'Newsletter without a feed' has no xmlUrl" in result.output
    assert f"skipped {source}:27: " in result.output  # the same URL twice in the file

    after = shipped.read_text()
    changes = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert all(line.startswith("+ ") for line in changes) and len(changes) == 3  # only added lines
    feeds = _feeds(shipped)
    assert feeds["shafaq-news"] == ("https://shafaq.com/en/rss", ("middle-east", "iraq-desk"))
    assert feeds["war-on-the-rocks"] == ("https://warontherocks.com/feed/",
                                         ("defence", "analysis", "think-tanks"))
    assert feeds["rudaw-english"][1] == ("middle-east",)
    assert len(feeds) == watched + 3


def test_dry_run_says_what_it_would_add_and_changes_nothing(shipped):
    before = shipped.read_text()
    result = _import(shipped, OPML / "feedly-nested.opml", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would add 3 feeds" in result.output and shipped.read_text() == before


def test_flat_opml_gets_unique_names_and_bad_urls_are_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    (tmp_path / "profiles").mkdir()
    watchlist = tmp_path / "monitor.yaml"
    watchlist.write_text(yaml.safe_dump({"profiles_dir": "profiles", "max_item_age": "7d"}))
    result = _import(watchlist, OPML / "inoreader-flat.opml")
    assert result.exit_code == 0, result.output
    assert "'gopher://old.example.org/feed' is not an http(s) URL" in result.output
    feeds = _feeds(watchlist)
    assert sorted(feeds) == ["aljazeera-net", "long-war-journal", "long-war-journal-2"]
    assert feeds["long-war-journal"][0] == "https://www.longwarjournal.org/feed?type=rss&cat=iraq"
    assert watchlist.read_text().startswith("max_item_age: 7d\nprofiles_dir: profiles\nfeeds:\n")


@pytest.mark.parametrize("name, line, entity", [("billion-laughs.opml", 3, "lol"),
                                                ("external-entity.opml", 2, "secret")])
def test_hostile_xml_is_refused_at_once(shipped, name, line, entity):
    before = shipped.read_text()
    started = time.monotonic()
    result = _import(shipped, OPML / name)
    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert f"{OPML / name}:{line}: refused: the file declares the entity '{entity}'" in result.output
    assert shipped.read_text() == before


@pytest.mark.parametrize("document, problem", [
    (b"", ":1: not valid XML: no element found"),
    (b"<opml><body>\n<outline text='a' xmlUrl='https://a.example/'>\n</body></opml>",
     ":3: not valid XML: mismatched tag"),
    (b"<?xml version='1.0'?>\n<rss version='2.0'><channel/></rss>", ":2: not OPML: the document is <rss>"),
    (b"<opml><body><outline xmlUrl='https://a.example/' text='&nbsp;'/></body></opml>", "undefined entity"),
])
def test_broken_or_foreign_files_say_where(document, problem):
    with pytest.raises(Exception) as error:
        read_opml(document, "feeds.opml")
    assert str(error.value).startswith("feeds.opml:") and problem in str(error.value)


def test_a_file_that_is_not_there_or_has_nothing_new(shipped, tmp_path):
    result = _import(shipped, tmp_path / "missing.opml")
    assert result.exit_code == 2 and "missing.opml: No such file or directory" in result.output
    exported = tmp_path / "same.opml"
    runner.invoke(app, ["feeds", "export", "-c", str(shipped), "-o", str(exported)])
    result = _import(shipped, exported)
    assert result.exit_code == 0 and "no new feed in" in result.output
    assert result.output.count("skipped") == len(load_config(shipped).feeds)


def test_export_writes_opml_2_with_categories_and_imports_back(shipped, tmp_path):
    result = runner.invoke(app, ["feeds", "export", "-c", str(shipped)])
    assert result.exit_code == 0, result.output
    root = ElementTree.fromstring(result.output.encode())
    assert root.get("version") == "2.0" and root.find("head/title") is not None
    outlines, feeds = root.findall("body/outline"), load_config(shipped).feeds
    assert [(o.get("text"), o.get("xmlUrl")) for o in outlines] == [(f.name, f.url) for f in feeds]
    tagged = next(feed for feed in feeds if len(feed.tags) > 1)
    assert outlines[feeds.index(tagged)].get("category") == ",".join(tagged.tags)
    assert outlines[0].get("type") == "rss"

    (tmp_path / "fresh").mkdir()
    shutil.copytree(ROOT / "config" / "profiles", tmp_path / "fresh" / "profiles")
    fresh = tmp_path / "fresh" / "monitor.yaml"
    fresh.write_text("# mine\nfeeds: []  # none yet\n")
    opml = tmp_path / "feeds.opml"
    assert runner.invoke(app, ["feeds", "export", "-c", str(shipped), "-o", str(opml)]).exit_code == 0
    result = _import(fresh, opml)
    assert result.exit_code == 0, result.output
    assert {name: (url, set(tags)) for name, (url, tags) in _feeds(fresh).items()} == \
           {name: (url, set(tags)) for name, (url, tags) in _feeds(shipped).items()}
    assert fresh.read_text().startswith(f"# mine\nfeeds:     # none yet\n  - {{name: {feeds[0].name}, ")


def test_feeds_without_a_subcommand_still_shows_health(shipped):
    result = runner.invoke(app, ["feeds", "-c", str(shipped)])
    assert result.exit_code == 0, result.output
    assert "database sqlite:///" in result.output


# ---- editing the watchlist file ---------------------------------------------------------------

NEW = [{"name": "b", "url": "https://b.example/rss?x=1&y=2", "tags": ["t"]}]


@pytest.mark.parametrize("text, expected", [
    ("feeds:\n  - name: a   # mine\n    url: https://a.example/\n# channels next\nchannels: []\n",
     "feeds:\n  - name: a   # mine\n    url: https://a.example/\n  - name: b\n"
     "    url: \"https://b.example/rss?x=1&y=2\"\n    tags: [t]\n# channels next\nchannels: []\n"),
    ("feeds:\n- {name: a, url: 'https://a.example/'}  # first\n# the end\n",
     "feeds:\n- {name: a, url: 'https://a.example/'}  # first\n"
     "- {name: b, url: \"https://b.example/rss?x=1&y=2\", tags: [t]}\n# the end\n"),
    ("# only a comment\ntick: 30s\n",
     "# only a comment\ntick: 30s\nfeeds:\n"
     "  - {name: b, url: \"https://b.example/rss?x=1&y=2\", tags: [t]}\n"),
])
def test_new_entries_follow_the_style_of_the_file(text, expected):
    edited = with_feeds(text, NEW, "monitor.yaml")
    assert edited.text == expected and edited.layout_kept


def test_a_watchlist_that_would_not_load_is_left_as_it_was(tmp_path):
    path = tmp_path / "monitor.yaml"
    path.write_text("feeds: []\n")

    def refuse(candidate):
        raise ConfigError("feeds[0].url: refused", file=str(candidate), line=2)

    with pytest.raises(ConfigError) as error:
        replace_checked(path, "feeds: []\n", "feeds:\n- {name: b, url: x}\n", refuse)
    assert f"{path} is left as it was: {path}:2: feeds[0].url: refused" in str(error.value)
    assert path.read_text() == "feeds: []\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.yaml"]


def test_an_edit_made_meanwhile_is_not_overwritten(tmp_path):
    path = tmp_path / "monitor.yaml"
    path.write_text("feeds: []  # edited by hand meanwhile\n")
    with pytest.raises(ConfigError, match="changed while the feeds were being added"):
        replace_checked(path, "feeds: []\n", "feeds:\n- {name: b, url: x}\n", lambda _: None)
    assert path.read_text() == "feeds: []  # edited by hand meanwhile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.yaml"]


def test_import_needs_no_channel_secret_and_refuses_a_broken_watchlist(tmp_path, monkeypatch):
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    (tmp_path / "profiles").mkdir()
    watchlist = tmp_path / "monitor.yaml"
    text = "profiles_dir: profiles\nchannels:\n  - {name: hook, url: \"json://127.0.0.1/${HOOK_TOKEN}\"}\n"
    watchlist.write_text(text)
    result = _import(watchlist, OPML / "inoreader-flat.opml")
    assert result.exit_code == 0, result.output
    assert "${HOOK_TOKEN}" in watchlist.read_text() and "unset" not in watchlist.read_text()

    watchlist.write_text(text + "tick: soon\n")
    result = _import(watchlist, OPML / "feedly-nested.opml")
    assert result.exit_code == 2 and f"{watchlist}:4: tick: " in result.output
    assert watchlist.read_text() == text + "tick: soon\n"
