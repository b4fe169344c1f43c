"""`monitor init`: a starter watchlist, the packaged profiles and a `.env.example`, written from
package data (so it works from a wheel) into a folder of the user's."""

from importlib import resources
from pathlib import Path

STARTER = resources.files("monitor") / "starter"
PROFILES = resources.files("monitor") / "profiles"
WATCHLIST = "monitor.yaml"


def starter_files(directory: Path) -> dict[Path, bytes]:
    """What `monitor init` writes: {path under `directory`: content}."""
    files = {directory / WATCHLIST: (STARTER / "monitor.yaml").read_bytes(),
             directory / ".env.example": (STARTER / "env.example").read_bytes()}
    for profile in sorted(PROFILES.iterdir(), key=lambda p: p.name):
        if profile.name.endswith(".yaml"):
            files[directory / "profiles" / profile.name] = profile.read_bytes()
    return files


def write_starter(directory: Path, overwrite: bool = False) -> list[Path]:
    """Write the starter files. Without `overwrite`, FileExistsError lists those already there
    and nothing is written."""
    files = starter_files(directory)
    existing = [path for path in files if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(", ".join(str(path) for path in existing))
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return list(files)
