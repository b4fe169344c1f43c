"""The REST API under /api/v1: the pages' data as JSON. Lists are newest first, `?limit=` (1-200,
default 50) rows a page, and carry `next_cursor`: pass it as `?cursor=` for the next page (null:
no more). Errors are `{"error": "..."}` with 400, 401, 403, 404 or 409. README.md lists the routes."""

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..store.outbox import retry_outbox
from ..store.reports import feed_health, feed_items, incident_page, incident_report, match_page, outbox_page
from . import present
from .params import CLASSES, IncidentFilter, choice_of, limit_of, since_of, statuses_of

log = logging.getLogger("monitor.web")


def api_routes() -> list[Route]:
    return [Route("/incidents", incidents), Route("/incidents/{incident_id:int}", incident),
            Route("/matches", matches), Route("/feeds", feeds), Route("/feeds/{name}/items", feed_items_of),
            Route("/outbox", outbox), Route("/outbox/{row_id:int}/retry", retry, methods=["POST"]),
            Route("/score", score, methods=["POST"])]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _runtime(request: Request):
    return request.app.state.dashboard.runtime()


def incidents(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    try:
        page = incident_page(runtime.engine, **IncidentFilter.of(request.query_params).store_arguments())
    except ValueError as exc:
        return _error(400, str(exc))
    secrets = runtime.config.secrets()
    return JSONResponse({"incidents": [present.incident_json(i, secrets) for i in page.rows],
                         "next_cursor": page.next_cursor})


def incident(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    found = incident_report(runtime.engine, request.path_params["incident_id"])
    if found is None:
        return _error(404, f"no incident #{request.path_params['incident_id']}")
    return JSONResponse(present.incident_json(found, runtime.config.secrets(), with_text=True))


def matches(request: Request) -> JSONResponse:
    runtime, query = _runtime(request), request.query_params
    try:
        page = match_page(runtime.engine, (query.get("profile") or "").strip() or None,
                          choice_of(query, "class", CLASSES), since_of(query, runtime.clock()),
                          query.get("cursor") or None, limit_of(query))
    except ValueError as exc:
        return _error(400, str(exc))
    return JSONResponse({"matches": [present.match_json(m) for m in page.rows],
                         "next_cursor": page.next_cursor})


def feeds(request: Request) -> JSONResponse:
    """Every feed of the watchlist (one page: the watchlist is the list), failing first."""
    runtime = _runtime(request)
    watched = [(f.name, f.url) for f in runtime.config.feeds]
    health = {h.feed.name: h for h in feed_health(runtime.engine)}  # no parameter per feed
    rows = present.feed_rows(watched, health, runtime.clock(), runtime.config.secrets())
    return JSONResponse({"feeds": [present.feed_json(row) for row in rows], "next_cursor": None})


def feed_items_of(request: Request) -> JSONResponse:
    runtime, name = _runtime(request), request.path_params["name"]
    try:
        page = feed_items(runtime.engine, name, request.query_params.get("cursor") or None,
                          limit_of(request.query_params))
    except ValueError as exc:
        return _error(400, str(exc))
    if page is None:
        return _error(404, f"no feed named {name!r} has been polled")
    return JSONResponse({"feed": name, "items": [present.feed_item_json(i) for i in page.rows],
                         "next_cursor": page.next_cursor})


def outbox(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    try:
        page = outbox_page(runtime.engine, statuses_of(request.query_params),
                           request.query_params.get("cursor") or None, limit_of(request.query_params))
    except ValueError as exc:
        return _error(400, str(exc))
    secrets = runtime.config.secrets()
    return JSONResponse({"outbox": [present.outbox_json(row, secrets) for row in page.rows],
                         "next_cursor": page.next_cursor})


async def retry(request: Request) -> JSONResponse:
    """The rules of `monitor outbox retry`: 404 for an unknown row, 409 for one not dead or uncertain."""
    runtime = _runtime(request)
    try:
        row = await run_in_threadpool(retry_outbox, runtime.engine, request.path_params["row_id"],
                                      runtime.clock())
    except ValueError as exc:
        return _error(404 if str(exc).startswith("no outbox row") else 409, str(exc))
    log.info("web: outbox row %d (%s) retried through the API", row.id, row.channel)
    return JSONResponse({"outbox": present.outbox_json(row, runtime.config.secrets())})


async def score(request: Request) -> JSONResponse:
    """{"title": ..., "text": ..., "profile": optional} -> each profile's class, score and marked text."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body is not JSON; send {\"title\": \"...\", \"text\": \"...\"}")
    problem = _score_problem(body)
    if problem:
        return _error(400, problem)
    scorers = _runtime(request).scorers
    chosen = body.get("profile")
    if chosen is not None and chosen not in scorers:
        return _error(400, f"profile: unknown {chosen!r}; known: {', '.join(sorted(scorers)) or 'none'}")
    title, text = body.get("title", "").strip(), body.get("text", "").strip()
    results = []
    for name, scorer in scorers.items():
        if chosen in (None, name):
            verdict = scorer.score(title, text)
            results.append(present.score_json(name, verdict, present.marked(scorer, title, text)))
    return JSONResponse({"results": results})


def _score_problem(body) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object: {\"title\": \"...\", \"text\": \"...\"}"
    for field in ("title", "text", "profile"):
        if field in body and not isinstance(body[field], str):
            return f"{field}: must be a string"
    if not (body.get("title", "").strip() or body.get("text", "").strip()):
        return "title and text are both empty: nothing to score"
    return None
