"""`monitor check` and every load report all the problems of the watchlist and of each profile,
each as file:line: field: message, not only the first; the database URL's scheme is checked."""

import logging
import os

import pytest
import yaml
from pydantic_core import PydanticCustomError
from sqlmodel import select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.daemon.watch import ConfigWatcher
from monitor.errors import ConfigError
from monitor.settings.config import load_config
from monitor.settings.profile import MAX_SPELLINGS_PER_PROFILE, SpellingBudget
from monitor.settings.yamlsource import NOT_CHECKED
from monitor.store import OutboxRow, open_database, session_scope

runner = CliRunner()
TINY_PROFILE = ("name: tiny\ngroups:\n  attack:\n    weight: 1\n    terms: [rocket]\n"
                "rules:\n  - {name: r, class: incident, groups: [attack]}\n")
THREE_MISTAKES = """\
feeds:
  - name: wire
    url: https://wire.example/rss
    interval: often
channels:
  - name: hook
    url: json://127.0.0.1:9/hook
    formatt: markdown
routes:
  - profile: tiny
    channels: [hook, pager]
"""


def _watchlist(tmp_path, text: str, profiles: dict[str, str] | None = None):
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    for name, profile in (profiles or {"tiny": TINY_PROFILE}).items():
        (folder / f"{name}.yaml").write_text(profile)
    path = tmp_path / "monitor.yaml"
    path.write_text(f"database: sqlite:///{tmp_path / 'm.db'}\nprofiles_dir: profiles\n" + text)
    return path


def _problems(path, environ=None) -> list[tuple]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return [(problem.file, problem.line, problem.field) for problem in caught.value.problems]


def test_check_reports_three_independent_mistakes_each_with_its_line(tmp_path):
    path = _watchlist(tmp_path, THREE_MISTAKES)
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    interval, field, channel = result.stderr.splitlines()
    assert interval.startswith(f"error: {path}:6: feeds[0].interval: 'often' is not a duration")
    assert field == f"error: {path}:10: channels[0].formatt: unknown field (check the spelling)"
    assert channel == f"error: {path}:13: routes[0].channels[1]: unknown channel 'pager'; known: ['hook']"
    assert "Traceback" not in result.output


def test_the_error_keeps_the_first_problem_and_lists_them_all(tmp_path):
    path = _watchlist(tmp_path, THREE_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), 6, "feeds[0].interval")
    assert len(error.problems) == 3 and str(error).splitlines() == [str(p) for p in error.problems]
    single = ConfigError.of([error.problems[1]])
    assert single is error.problems[1] and single.problems == (single,)


def test_every_profile_is_checked_even_when_the_watchlist_is_invalid(tmp_path):
    broken = ("name: other\ngroups:\n  attack:\n    weight: 2\n    terms: [rocket]\n"
              "rules:\n  - {name: r, class: incident, groups: [attack, 5, ghost]}\n"
              "  - {name: s, class: related, groups: [phantom]}\n"
              "incidents: {entity_groups: [nowhere]}\n")
    other = TINY_PROFILE.replace("tiny", "b").replace("weight: 1", "weight: x")
    path = _watchlist(tmp_path, "tick: soon\n", {"a": broken, "b": other})
    a, b = str(tmp_path / "profiles" / "a.yaml"), str(tmp_path / "profiles" / "b.yaml")
    assert _problems(path) == [
        (str(path), 3, "tick"),
        (a, 1, "name"),  # differs from the file name
        (a, 4, "groups.attack.weight"),
        (a, 7, "rules[0].groups[1]"),  # the 5: once, not once per member of the union it fails
        (a, 7, "rules[0]"),  # names the unknown group ghost
        (a, 8, "rules[1]"),  # ... and phantom
        (a, 9, "incidents.entity_groups"),
        (b, 4, "groups.attack.weight"),
    ]


def test_an_entry_that_fails_validation_still_counts_as_there(tmp_path):
    """A channel whose URL names an unset variable is reported once, and the route naming it is
    no "unknown channel"; no "too short" follows from an entry that failed."""
    path = _watchlist(tmp_path, "channels:\n  - {name: hook, url: 'json://${UNSET_HOOK}'}\n"
                                "routes:\n  - {profile: tiny, channels: [hook]}\n")
    assert _problems(path) == [(str(path), 4, "channels[0]")]
    only = _watchlist(tmp_path, "routes:\n  - {profile: tiny, channels: [5]}\n")
    assert _problems(only) == [(str(only), 4, "routes[0].channels[0]")]


def test_a_spent_spelling_budget_is_reported_once():
    budget = SpellingBudget()
    budget.spend(MAX_SPELLINGS_PER_PROFILE, "a")
    with pytest.raises(ValueError, match="brings the profile's terms to"):
        budget.spend(1, "b")
    with pytest.raises(PydanticCustomError) as later:  # stops the term, is not reported
        budget.spend(1, "c")
    assert later.value.type == NOT_CHECKED


def test_a_reload_with_several_problems_logs_one_line_and_tells_the_admin_all(tmp_path, write_watchlist,
                                                                             make_runtime, clock, caplog):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text(TINY_PROFILE)
    path = write_watchlist(channels=[{"name": "admin", "url": "json://127.0.0.1:9/admin"}],
                           admin_channel="admin", profiles_dir=str(tmp_path / "profiles"))
    runtime = make_runtime(path)
    watcher = ConfigWatcher(runtime.config)
    edited = yaml.safe_load(path.read_text()) | {"tick": "soon", "feeds": [{"name": "a", "url": "ftp://x"}]}
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    caplog.set_level(logging.ERROR, logger="monitor.ops")
    assert watcher.poll(runtime) is None
    clock.advance(seconds=2)
    assert watcher.poll(runtime) is None

    [logged] = [r.getMessage() for r in caplog.records if "config edit rejected" in r.getMessage()]
    assert "\n" not in logged and "tick:" in logged and "; " in logged and "feeds[0].url:" in logged
    with session_scope(runtime.engine) as session:
        [told] = session.exec(select(OutboxRow).where(OutboxRow.kind == "ops")).all()
    assert "tick:" in told.body and "feeds[0].url:" in told.body


# --- the database URL ---------------------------------------------------------------------------

@pytest.mark.parametrize("url, scheme", [
    ("mysql://root:hunter2-secret@db.example/monitor", "mysql"),
    ("sqlit:///hunter2-secret.db", "sqlit"),
    ("postgresql+psycopg2://u:hunter2-secret@127.0.0.1/db", "postgresql+psycopg2"),
    ("postgresql+asyncpg://u:hunter2-secret@127.0.0.1/db", "postgresql+asyncpg"),
])
def test_an_unsupported_database_scheme_is_refused_without_the_password(tmp_path, url, scheme):
    path = _watchlist(tmp_path, "")
    path.write_text(path.read_text().replace(f"sqlite:///{tmp_path / 'm.db'}", url))
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:1: database: database scheme {scheme!r} is not "
                                    f"supported; use sqlite:///path/to/monitor.db or postgresql+psycopg://")
    assert "hunter2" not in result.output

    problems = _problems(_watchlist(tmp_path, ""), environ={"MONITOR_DATABASE_URL": url})
    assert problems == [(None, None, "MONITOR_DATABASE_URL")]
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"MONITOR_DATABASE_URL": url})
    assert "hunter2" not in str(caught.value)


def test_a_database_value_that_is_no_url_is_refused(tmp_path):
    path = _watchlist(tmp_path, "")
    path.write_text(path.read_text().replace(f"sqlite:///{tmp_path / 'm.db'}", "hunter2-not-a-url"))
    with pytest.raises(ConfigError, match=r"database: not a database URL; use sqlite:///") as caught:
        load_config(path, environ={})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("written", ["postgresql://u:p@127.0.0.1:5432/db", "postgres://u:p@127.0.0.1:5432/db"])
def test_postgresql_without_a_driver_means_psycopg(tmp_path, written):
    path = _watchlist(tmp_path, "")
    path.write_text(path.read_text().replace(f"sqlite:///{tmp_path / 'm.db'}", written))
    assert load_config(path, environ={}).database == "postgresql+psycopg://u:p@127.0.0.1:5432/db"
    environ = {"MONITOR_DATABASE_URL": written}
    assert load_config(_watchlist(tmp_path, ""), environ=environ).database == \
        "postgresql+psycopg://u:p@127.0.0.1:5432/db"


@pytest.mark.skipif(not os.environ.get("MONITOR_TEST_DATABASE_URL"), reason="needs PostgreSQL")
def test_a_postgresql_url_without_a_driver_opens_the_database(tmp_path):
    plain = "postgresql://" + os.environ["MONITOR_TEST_DATABASE_URL"].partition("://")[2]
    config = load_config(_watchlist(tmp_path, ""), environ={"MONITOR_DATABASE_URL": plain})
    engine = open_database(config.database, migrate=False)
    try:
        with engine.connect() as connection:
            assert connection.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_shipped_database_forms_still_load(tmp_path):
    for url in ("sqlite:///relative.db", "sqlite+pysqlite:///x.db", "sqlite://",
                "postgresql+psycopg://u:p@127.0.0.1/db"):
        path = _watchlist(tmp_path, "")
        path.write_text(path.read_text().replace(f"sqlite:///{tmp_path / 'm.db'}", url))
        assert load_config(path, environ={}).database.split("://")[0] == url.split("://")[0]


def test_a_min_score_scores_never_reach_is_refused(tmp_path):
    """Scores stay below 1.00 (they spread above the threshold instead of saturating), so a route
    or rule asking for 1.0 would never fire."""
    text = ("channels:\n  - {name: hook, url: 'json://127.0.0.1:9/hook'}\n"
            "routes:\n  - {profile: tiny, channels: [hook], min_score: 1.0}\n")
    profile = TINY_PROFILE.replace("class: incident,", "class: incident, min_score: 1.0,")
    problems = _problems(_watchlist(tmp_path, text, {"tiny": profile}))
    assert {field for _, _, field in problems} == {"routes[0].min_score", "rules[0].min_score"}
