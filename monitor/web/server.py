"""Serving the app with uvicorn: in a thread beside the daemon (`monitor run`), or alone in the
foreground (`monitor serve`). The socket is bound before uvicorn starts, so an address in use is
one clear error, not a log line from inside the server."""

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

import uvicorn

from ..pipeline import Runtime
from ..settings.config import WebConfig
from .app import create_app

log = logging.getLogger("monitor.web")

GRACEFUL = 3  # seconds open requests may take to finish once the server is told to stop
START_WITHIN = 10.0


def listen(web: WebConfig) -> socket.socket:
    """The bound listening socket; OSError (e.g. address in use) says why not."""
    family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every small answer on a kept-alive connection waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((web.host, web.port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class WebServer:
    """A uvicorn server for `app` on an already bound socket."""

    def __init__(self, app, web: WebConfig, sock: socket.socket):
        self.web, self.socket = web, sock
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                                    timeout_graceful_shutdown=GRACEFUL, server_header=False))
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def run(self) -> None:
        """Serve in this thread until stopped (SIGTERM/Ctrl-C in the main thread)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> "WebServer":
        """Serve in a daemon thread; returns once it accepts connections."""
        self.thread = threading.Thread(target=self.run, name="web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + START_WITHIN
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise RuntimeError("the web server did not start (see the log above)")
        return self

    def stop(self) -> None:
        """Ask the server to stop (returns at once; `join` waits)."""
        self.server.should_exit = True

    def join(self, timeout: float) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return self.thread is None or not self.thread.is_alive()


def start_web(web: WebConfig | None, get_runtime: Callable[[], Runtime],
              last_tick: Callable[[], datetime | None], loaded_at: Callable[[], datetime | None],
              last_rejection: Callable[[], tuple[datetime, str] | None] = lambda: None
              ) -> WebServer | None:
    """The daemon's web server, started; None when `web` is off or it cannot listen (the daemon
    keeps polling and alerting: the error is logged, and /healthz then does not answer)."""
    if web is None:
        return None
    try:
        sock = listen(web)
    except OSError as exc:
        log.error("web: cannot listen on %s: %s; the daemon runs without the dashboard and /healthz",
                  web.listen, exc.strerror or exc)
        return None
    try:
        app = create_app(get_runtime, web, last_tick, loaded_at, last_rejection)
        server = WebServer(app, web, sock).start()
    except Exception:
        sock.close()
        log.exception("web: the server did not start; the daemon runs without the dashboard")
        return None
    log.info("web: dashboard and API on %s%s", server.url, "" if web.token else " (no token: loopback only)")
    return server
