"""Watchlist validation: errors name file, line and field; `monitor check` exits 2 on them."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import PROFILES, ROOT
from monitor.cli import app
from monitor.settings.config import load_config
from monitor.errors import ConfigError

runner = CliRunner()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(f"profiles_dir: {PROFILES}\n" + text)
    return path


CASES = [
    ("feeds:\n  - name: a\n    url: https://x.example/rss\n    interval: often\n",
     4, "feeds[0].interval", "not a duration"),
    ("feeds:\n  - name: a\n    url: ftp://x.example/rss\n", 3, "feeds[0].url", "not an http(s) URL"),
    ("feeds:\n  - name: a\n    url: https://x.example/rss\n    intervall: 5m\n",
     4, "feeds[0].intervall", "unknown field"),
    ("feeds:\n  - url: https://x.example/rss\n", 2, "feeds[0].name", "Field required"),
    ("routes:\n  - profile: iraq-syria-militia-attacks\n    channels: [x]\n", 3, "routes[0].channels[0]",
     "unknown channel 'x'"),
    ("feeds:\n  - {name: a, url: 'https://x.example/a'}\n  - {name: a, url: 'https://x.example/b'}\n",
     3, "feeds[1].name", "duplicate name 'a'"),
    ("channels:\n  - {name: c, url: 'json://h'}\nroutes:\n  - profile: nope\n    channels: [c]\n",
     4, "routes[0].profile", "unknown profile 'nope'"),
    ("feeds: [\n", 2, None, "invalid YAML"),
    ("feeds:\n  - name: a\n    url: http://127.0.0.1:80a/rss\n", 3, "feeds[0].url", "not a valid URL"),
    ("feeds: []\nfeeds: []\n", 2, None, "duplicate key 'feeds'"),
]


@pytest.mark.parametrize("text, line, field, phrase", CASES)
def test_bad_edit_names_file_line_and_field(tmp_path, text, line, field, phrase):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    error = caught.value
    assert error.file == str(path) and phrase in str(error)
    if line is not None:
        assert error.line == line + 1  # +1 for the profiles_dir line written first
    if field is not None:
        assert error.field == field


def test_check_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = _write(tmp_path, "feeds:\n  - name: a\n    url: https://x.example/rss\n    interval: often\n")
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:5: feeds[0].interval:" in result.output
    assert "Traceback" not in result.output


def test_unset_variable_names_the_variable_and_the_channel(tmp_path):
    path = _write(tmp_path, "channels:\n  - name: ops\n    url: 'mailtos://u:${SMTP_PASSWORD}@mail.example'\n")
    with pytest.raises(ConfigError, match=r"SMTP_PASSWORD is not set \(channel 'ops'\)"):
        load_config(path, environ={})


def test_every_unset_variable_of_a_channel_is_named_at_once(tmp_path):
    url = "json://${HOOK_USER}:${HOOK_PASS}@h.example/${HOOK_USER}"
    path = _write(tmp_path, f"channels:\n  - name: ops\n    url: '{url}'\n")
    both = r"environment variables HOOK_USER, HOOK_PASS are not set \(channel 'ops'\)"
    with pytest.raises(ConfigError, match=both):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match=r"environment variable HOOK_PASS is not set \(channel 'ops'\)"):
        load_config(path, environ={"HOOK_USER": "ops"})


def test_secret_stays_out_of_check_output(tmp_path, monkeypatch):
    secret = "hunter2-very-secret"
    monkeypatch.setenv("CHAT_TOKEN", secret)
    path = _write(tmp_path, "channels:\n  - name: chat\n    url: 'ntfy://${CHAT_TOKEN}@ntfy.example/alerts'\n")
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "chat: ntfy://ntfy.example/..." in result.output


def test_shipped_watchlist_passes_check_with_no_environment(monkeypatch):
    for name in ("MONITOR_DATABASE_URL", "MONITOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(ROOT / "config" / "monitor.yaml", environ={})
    assert "iraq-syria-militia-attacks" in config.profiles and len(config.feeds) >= 5
    result = runner.invoke(app, ["check", "--config", str(ROOT / "config" / "monitor.yaml")])
    assert result.exit_code == 0, result.output
    assert "profiles (1):" in result.output


def test_database_url_from_environment_wins(tmp_path):
    path = _write(tmp_path, "database: sqlite:///a.db\n")
    assert load_config(path, environ={"MONITOR_DATABASE_URL": "sqlite:///b.db"}).database == "sqlite:///b.db"


def test_bad_profile_edit_names_profile_file_and_line(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p.yaml").write_text(
        "name: p\ngroups:\n  a:\n    weight: 2\n    terms: [x]\nrules:\n  - {name: r, class: incident, groups: [a]}\n")
    path = tmp_path / "monitor.yaml"
    path.write_text("profiles_dir: profiles\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.file == str(profiles / "p.yaml")
    assert caught.value.line == 4 and caught.value.field == "groups.a.weight"


def test_a_secret_in_any_case_stays_out_of_check_output(tmp_path, monkeypatch):
    monkeypatch.setenv("NTFY_TOPIC", "Alerts-Kx7Qp2")
    path = _write(tmp_path, "channels:\n  - name: phone\n    url: 'ntfy://${NTFY_TOPIC}'\n")
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "kx7qp2" not in result.output.lower() and "phone: ntfy://..." in result.output


def test_a_profile_that_is_not_utf8_is_a_clear_error(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p.yaml").write_bytes("name: p\ndescription: caf\u00e9\n".encode("latin-1"))
    path = tmp_path / "monitor.yaml"
    path.write_text("profiles_dir: profiles\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path, environ={})
