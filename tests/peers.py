"""Real peers on 127.0.0.1 for the tests: a feed server with failure modes, an SMTP server,
and an HTTP endpoint that records JSON posts."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    etag: str | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    redirect_to: str | None = None
    stream_bytes: int = 0  # send this many filler bytes without Content-Length
    reason: str | None = None  # the status line's reason phrase (default: the standard one), sent as latin-1


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class FeedServer:
    """Serves `routes[path]`; records (path, headers) of every request, and when it came."""

    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict]] = []
        self.arrivals: list[tuple[str, float]] = []  # (path, time.monotonic())
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                server.arrivals.append((self.path, time.monotonic()))
                route = server.routes.get(self.path)
                if route is None:
                    return self._send(404, b"not found", {})
                if route.delay:
                    time.sleep(route.delay)
                if route.redirect_to:
                    return self._send(302, b"", {"Location": route.redirect_to})
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    return self._send(304, b"", {"ETag": route.etag})
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.etag:
                    headers["ETag"] = route.etag
                if route.stream_bytes:
                    return self._stream(route, headers)
                self._send(route.status, route.body, headers, route.reason)

            def _send(self, status, body, headers, reason=None):
                self.send_response(status, reason)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def _stream(self, route, headers):
                self.send_response(route.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                chunk = b"<!-- filler -->" * 4096
                sent = 0
                try:
                    while sent < route.stream_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request_times(self, path: str) -> list[float]:
        return [at for requested, at in self.arrivals if requested == path]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


class JsonEndpoint:
    """Records the JSON bodies POSTed to it (apprise json:// target)."""

    def __init__(self, status: int = 200, delay: float = 0.0, answer: bytes = b""):
        self.posts: list[dict] = []
        self.status, self.delay = status, delay  # delay: seconds between reading a POST and answering
        self.answer = answer  # the body of each answer
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = self.rfile.read(length)
                if endpoint.status == 200:
                    endpoint.posts.append(json.loads(payload))
                time.sleep(endpoint.delay)
                self.send_response(endpoint.status)
                self.send_header("Content-Length", str(len(endpoint.answer)))
                self.end_headers()
                self.wfile.write(endpoint.answer)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) keeping the messages it receives."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages = []
        self._controller = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def start(self):
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self):
        if self._controller:
            self._controller.stop()
            self._controller = None

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=monitor@example.com&to={to}"


def rss(items: list[dict], title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document; each item has title, and optionally text, guid, link, published."""
    parts = []
    for item in items:
        published = item.get("published") or datetime(2024, 1, 17, 6, 0, tzinfo=timezone.utc)
        parts.append(
            "<item>"
            f"<title>{escape(item['title'])}</title>"
            f"<description>{escape(item.get('text', ''))}</description>"
            + (f"<guid isPermaLink=\"false\">{escape(item['guid'])}</guid>" if item.get("guid") else "")
            + (f"<link>{escape(item['link'])}</link>" if item.get("link") else "")
            + f"<pubDate>{format_datetime(published)}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>https://example.org/</link>"
            f"<description>test</description>{''.join(parts)}</channel></rss>").encode()


def wait_for(predicate, timeout: float = 30.0, every: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def start_monitor_run(path, stdout=None) -> "subprocess.Popen":
    """`python -m monitor run --config PATH` as a real process, stderr captured as text."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL")}
    return subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(path)],
                            stdout=stdout if stdout is not None else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
