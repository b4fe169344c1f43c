"""Profile terms expand "(a|b)" alternatives into spellings; a term or a profile that stands for too
many is refused at load (counted without expanding), with the file:line of the term."""

import itertools
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import PROFILES
from peers import wait_for
from typer.testing import CliRunner

from monitor.cli import app
from monitor.daemon.scheduler import Daemon
from monitor.errors import ConfigError
from monitor.pipeline import Runtime
from monitor.settings.config import load_config
from monitor.settings.profile import (
    MAX_SPELLINGS_PER_PROFILE,
    MAX_SPELLINGS_PER_TERM,
    count_spellings,
    expand,
    load_profiles,
)
from monitor.store import open_database

runner = CliRunner()
HOSTILE = "".join(f"({chr(97 + i)}|{chr(65 + i)})" for i in range(22))  # 22 alternations: 2**22 spellings
RULES = "rules:\n  - {name: r, class: incident, groups: [attack]}\n"


def _profile(directory: Path, terms: list[str], negatives: str = "", name: str = "x") -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.yaml"
    listed = "".join(f"      - {term}\n" for term in terms)
    header = f"name: {name}\ngroups:\n  attack:\n    weight: 1\n    terms:\n"
    path.write_text(header + listed + RULES + negatives)
    return path


def _watchlist(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"database: sqlite:///{tmp_path / 'm.db'}\nprofiles_dir: profiles\n")
    return path


def test_the_count_is_the_number_of_spellings_expand_gives():
    texts = ["".join(chars) for size in range(8) for chars in itertools.product("a(|)", repeat=size)]
    for profile in load_profiles(PROFILES).values():
        terms = [term for group in profile.groups.values() for term in group.terms] + list(profile.negatives)
        texts += [text for term in terms for text in (term.name, *term.aliases)]
    assert [count_spellings(text) for text in texts] == [len(expand(text)) for text in texts]


@pytest.mark.parametrize("terms, negatives, line, field, spellings", [
    (["rocket", "drone", "mortar", f'"{HOSTILE}"'], "", 9, "groups.attack.terms[3]", 2 ** 22),
    (["rocket"], f'negatives:\n  - {{name: sports, aliases: [game, "{HOSTILE}"]}}\n', 10, "negatives[0]",
     2 + 2 ** 22),
])
def test_a_term_expanding_to_millions_is_refused_at_once_naming_file_and_line(tmp_path, terms, negatives,
                                                                              line, field, spellings):
    profile = _profile(tmp_path / "profiles", terms, negatives)
    assert len(profile.read_bytes()) < 300
    with pytest.raises(ConfigError) as caught:
        load_config(_watchlist(tmp_path), environ={})
    error = caught.value
    assert (error.file, error.line, error.field) == (str(profile), line, field)
    assert f"expands to {spellings} spellings" in str(error)
    assert f"at most {MAX_SPELLINGS_PER_TERM} per term" in str(error)
    assert str(error).startswith(f"{profile}:{line}: {field}: \"{HOSTILE[:40]}...\"")


def _term_of(spellings: int, tag: int) -> str:
    """A term of exactly `spellings` (a power of 2 times a power of 5) distinct spellings."""
    twos, fives = 0, 0
    while spellings % 2 == 0:
        spellings, twos = spellings // 2, twos + 1
    while spellings % 5 == 0:
        spellings, fives = spellings // 5, fives + 1
    assert spellings == 1
    return " ".join([f"(a{tag}|b{tag})"] * twos + ["(c|d|e|f|g)"] * fives)


def test_a_term_at_the_limit_loads(tmp_path):
    _profile(tmp_path / "profiles", [f'"{_term_of(MAX_SPELLINGS_PER_TERM, 0)}"'])
    [term] = load_config(_watchlist(tmp_path), environ={}).profiles["x"].groups["attack"].terms
    assert len(term.spellings()) == MAX_SPELLINGS_PER_TERM


def test_a_profile_at_the_limit_loads_and_one_spelling_more_is_refused(tmp_path):
    terms = [f'"{_term_of(MAX_SPELLINGS_PER_TERM, tag)}"'
             for tag in range(MAX_SPELLINGS_PER_PROFILE // MAX_SPELLINGS_PER_TERM)]
    _profile(tmp_path / "profiles", terms)
    profile = load_config(_watchlist(tmp_path), environ={}).profiles["x"]
    assert sum(len(term.spellings()) for term in profile.groups["attack"].terms) == MAX_SPELLINGS_PER_PROFILE

    more = [f'"{_term_of(MAX_SPELLINGS_PER_TERM, tag)}"' for tag in range(len(terms), 400)]
    path = _profile(tmp_path / "profiles", [*terms, "mortar", *more])  # 20 million spellings, none expanded
    with pytest.raises(ConfigError) as caught:
        load_config(_watchlist(tmp_path), environ={})
    error = caught.value
    assert (error.file, error.line) == (str(path), 6 + len(terms))  # 5 lines before the first term
    assert error.field == f"groups.attack.terms[{len(terms)}]"
    assert f"at most {MAX_SPELLINGS_PER_PROFILE} per profile" in str(error) and '"mortar"' in str(error)


def test_the_shipped_profile_stays_far_below_the_limits():
    for profile in load_profiles(PROFILES).values():
        terms = [term for group in profile.groups.values() for term in group.terms] + list(profile.negatives)
        assert max(term.spelling_count() for term in terms) * 4 <= MAX_SPELLINGS_PER_TERM
        assert sum(term.spelling_count() for term in terms) * 4 <= MAX_SPELLINGS_PER_PROFILE


def test_check_prints_the_error_on_one_line_and_exits_2(tmp_path):
    profile = _profile(tmp_path / "profiles", ["rocket", f'"{HOSTILE}"'])
    result = runner.invoke(app, ["check", "--config", str(_watchlist(tmp_path))])
    assert result.exit_code == 2
    expected = (f'error: {profile}:7: groups.attack.terms[1]: "{HOSTILE[:40]}..." expands to {2 ** 22} '
                f"spellings; at most {MAX_SPELLINGS_PER_TERM} per term")
    assert result.output.splitlines() == [expected]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hot_reload_of_such_a_profile_is_rejected_and_the_last_good_config_kept(
        tmp_path, json_endpoint, write_watchlist):
    profiles = tmp_path / "profiles"
    _profile(profiles, ["rocket"], name="good")
    path = write_watchlist(channels=[{"name": "admin", "url": json_endpoint.url}], admin_channel="admin",
                           profiles_dir=str(profiles), tick="1s", dispatch={"interval": "1s"})
    config = load_config(path)
    engine = open_database(config.database)
    running = Daemon(Runtime(config, engine), watch_every=timedelta(seconds=0.2))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        hostile = _profile(profiles, ["rocket", f'"{HOSTILE}"'], name="hostile")
        assert wait_for(lambda: len(json_endpoint.posts) == 1)
        assert json_endpoint.posts[0]["title"] == "[OPS] config edit rejected"
        assert f"{hostile}:7: groups.attack.terms[1]:" in json_endpoint.posts[0]["message"]
        assert running.runtime.config is config and list(config.profiles) == ["good"]
    finally:
        running.shutdown()
        thread.join(timeout=20)
        engine.dispose()
    assert not thread.is_alive()
