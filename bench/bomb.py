"""Compression bombs against `monitor poll`: the peak memory of one poll of one hostile feed.

A server on 127.0.0.1 (in this process) serves three feeds:

  normal    a small RSS feed, for the poll's own baseline memory
  plain     gzip of 1 GiB of zeros (~1 MB on the wire), `Content-Encoding: gzip`
  stacked   gzip of that gzip (~2.5 KB on the wire), `Content-Encoding: gzip, gzip`

Each poll runs in a fresh interpreter doing what `monitor poll` does (load the watchlist, open a
fresh SQLite database, poll, dispatch) and reports its peak RSS: VmHWM from /proc/self/status,
the child's own high-water mark (ru_maxrss of a child on Linux keeps its parent's peak across
fork and exec, so it is printed beside it, not used). The bombs are built in memory in about a
second (a deflate block of 1 MiB of zeros, repeated: see `gzip_of_zeros`); a run takes ~15 s.

    .venv/bin/python bench/bomb.py            # 1 GiB inside each bomb
    .venv/bin/python bench/bomb.py --gib 4    # bigger bombs: the bounded figures stay the same

Results, 2026-11-30, 2 cores, Linux, Python 3.11.7, httpx 0.28.1, fetch.max_bytes 10 MiB, 1 GiB of
zeros inside each bomb; peak RSS of the whole `monitor poll` process (VmHWM):

  feed      on the wire   encoding     before (commit 0457164)      after
  normal          327 B   identity     111 MiB  ok                  111 MiB  ok
  plain     1,061,908 B   gzip         236 MiB  BodyTooLarge        120 MiB  BodyTooLarge
  stacked       2,493 B   gzip, gzip  2159 MiB  BodyTooLarge        120 MiB  BodyTooLarge

(the stacked poll took 16.5 s before, 1.4 s after; with `--gib 4` the after figures are the same:
120 MiB for a 4.2 MB plain and a 9.7 KB stacked bomb.)

Before, httpx undid the encoding one network chunk at a time, each chunk in full, and the cap
was counted afterwards: a plain bomb's ~64 KB chunk came out as ~64 MB, and the stacked one's
whole 2.5 KB came out as 1 MB and then 1 GiB, in one bytes object. After, fetch.py reads the raw
bytes and undoes each layer with zlib at most 64 KiB per call, stopping at the cap: a poll holds
at most the cap (10 MiB) above its own ~110 MiB, whatever is inside.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = ROOT / "config" / "profiles"
GIB = 1 << 30

NORMAL = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Normal</title>'
          b"<link>https://example.org/</link><description>d</description><item><title>Council "
          b"approves budget</title><link>https://example.org/1</link><guid>1</guid>"
          b"<description>The city council approved the budget.</description></item></channel></rss>")

_CHILD = """
import json, resource, sys, time
from monitor.alerts.deliver import dispatch
from monitor.cli.app import runtime_for
from monitor.pipeline import poll
from monitor.settings.config import load_config
start = time.perf_counter()
runtime = runtime_for(load_config(__import__("pathlib").Path(sys.argv[1])))
[outcome] = poll(runtime)
dispatch(runtime.config, runtime.engine, runtime.clock)
seconds = time.perf_counter() - start
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"status": outcome.status, "error": outcome.error, "seconds": seconds,
                  "peak_mib": hwm,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def gzip_of_zeros(size: int, block: int = 1 << 20) -> bytes:
    """A valid gzip member of `size` zero bytes (a multiple of `block`), built without
    compressing them all: after a full flush a deflate block of `block` zeros does not depend
    on what came before, so the same bytes repeat; the trailer's CRC is computed as usual."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(block)
    compressor.compress(zeros)
    compressor.flush(zlib.Z_FULL_FLUSH)
    # a block that follows a full flush refers to nothing before it: it can stand for every block
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // block):
        crc = zlib.crc32(zeros, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + repeated * (size // block)
            + b"\x03\x00" + struct.pack("<II", crc, size & 0xFFFFFFFF))


class Server:
    """Serves {path: (body, content_encoding)} on 127.0.0.1 from a daemon thread."""

    def __init__(self, routes: dict[str, tuple[bytes, str | None]]):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body, encoding = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def poll_in_child(url: str, directory: Path, name: str) -> dict:
    """One `monitor poll` of the feed at `url` in a fresh interpreter; its outcome and peak RSS."""
    watchlist = directory / f"{name}.yaml"
    watchlist.write_text(json.dumps({  # JSON is YAML
        "database": f"sqlite:///{directory / name}.db", "profiles_dir": str(PROFILES_DIR),
        "feeds": [{"name": name, "url": url}]}))
    done = subprocess.run([sys.executable, "-c", _CHILD, str(watchlist)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    if done.returncode != 0:
        return {"status": "crashed", "error": done.stderr.strip().splitlines()[-1:], "seconds": 0,
                "peak_mib": float("nan"), "maxrss_mib": float("nan")}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=int, default=1, help="GiB of zeros inside each bomb")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    plain = gzip_of_zeros(args.gib * GIB)
    stacked = zlib.compress(plain, 9, wbits=16 + zlib.MAX_WBITS)
    print(f"bombs built in {time.perf_counter() - started:.1f} s: plain {len(plain):,} bytes, "
          f"stacked {len(stacked):,} bytes, {args.gib} GiB of zeros inside each")
    routes = {"/normal.xml": (NORMAL, None), "/plain.xml": (plain, "gzip"),
              "/stacked.xml": (stacked, "gzip, gzip")}
    server = Server(routes)
    try:
        with tempfile.TemporaryDirectory(prefix="bomb-") as tmp:
            print(f"\n  {'feed':<9} {'on the wire':>12} {'encoding':<11} {'peak RSS':>9} "
                  f"{'(ru_maxrss)':>11} {'time':>7}  outcome")
            for path, (body, encoding) in routes.items():
                name = path.strip("/").removesuffix(".xml")
                result = poll_in_child(server.url(path), Path(tmp), name)
                outcome = result["status"] + (f": {result['error']}" if result["error"] else "")
                print(f"  {name:<9} {len(body):>12,} {encoding or 'identity':<11} "
                      f"{result['peak_mib']:>5.0f} MiB {result['maxrss_mib']:>7.0f} MiB "
                      f"{result['seconds']:>6.2f}s  {outcome}")
    finally:
        server.close()
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
