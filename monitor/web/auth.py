"""Who may use the dashboard and the API, and the CSRF guard of every POST.

- Without a token (allowed only on a loopback address, settings/config.py): everyone who reaches
  the port may read; only requests addressed to 127.0.0.1 / localhost / [::1] are answered, so a
  web page cannot reach the dashboard by pointing its own host name at 127.0.0.1 (DNS rebinding).
- With a token: the API wants `Authorization: Bearer TOKEN`; pages want the session cookie the
  login form sets (signed with itsdangerous, HttpOnly, SameSite=Strict). Anything else is 401.
- Every POST carries the bearer token or a CSRF token tied to the session (form field
  `csrf_token` or header `X-CSRF-Token`); otherwise 403. Without a token, an API POST may instead
  be `Content-Type: application/json` from no foreign Origin: a browser cannot send that to
  another site without a CORS preflight, which this server never grants.
- /static, /login and (with `open_metrics`) /metrics, /healthz, /readyz are open.
"""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..settings.config import WebConfig

log = logging.getLogger("monitor.web")

COOKIE = "monitor_session"
SESSION_AGE = timedelta(days=7)
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"
MAX_BODY = 1024 * 1024  # bytes of a POST's body (a pasted article fits easily)
OPEN = ("/static/", "/login")
HEALTH = ("/metrics", "/healthz", "/readyz")
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class Session:
    sid: str
    signed_in: bool
    csrf: str


class Sessions:
    """Signs session cookies and derives each session's CSRF token. With a token the key derives
    from it (sessions outlive a restart, and end when the token changes); without, it is random
    per process."""

    def __init__(self, token: str | None):
        key = hashlib.sha256(b"monitor-web-session\0" + token.encode()).digest() if token \
            else secrets.token_bytes(32)
        self._serializer = URLSafeTimedSerializer(key, salt="monitor-session")
        self._csrf_key = hmac.new(key, b"csrf", hashlib.sha256).digest()

    def new(self, signed_in: bool = False) -> Session:
        sid = secrets.token_urlsafe(24)
        return Session(sid, signed_in, self._csrf(sid))

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_AGE.total_seconds())
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            return None
        return Session(data["sid"], data.get("in") is True, self._csrf(data["sid"]))

    def sign(self, session: Session) -> str:
        return self._serializer.dumps({"sid": session.sid, "in": session.signed_in})

    def set_cookie(self, response: Response, session: Session, secure: bool) -> None:
        response.set_cookie(COOKIE, self.sign(session), max_age=int(SESSION_AGE.total_seconds()), path="/",
                            httponly=True, samesite="strict", secure=secure)

    def _csrf(self, sid: str) -> str:
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()


def same(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


class Guard:
    """ASGI middleware: authentication, the host check, the CSRF check, the session cookie."""

    def __init__(self, app, web: WebConfig, sessions: Sessions, login_page):
        self.app, self.sessions, self.login_page = app, sessions, login_page
        self.token = web.token.get_secret_value() if web.token else None
        self.open = OPEN + (HEALTH if web.open_metrics else ())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        session = self.sessions.read(request.cookies.get(COOKIE))
        fresh = session is None
        session = session or self.sessions.new()
        scope.setdefault("state", {})["session"] = session
        send = self._with_cookie(send, session, request) if fresh and _page(scope["path"]) else send
        denied, receive = await self._check(request, session, receive)
        if denied is not None:
            return await denied(scope, receive, send)
        await self.app(scope, receive, send)

    async def _check(self, request: Request, session: Session, receive):
        """(a response refusing the request or None, the receive to pass on)."""
        if self.token is None and request.url.hostname not in LOOPBACK_NAMES:
            return PlainTextResponse("Without a token this dashboard answers only at 127.0.0.1 or "
                                     "localhost. Set web.token to reach it by another name.", 400), receive
        bearer = _bearer(request)
        if bearer is not None and not (self.token and same(bearer, self.token)):
            return _unauthorized(request, self, "the bearer token is wrong"), receive
        path = request.url.path
        if not (self.token is None or bearer or session.signed_in or path.startswith(self.open)):
            return _unauthorized(request, self, "sign in, or send Authorization: Bearer TOKEN"), receive
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None, receive
        if bearer is None:
            return await self._check_csrf(request, session, receive)
        body = await _body(receive)
        if body is None:
            return PlainTextResponse(f"A request body is at most {MAX_BODY} bytes.", 413), receive
        return None, _replay(body, receive)

    async def _check_csrf(self, request: Request, session: Session, receive):
        presented = request.headers.get(CSRF_HEADER)
        body = await _body(receive)
        if body is None:
            return PlainTextResponse(f"A request body is at most {MAX_BODY} bytes.", 413), receive
        if request.url.path.startswith("/api/"):
            if same(presented, session.csrf) or (self.token is None and _json_same_origin(request)):
                return None, _replay(body, receive)
            return _forbidden(request, "this POST needs the bearer token or a CSRF token"), receive
        if not same(presented, session.csrf):
            presented = (parse_qs(body.decode("latin-1")).get(CSRF_FIELD) or [None])[0]
        if not same(presented, session.csrf):
            return _forbidden(request, "the form's CSRF token is missing or expired: reload the page "
                                       "and submit it again"), receive
        return None, _replay(body, receive)

    def _with_cookie(self, send, session: Session, request: Request):
        secure = request.url.scheme == "https"

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not any(v.startswith(COOKIE + "=") for v in headers.getlist("set-cookie")):
                    cookie = Response()
                    self.sessions.set_cookie(cookie, session, secure)
                    headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        return sending


def _page(path: str) -> bool:
    return not path.startswith(("/api/", "/static/") + HEALTH)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _unauthorized(request: Request, guard: Guard, why: str) -> Response:
    if request.url.path.startswith(("/api/",) + HEALTH):
        return JSONResponse({"error": f"unauthorized: {why}"}, 401, headers={"WWW-Authenticate": "Bearer"})
    return guard.login_page(request, 401)


def _forbidden(request: Request, why: str) -> Response:
    log.warning("web: refused %s %s from %s: %s", request.method, request.url.path,
                request.client.host if request.client else "?", why)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"forbidden: {why}"}, 403)
    return PlainTextResponse(f"Forbidden: {why}.", 403)


def _json_same_origin(request: Request) -> bool:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


async def _body(receive) -> bytes | None:
    """The whole request body, or None past MAX_BODY."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > MAX_BODY:
            return None
    return body


def _replay(body: bytes, receive):
    """A receive that gives the body read by the check once, then what the client sends next."""
    given = False

    async def replay():
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
