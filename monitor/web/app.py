"""The web app: server-rendered pages, the REST API under /api/v1, and /metrics, /healthz, /readyz
(monitor/web/health.py), on Starlette. Every asset ships in the package; there is no script.

The app reads the current Runtime at each request through `get_runtime` (a config reload
replaces it); who may use it is fixed when it starts (auth.py). `monitor run` serves it in a
thread beside the daemon, `monitor serve` alone (server.py)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..pipeline import Runtime
from ..settings.config import WebConfig
from ..store import utcnow
from . import present
from .api import api_routes
from .auth import Guard, Sessions
from .health import health_routes
from .pages import login_page, page_routes

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]


@dataclass
class Dashboard:
    """What the pages and the API read: the running config and database, and the daemon's state."""

    runtime: Callable[[], Runtime]
    web: WebConfig
    last_tick: Callable[[], datetime | None]
    loaded_at: Callable[[], datetime | None]
    sessions: Sessions
    templates: Jinja2Templates
    started_at: datetime = field(default_factory=utcnow)
    last_rejection: Callable[[], tuple[datetime, str] | None] = lambda: None


def create_app(get_runtime: Callable[[], Runtime], web: WebConfig | None = None,
               last_tick: Callable[[], datetime | None] = lambda: None,
               loaded_at: Callable[[], datetime | None] = lambda: None,
               last_rejection: Callable[[], tuple[datetime, str] | None] = lambda: None) -> Starlette:
    """The app for the runtime `get_runtime` returns at each request. `web` (default: the config's)
    fixes the token and whether /metrics is open; `last_tick`, `loaded_at` and `last_rejection`
    tell the daemon's last tick, config load and rejected edit (None in `monitor serve`)."""
    web = web or get_runtime().config.web or WebConfig()
    sessions = Sessions(web.token.get_secret_value() if web.token else None)
    dashboard = Dashboard(get_runtime, web, last_tick, loaded_at, sessions, _templates(),
                          last_rejection=last_rejection)
    app = Starlette(routes=[*page_routes(), Mount("/api/v1", routes=api_routes()),
                            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
                            *health_routes(get_runtime, last_tick)],
                    middleware=[Middleware(SecurityHeaders),
                                Middleware(Guard, web=web, sessions=sessions, login_page=login_page)],
                    exception_handlers={HTTPException: _http_error})
    app.state.dashboard = dashboard
    return app


def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    environment.filters.update(when=present.when, span=present.span, http_link=present.http_link)
    return Jinja2Templates(env=environment, context_processors=[_common])


def _common(request: Request) -> dict:
    dashboard: Dashboard = request.app.state.dashboard
    return {"session": request.state.session, "token_required": dashboard.web.token is not None}


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, exc.status_code)
    templates = request.app.state.dashboard.templates
    return templates.TemplateResponse(request, "error.html",
                                      {"status": exc.status_code, "message": exc.detail},
                                      status_code=exc.status_code)


class SecurityHeaders:
    """Adds the Content-Security-Policy (no inline script, nothing from elsewhere) and friends to
    every response, error pages included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in SECURITY_HEADERS if name not in names]
            await send(message)

        await self.app(scope, receive, sending)
