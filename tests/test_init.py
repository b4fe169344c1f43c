"""`monitor init`: a starter folder that passes `monitor check`, written from package data, never
over files that are there unless told."""

import fnmatch
import re
import tomllib

from typer.testing import CliRunner

from conftest import ROOT
from monitor.cli import app

runner = CliRunner()
FILES = ["monitor.yaml", ".env.example", "profiles/iraq-syria-militia-attacks.yaml"]


def _written(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_init_writes_a_watchlist_that_passes_check_and_says_what_next(tmp_path, monkeypatch):
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    folder = tmp_path / "watch"
    result = runner.invoke(app, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    assert _written(folder) == sorted(FILES)
    assert (folder / "profiles" / "iraq-syria-militia-attacks.yaml").read_bytes() == \
        (ROOT / "monitor" / "profiles" / "iraq-syria-militia-attacks.yaml").read_bytes()
    for step in (f"monitor check -c {folder}/monitor.yaml", f"monitor run -c {folder}/monitor.yaml",
                 f"{folder}/.env.example", "monitor feeds import FILE.opml"):
        assert step in result.output

    check = runner.invoke(app, ["check", "-c", str(folder / "monitor.yaml")])
    assert check.exit_code == 0, check.output
    assert f"database: sqlite:///{folder.resolve()}/data/monitor.db" in check.output
    assert "profiles (1):\n  iraq-syria-militia-attacks:" in check.output


def test_the_env_example_names_every_variable_of_the_starter_channels(tmp_path):
    runner.invoke(app, ["init", str(tmp_path)])
    urls = [line for line in (tmp_path / "monitor.yaml").read_text().splitlines() if "url:" in line]
    used = {name for line in urls for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", line)}
    named = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", (tmp_path / ".env.example").read_text(), re.M))
    assert used and used <= named


def test_init_refuses_to_overwrite_and_names_what_is_there(tmp_path):
    (tmp_path / "monitor.yaml").write_text("# mine\n")
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert f"not overwriting files that are there: {tmp_path}/monitor.yaml (--force" in result.output
    assert _written(tmp_path) == ["monitor.yaml"] and (tmp_path / "monitor.yaml").read_text() == "# mine\n"

    result = runner.invoke(app, ["init", str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert _written(tmp_path) == sorted(FILES) and "retention:" in (tmp_path / "monitor.yaml").read_text()


def test_init_writes_into_the_current_directory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert _written(tmp_path) == sorted(FILES)
    assert "monitor check -c monitor.yaml" in result.output and ". ./.env" in result.output


def test_the_starter_files_ship_in_the_package():
    """A wheel holds what [tool.setuptools.package-data] lists: every file init reads must match it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["monitor"]
    package = ROOT / "monitor"
    needed = [p for folder in ("starter", "profiles") for p in (package / folder).iterdir() if p.is_file()]
    assert needed
    for path in needed:
        relative = str(path.relative_to(package))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
