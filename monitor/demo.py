"""`monitor demo`: serve the packaged example feeds on 127.0.0.1, run one poll into a temporary
database with the packaged profiles, and show the alerts that would be sent and why."""

import functools
import http.server
import tempfile
import threading
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import yaml

PACKAGED_PROFILES = Path(str(resources.files("monitor") / "profiles"))
DEMO_FEEDS = Path(str(resources.files("monitor") / "demo" / "feeds"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (signature from the base class)
        pass


@contextmanager
def serve_directory(directory: Path):
    """A static HTTP server for `directory` on 127.0.0.1 (free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_demo_watchlist(directory: Path, base_url: str) -> Path:
    feeds = [{"name": path.stem, "url": f"{base_url}/{path.name}", "tags": ["demo"]}
             for path in sorted(DEMO_FEEDS.glob("*.xml"))]
    watchlist = {"database": f"sqlite:///{directory / 'demo.db'}",
                 "profiles_dir": str(PACKAGED_PROFILES), "first_poll_alerts": True, "feeds": feeds}
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(watchlist, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def demo_watchlist():
    """Yield the path of a watchlist whose feeds are served locally, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp, serve_directory(DEMO_FEEDS) as url:
        yield write_demo_watchlist(Path(tmp), url)
