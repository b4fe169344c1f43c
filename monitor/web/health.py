"""/metrics, /healthz and /readyz, as routes the web app mounts (`health_routes`).

- /metrics: every metric of monitor/metrics.py in the Prometheus text format.
- /healthz (liveness): 200 when the process answers and its database answers `SELECT 1`; else 503
  with the reason (no secret, no URL with a password).
- /readyz: 200 when the daemon's last tick is recent: within max(3 x `tick`, 90 s). In a process
  without ticks (`monitor serve` alone) ready means the database answers.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import metrics
from ..logs import redact, redact_sensitive
from ..pipeline import Runtime

READY_WITHIN_AT_LEAST = timedelta(seconds=90)
NO_TICKS = "no daemon ticks in this process (monitor serve): ready when the database answers"


def health_routes(get_runtime: Callable[[], Runtime],
                  last_tick: Callable[[], datetime | None]) -> list[Route]:
    """The routes, reading the current runtime (it changes on a config reload) at each request.
    The endpoints are plain functions: Starlette runs them in its thread pool, off the event loop,
    since each one waits for the database."""

    def metrics_page(request: Request) -> Response:
        return Response(metrics.exposition(get_runtime().engine), media_type=CONTENT_TYPE_LATEST)

    def healthz(request: Request) -> JSONResponse:
        problem = database_problem(get_runtime())
        if problem is not None:
            return JSONResponse({"status": "unavailable", "database": problem}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    def readyz(request: Request) -> JSONResponse:
        runtime, tick = get_runtime(), last_tick()
        if tick is None:
            problem = database_problem(runtime)
            return JSONResponse({"ready": problem is None, "last_tick": None, "database": problem or "ok",
                                 "detail": NO_TICKS}, status_code=200 if problem is None else 503)
        within = max(3 * runtime.config.tick, READY_WITHIN_AT_LEAST)
        age = runtime.clock() - tick
        return JSONResponse({"ready": age <= within, "last_tick": tick.isoformat(),
                             "age_seconds": round(age.total_seconds(), 1),
                             "ready_within_seconds": within.total_seconds()},
                            status_code=200 if age <= within else 503)

    return [Route("/metrics", metrics_page), Route("/healthz", healthz), Route("/readyz", readyz)]


def database_problem(runtime: Runtime) -> str | None:
    """None when the database answers `SELECT 1`; otherwise why not, in one line without secrets."""
    try:
        # A raw DBAPI connection, not a Session: on SQLite every transaction takes the write lock
        # (store/database.py), and a probe must not wait behind a poll that is writing.
        connection = runtime.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchone()
        finally:
            connection.close()
    except Exception as exc:  # whatever the driver raises, the answer is "unreachable"
        return _unreachable(runtime, exc)
    return None


def _unreachable(runtime: Runtime, exc: Exception) -> str:
    cause = getattr(exc, "orig", None) or exc  # the driver's error, without SQLAlchemy's notes
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    secrets = [*runtime.config.secrets(), runtime.engine.url.password or ""]
    return redact(redact_sensitive(f"database unreachable: {type(cause).__name__}: {first_line}", secrets),
                  secrets)
