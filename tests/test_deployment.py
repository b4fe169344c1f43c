"""Static checks of the Docker deployment files (no Docker engine needed)."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def monitor(compose) -> dict:
    return compose["services"]["monitor"]


def _volumes(service: dict) -> list[tuple[str, str]]:
    """(source, target) pairs from short (`src:dst[:mode]`) or long volume syntax."""
    pairs = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        pairs.append((source, target))
    return pairs


def _env_names(service: dict) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment}


def _env_files(service: dict) -> list[str]:
    env_file = service.get("env_file") or []
    if isinstance(env_file, (str, dict)):
        env_file = [env_file]
    return [item if isinstance(item, str) else item["path"] for item in env_file]


def test_services_exist(compose):
    assert {"monitor", "postgres"} <= set(compose["services"])


def test_monitor_mounts_config_and_data(monitor):
    volumes = _volumes(monitor)
    assert ("./config", "/app/config") in volumes
    assert ("./data", "/app/data") in volumes


def test_monitor_reads_env_file(monitor):
    assert ".env" in _env_files(monitor)


def test_monitor_database_url_is_set(monitor):
    assert "MONITOR_DATABASE_URL" in _env_names(monitor)
    environment = monitor["environment"]
    if isinstance(environment, dict):
        # defaults to the SQLite file on the ./data volume
        assert "sqlite:////app/data/" in environment["MONITOR_DATABASE_URL"]


def test_plain_up_starts_only_the_monitor(compose, monitor):
    assert not monitor.get("profiles")
    assert "postgres" in compose["services"]["postgres"].get("profiles", [])
    dependency = (monitor.get("depends_on") or {}).get("postgres")
    if dependency is not None:  # must not pull in a service whose profile is inactive
        assert dependency.get("required") is False


def test_postgres_uses_named_volume(compose):
    sources = [source for source, _ in _volumes(compose["services"]["postgres"])]
    assert "pgdata" in sources
    assert "pgdata" in (compose.get("volumes") or {})
    assert "healthcheck" in compose["services"]["postgres"]


def test_dockerfile_runs_the_daemon():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmds = re.findall(r"^CMD\s+(.+)$", dockerfile, re.MULTILINE)
    assert cmds, "Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # exec form, so the daemon is PID 1 and receives SIGTERM
    assert cmd[:2] == ["monitor", "run"]
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", dockerfile, re.MULTILINE), "runs as root"


def test_dockerfile_copies_config_before_install():
    """monitor/profiles/*.yaml symlinks into config/profiles/: both must be there for pip."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    copied = " ".join(line for line in lines[:install] if line.startswith("COPY"))
    assert "monitor/" in copied and "config/" in copied


def _strings(node):
    """Every key and value of the parsed file: what compose interpolates (not comments)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_compose_variables_are_documented(compose):
    # ${VAR}, ${VAR:-default}, ${VAR?err}; $${VAR} is escaped for the container shell
    pattern = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
    referenced = {name for text in _strings(compose) for name in pattern.findall(text)}
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=", example, re.MULTILINE))
    assert referenced, "expected ${VAR} references in docker-compose.yml"
    assert referenced <= documented, f"not in .env.example: {sorted(referenced - documented)}"


def test_secrets_stay_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert "data/" in ignored or "data" in ignored


def test_readme_mentions_docker_compose():
    assert "docker compose" in (ROOT / "README.md").read_text()
