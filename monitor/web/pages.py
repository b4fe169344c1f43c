"""The dashboard's pages: incidents, one incident, feeds, one feed, outbox (with retry), try a
text, watchlist, and the login form. Rendered by Jinja2 with autoescape: feed text is shown as
text, whatever markup it carries."""

import logging

import yaml
from sqlalchemy.engine import make_url
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import ConfigError
from ..logs import mask_credentials
from ..settings.config import load_config
from ..store.outbox import retry_outbox
from ..store.reports import feed_health, feed_items, incident_page, incident_report, outbox_page
from . import present
from .auth import same
from .params import CLASSES, IncidentFilter, limit_of, statuses_of

log = logging.getLogger("monitor.web")
RETRYABLE = ("dead", "uncertain")


def page_routes() -> list[Route]:
    return [Route("/", lambda request: RedirectResponse("/incidents", 303)),
            Route("/incidents", incidents), Route("/incidents/{incident_id:int}", incident),
            Route("/feeds", feeds), Route("/feeds/{name}", feed),
            Route("/outbox", outbox), Route("/outbox/{row_id:int}/retry", retry, methods=["POST"]),
            Route("/try", try_text, methods=["GET", "POST"]), Route("/watchlist", watchlist),
            Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"])]


def _render(request: Request, template: str, status: int = 200, **context) -> Response:
    templates = request.app.state.dashboard.templates
    return templates.TemplateResponse(request, template, context, status_code=status)


def _bad_request(exc: ValueError) -> HTTPException:
    return HTTPException(400, str(exc))


def incidents(request: Request) -> Response:
    dashboard = request.app.state.dashboard
    runtime = dashboard.runtime()
    try:
        chosen = IncidentFilter.of(request.query_params)
        page = incident_page(runtime.engine, **chosen.store_arguments())
    except ValueError as exc:
        raise _bad_request(exc) from None
    return _render(request, "incidents.html", nav="incidents", page=page, chosen=chosen, classes=CLASSES,
                   profiles=sorted(runtime.config.profiles), delivery=present.delivery,
                   next_query=chosen.query(cursor=page.next_cursor) if page.next_cursor else None)


def incident(request: Request) -> Response:
    runtime = request.app.state.dashboard.runtime()
    found = incident_report(runtime.engine, request.path_params["incident_id"])
    if found is None:
        raise HTTPException(404, f"no incident #{request.path_params['incident_id']}")
    scorer = runtime.scorers.get(found.profile)
    marked = {source.match_id: present.marked(scorer, source.title, source.text) if scorer else None
              for source in found.sources}
    return _render(request, "incident.html", nav="incidents", incident=found, marked=marked,
                   delivery=present.delivery, secrets=runtime.config.secrets(), scrub=present.scrub)


def feeds(request: Request) -> Response:
    runtime = request.app.state.dashboard.runtime()
    watched = [(f.name, f.url) for f in runtime.config.feeds]
    health = {h.feed.name: h for h in feed_health(runtime.engine)}  # no parameter per feed
    rows = present.feed_rows(watched, health, runtime.clock(), runtime.config.secrets())
    return _render(request, "feeds.html", nav="feeds", rows=rows)


def feed(request: Request) -> Response:
    runtime = request.app.state.dashboard.runtime()
    name = request.path_params["name"]
    try:
        page = feed_items(runtime.engine, name, request.query_params.get("cursor") or None,
                          limit_of(request.query_params))
    except ValueError as exc:
        raise _bad_request(exc) from None
    if page is None:
        raise HTTPException(404, f"no feed named {name!r} has been polled")
    return _render(request, "feed.html", nav="feeds", name=name, page=page)


def outbox(request: Request, status: int = 200, problem: str | None = None) -> Response:
    runtime = request.app.state.dashboard.runtime()
    try:
        statuses = statuses_of(request.query_params)
        page = outbox_page(runtime.engine, statuses, request.query_params.get("cursor") or None,
                           limit_of(request.query_params))
    except ValueError as exc:
        raise _bad_request(exc) from None
    retried = request.query_params.get("retried", "")
    chosen = request.query_params.getlist("status")
    return _render(request, "outbox.html", status, nav="outbox", page=page, retryable=RETRYABLE,
                   retried=int(retried) if retried.isdigit() else None, problem=problem,
                   chosen=chosen, secrets=runtime.config.secrets(), scrub=present.scrub,
                   next_query=[("status", s) for s in chosen] + [("cursor", page.next_cursor)]
                   if page.next_cursor else None)


async def retry(request: Request) -> Response:
    """The rules of `monitor outbox retry`: only a dead or uncertain row, attempts reset."""
    runtime = request.app.state.dashboard.runtime()
    row_id = request.path_params["row_id"]
    try:
        row = await run_in_threadpool(retry_outbox, runtime.engine, row_id, runtime.clock())
    except ValueError as exc:
        raise HTTPException(404 if str(exc).startswith("no outbox row") else 409, str(exc)) from None
    log.info("web: outbox row %d (%s) retried", row.id, row.channel)
    return RedirectResponse(f"/outbox?retried={row.id}", 303)


async def try_text(request: Request) -> Response:
    runtime = request.app.state.dashboard.runtime()
    form = await request.form() if request.method == "POST" else {}
    title, text = str(form.get("title", "")).strip(), str(form.get("text", "")).strip()
    results = []
    if title or text:
        for name, scorer in runtime.scorers.items():
            verdict = scorer.score(title, text)
            results.append((name, verdict, present.marked(scorer, title, text)))
    return _render(request, "try.html", nav="try", title=title, text=text, results=results,
                   asked=request.method == "POST")


def watchlist(request: Request) -> Response:
    dashboard = request.app.state.dashboard
    config = dashboard.runtime().config
    return _render(request, "watchlist.html", nav="watchlist", source=config.source,
                   database=make_url(config.database).render_as_string(hide_password=True),
                   shown=yaml.safe_dump(public_config(config), sort_keys=False, allow_unicode=True),
                   profiles=config.profiles, loaded_at=dashboard.loaded_at() or dashboard.started_at,
                   daemon=dashboard.last_tick() is not None, check=_check_files(config),
                   rejection=dashboard.last_rejection())


def public_config(config) -> dict:
    """The loaded watchlist as its file would say it, secrets as ***: channel URLs show only their
    scheme and host (as `monitor check` does), feed URLs have their credentials masked."""
    shown = present.plain(config.model_dump())
    for channel, data in zip(config.channels, shown.get("channels", [])):
        data["url"] = channel.public_url()
    for feed_data in shown.get("feeds", []):
        feed_data["url"] = mask_credentials(feed_data["url"])
    shown["database"] = make_url(config.database).render_as_string(hide_password=True)
    return shown


def _check_files(config) -> str | None:
    """The files on disk checked now, as `monitor check` does: None if they load, else the error
    (file:line: field: problem). A daemon keeps running the last good config meanwhile."""
    if config.source is None:
        return None
    try:
        load_config(config.source)
    except ConfigError as exc:
        return str(exc)
    return None


def login_page(request: Request, status: int = 200, problem: str | None = None) -> Response:
    next_path = _local(request.query_params.get("next") or request.url.path)
    return _render(request, "login.html", status, nav="login", problem=problem,
                   next_path="/" if next_path == "/login" else next_path)


async def login(request: Request) -> Response:
    dashboard = request.app.state.dashboard
    token = dashboard.web.token
    if token is None or request.state.session.signed_in:
        return RedirectResponse("/", 303)
    if request.method == "GET":
        return login_page(request)
    form = await request.form()
    if not same(str(form.get("token", "")), token.get_secret_value()):
        log.warning("web: failed sign-in from %s", request.client.host if request.client else "?")
        return login_page(request, 401, "That is not the token.")
    response = RedirectResponse(_local(str(form.get("next", "/"))), 303)
    secure = request.url.scheme == "https"
    dashboard.sessions.set_cookie(response, dashboard.sessions.new(signed_in=True), secure)
    return response


async def logout(request: Request) -> Response:
    dashboard = request.app.state.dashboard
    response = RedirectResponse("/", 303)
    dashboard.sessions.set_cookie(response, dashboard.sessions.new(), request.url.scheme == "https")
    return response


def _local(path: str) -> str:
    """A path on this site to go back to after signing in; anything else goes to /."""
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    return path
