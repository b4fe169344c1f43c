"""The systemd unit in deploy/ is valid for systemd and starts the commands the CLI has."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app

UNIT = Path(__file__).parent.parent / "deploy" / "news-incident-monitor.service"
INSTALLED = "/opt/news-incident-monitor/.venv/bin/monitor"


def test_unit_runs_check_then_run():
    lines = UNIT.read_text().splitlines()
    assert f"ExecStartPre={INSTALLED} check" in lines
    assert f"ExecStart={INSTALLED} run" in lines
    for command in ("check", "run"):
        assert CliRunner().invoke(app, [command, "--help"]).exit_code == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    monitor = Path(sys.executable).with_name("monitor")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(monitor)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not problems, result.stderr
