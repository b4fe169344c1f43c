"""The README keeps up with the code: every command, every watchlist setting, the CI commands."""

import re

from conftest import ROOT
from monitor.cli import app
from monitor.settings.config import Config, DispatchConfig, FetchConfig

README = (ROOT / "README.md").read_text()


def _command_names(typer_app, prefix=""):
    for command in typer_app.registered_commands:
        yield prefix + (command.name or command.callback.__name__.replace("_", "-"))
    for group in typer_app.registered_groups:
        yield from _command_names(group.typer_instance, f"{prefix}{group.name} ")


def test_every_command_is_documented():
    names = list(_command_names(app))
    assert "profile fit" in names
    missing = [name for name in names if f"`monitor {name}" not in README]
    assert not missing


def test_every_watchlist_setting_is_documented():
    fields = [name for model in (Config, FetchConfig, DispatchConfig)
              for name, info in model.model_fields.items() if not info.exclude]
    missing = [name for name in fields if not re.search(rf"\b{name}\b", README)]
    assert not missing


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e ." in README and "pip install --quiet -e '.[test]'" in ci
    assert "python -m pytest" in README and "python -m pytest" in ci
