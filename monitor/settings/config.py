"""The watchlist: one YAML file validated into a typed `Config`, plus its profiles.

Every field is declared once here, with its default and description. Unknown fields are errors
(a typo must not be silently ignored). Channel URLs may contain `${VAR}`; the value comes from
the environment at load time and is kept as a secret (never printed, logged or stored).
"""

import ipaddress
import os
import re
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import ConfigError
from ..logs import public_url
from .profile import Profile, profile_files, read_profiles
from .yamlsource import by_line, located, read_yaml, validate

DEFAULT_CONFIG = Path("config/monitor.yaml")
DEFAULT_DATABASE = "sqlite:///data/monitor.db"
SUPPORTED_DATABASES = "sqlite:///path/to/monitor.db or postgresql+psycopg://user:password@host:5432/name"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|y)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400, None: 1}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CRON_FIELD = r"(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*"
_CRON = re.compile(rf"^\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}\s*$")


def parse_duration(value) -> timedelta:
    """'90s', '15m', '2h', '1d', '2w', '1y' (365 days) or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 15m, 2h, 1d)")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def positive_duration(value) -> timedelta:
    """A duration that must be longer than zero (an interval of 0s would poll without pause)."""
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f"{value!r} must be longer than 0s")
    return duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# When to read an item's article page (monitor/ingest/article.py): `auto` when the feed gave a
# headline or a short teaser, `always` whatever it gave, `never`; only for a new item that
# mentions a profile's terms without being an incident on the feed's text alone.
FullText = Literal["auto", "always", "never"]


class FeedConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique feed name")
    url: str = Field(description="http(s) URL of an RSS, Atom or JSON feed")
    interval: timedelta | None = Field(default=None, description="Poll interval (default: fetch.interval)")
    tags: tuple[str, ...] = ()
    full_text: FullText | None = Field(default=None, description="Read the article page of an item "
                                       "the feed gives too little of: auto, always or never "
                                       "(default: fetch.full_text)")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if not _PLAIN_URL.fullmatch(value):  # the common case needs no full parse (large watchlists)
            try:
                httpx.URL(value)
            except httpx.InvalidURL as exc:
                raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
        return value

    _interval = field_validator("interval", mode="before")(
        classmethod(lambda cls, v: None if v is None else positive_duration(v)))


_PLAIN_URL = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/%+=&?,;:@!$'()*-]*)?",
                        re.IGNORECASE)


def database_url(value: str) -> str:
    """A URL the store can open: SQLite, or PostgreSQL through psycopg 3, the driver installed
    (`postgresql://` and `postgres://` are read as `postgresql+psycopg://`: SQLAlchemy would
    look for psycopg2). The error names the scheme alone, never the URL: it may hold a password."""
    try:
        scheme = make_url(value).drivername
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL; use {SUPPORTED_DATABASES}") from None
    if scheme in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        return value
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + value.partition("://")[2]
    raise ValueError(f"database scheme {scheme!r} is not supported; use {SUPPORTED_DATABASES}")


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (examples: UTC, Europe/Berlin, America/New_York)") from None
    return name


class RateLimit(_Strict):
    """At most `count` messages per `per` on one channel; the excess is merged into one message."""

    count: int = Field(ge=1, description="Messages allowed per period")
    per: timedelta = Field(description="The period, e.g. 1m, 1h")

    _per = field_validator("per", mode="before")(classmethod(lambda cls, v: parse_duration(v)))


class ChannelConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: SecretStr = Field(description="apprise URL; ${VAR} is read from the environment")
    format: Literal["text", "markdown", "html"] = Field(default="text", description="Message body format")
    rate_limit: RateLimit | None = Field(default=None, description="At most N messages per period")
    # The values substituted for ${VAR}: secrets by declaration. Filled in, never read from the file.
    substituted: tuple[SecretStr, ...] = Field(default=(), exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _substitute(cls, data, info: ValidationInfo):
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        if "substituted" in data:
            raise ValueError("unknown field 'substituted' (check the spelling)")
        environ = (info.context or {}).get("environ", os.environ)
        names = _VARIABLE.findall(data["url"])
        missing = list(dict.fromkeys(name for name in names if name not in environ))
        if missing:
            raise ValueError(f"{_unset(missing)} (channel {data.get('name', '?')!r})")
        url = _VARIABLE.sub(lambda m: _fill(data["url"], m, environ[m[1]]), data["url"])
        return {**data, "url": url, "substituted": tuple(environ[name] for name in names)}

    def secrets(self) -> list[str]:
        """Values never to be shown, whole or in part (monitor/logs.py): every ${VAR} value in the
        URL and its password."""
        password = urlsplit(self.url.get_secret_value()).password
        # A value that is a whole URL: its scheme is no secret (and would mask "json" in every error).
        values = [s.get_secret_value().split("://", 1)[-1] for s in self.substituted]
        values.append(unquote(password or ""))
        return [value for value in values if len(value) >= 3]

    def public_url(self) -> str:
        """The URL with everything but scheme and host hidden (the host too if a secret is in it)."""
        return public_url(self.url.get_secret_value(), self.secrets())


def _unset(names: list[str]) -> str:
    """Every variable a value needs that is not set, so that one edit sets them all."""
    if len(names) == 1:
        return f"environment variable {names[0]} is not set"
    return f"environment variables {', '.join(names)} are not set"


def _fill(template: str, variable: re.Match, value: str) -> str:
    """The value of a ${VAR}, percent-encoded where apprise decodes it (user:password@ and the
    query), so a password with @ / : # & cannot change the host or the path."""
    before, after = template[:variable.start()], template[variable.end():]
    in_userinfo = "://" in before and not re.search(r"[/?#]", before.split("://", 1)[1]) \
        and re.match(r"[^/?#]*@", after)
    return quote(value, safe="") if in_userinfo or "?" in before else value


class QuietHours(_Strict):
    """A daily period (local time) during which alerts wait; they go out as one digest at its end."""

    start: time = Field(description="HH:MM, local time")
    end: time = Field(description="HH:MM, local time; earlier than start means overnight")
    timezone: str = "UTC"

    _timezone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value):
        if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            raise ValueError(f"{value!r} is not a time of day written \"HH:MM\" (in quotes)")
        return value.strip()

    @model_validator(mode="after")
    def _not_empty(self):
        if self.start == self.end:
            raise ValueError("start and end are equal: the quiet period would be empty")
        return self


def check_cron(schedule: str, zone: str = "UTC") -> None:
    """The schedule as the daemon will read it (APScheduler's crontab parser): an hour of 25, a
    31st of February, a weekday of 8 are refused here rather than never firing."""
    from apscheduler.triggers.cron import CronTrigger
    try:
        trigger = CronTrigger.from_crontab(schedule, timezone=zone)
    except ValueError as exc:
        raise ValueError(f"{schedule!r} is not a valid cron schedule: {exc}") from None
    if trigger.get_next_fire_time(None, datetime.now(timezone.utc)) is None:
        raise ValueError(f"{schedule!r} never fires (no such date)")


class RouteConfig(_Strict):
    profile: str
    min_class: Literal["incident", "related"] = "incident"
    min_score: float = Field(default=0.0, ge=0.0, lt=1.0,
                             description="Lowest score routed; scores stay below 1.00")
    channels: tuple[str, ...] = Field(min_length=1)
    quiet_hours: QuietHours | None = Field(default=None, description="Alerts wait, then one digest")
    digest: str | None = Field(default=None, description="Cron schedule (5 fields): send matches as "
                               "one scheduled summary instead of one alert each")
    timezone: str = Field(default="UTC", description="Timezone of the digest schedule")

    _timezone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))

    @field_validator("digest")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and not _CRON.match(value):
            raise ValueError(f"{value!r} is not a cron schedule of 5 fields "
                             f"(minute hour day month weekday, e.g. \"0 8 * * *\")")
        if value is not None:
            check_cron(value)
        return value.strip() if value else value


class FetchConfig(_Strict):
    interval: timedelta = Field(default=timedelta(minutes=10), description="Default poll interval")
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0, description="Whole request, slow senders included")
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Largest feed body accepted")
    max_redirects: int = Field(default=5, ge=0, le=5)
    allow_private: bool = Field(default=True, description="Fetch feeds, and follow redirects, to "
                                "loopback, private, link-local and cloud-metadata addresses; set "
                                "false when people who are not the operator can add feeds")
    concurrency: int = Field(default=8, ge=1, le=64, description="Feeds fetched at once")
    max_backoff: timedelta = Field(default=timedelta(hours=6), description="Longest wait after errors")
    user_agent: str = "news-incident-monitor/0.1 (+https://github.com/; feed poller)"
    full_text: FullText = Field(default="auto", description="Feeds' default for reading article "
                                "pages: auto (headline or short teaser only), always, never")

    _durations = field_validator("interval", "max_backoff", mode="before")(
        classmethod(lambda cls, v: positive_duration(v)))


class DispatchConfig(_Strict):
    max_attempts: int = Field(default=8, ge=1, description="Attempts before an alert is given up")
    retry_base: timedelta = Field(default=timedelta(seconds=30))
    retry_max: timedelta = Field(default=timedelta(hours=1))
    interval: timedelta = Field(default=timedelta(seconds=15), description="Dispatcher period")

    _durations = field_validator("retry_base", "retry_max", mode="before")(
        classmethod(lambda cls, v: parse_duration(v)))
    _interval = field_validator("interval", mode="before")(classmethod(lambda cls, v: positive_duration(v)))


class OpsConfig(_Strict):
    """Operations alerts about the monitor itself, sent to `admin_channel`."""

    feed_failing_after: timedelta = Field(default=timedelta(hours=2), description="Alert when a feed "
                                          "has failed for this long")
    silent_factor: float = Field(default=10.0, gt=1, description="Alert when a feed has brought no new "
                                 "item for this many times its usual gap between items")
    silent_minimum: timedelta = Field(default=timedelta(hours=24), description="...and for at least this long")
    watch_config: bool = Field(default=True, description="Reload the watchlist and profiles when they change")

    _durations = field_validator("feed_failing_after", "silent_minimum", mode="before")(
        classmethod(lambda cls, v: parse_duration(v)))


KEEP_FOREVER = "never"
MIN_RETENTION = timedelta(days=1)


def retention_period(value) -> timedelta | None:
    """A retention period of at least a day, or `never` (None): keep for good."""
    if value is None or (isinstance(value, str) and value.strip().lower() == KEEP_FOREVER):
        return None
    period = parse_duration(value)
    if period < MIN_RETENTION:
        raise ValueError(f"{value!r} is shorter than 1d (a bare number is seconds; write e.g. 90d, "
                         f"2y, or never)")
    return period


class RetentionConfig(_Strict):
    """How long stored rows are kept; a daily job deletes older ones (monitor/retention.py). A
    period shorter than max_item_age counts as max_item_age and a day: a deleted item that comes
    back in a feed is new again, and only one published longer ago than that never pages."""

    items: timedelta | None = Field(default=timedelta(days=90), description="Items that matched no "
                                    "profile, from when they were fetched; `never`: keep them")
    matches: timedelta | None = Field(default=timedelta(days=730), description="Matches with their "
                                      "items, closed incidents and sent alerts; `never`: keep them")

    _periods = field_validator("items", "matches", mode="before")(
        classmethod(lambda cls, v: retention_period(v)))


WEB_TOKEN_MIN = 16  # characters: a token people can guess is no lock


class WebConfig(_Strict):
    """The dashboard, the REST API and /metrics, served by `monitor run` and `monitor serve`."""

    listen: str = Field(default="127.0.0.1:8080", description="host:port; an address other than "
                        "loopback requires `token`")
    token: SecretStr | None = Field(default=None, description="Bearer token of the API and password "
                                    "of the login form; ${VAR} is read from the environment")
    open_metrics: bool = Field(default=True, description="/metrics, /healthz and /readyz answer "
                               "without the token")

    @model_validator(mode="before")
    @classmethod
    def _substitute(cls, data, info: ValidationInfo):
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            return data
        environ = (info.context or {}).get("environ", os.environ)
        names = _VARIABLE.findall(data["token"])
        missing = list(dict.fromkeys(name for name in names if name not in environ))
        if missing:
            raise ValueError(f"{_unset(missing)} (web.token)")
        return {**data, "token": _VARIABLE.sub(lambda m: environ[m[1]], data["token"])}

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, colon, port = value.strip().rpartition(":")
        if not colon or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port "
                             f"(examples: 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080)")
        return value.strip()

    @model_validator(mode="after")
    def _token_unless_loopback(self):
        if self.token is not None and len(self.token.get_secret_value()) < WEB_TOKEN_MIN:
            raise ValueError(f"the token is {len(self.token.get_secret_value())} characters long; use "
                             f"at least {WEB_TOKEN_MIN} random ones (e.g. `openssl rand -hex 32`)")
        if self.token is None and not self.loopback:
            raise ValueError(f"listen {self.listen!r} is reachable from other machines: set a token "
                             f"(token: ${{MONITOR_TOKEN}}) or listen on 127.0.0.1")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve to anything
            return False


class Config(_Strict):
    database: str = Field(default=DEFAULT_DATABASE, description="SQLAlchemy URL; env MONITOR_DATABASE_URL wins")
    profiles_dir: Path = Field(default=Path("profiles"), description="Relative to this file")
    first_poll_alerts: bool = Field(default=False, description="Alert on items of a feed's first poll")
    max_item_age: timedelta = Field(default=timedelta(days=7), description="Items published longer ago "
                                    "(or dated in the future) are stored and scored but never page")
    tick: timedelta = Field(default=timedelta(seconds=30), description="How often due feeds are claimed")
    fetch: FetchConfig = FetchConfig()
    dispatch: DispatchConfig = DispatchConfig()
    admin_channel: str | None = Field(default=None, description="Channel for operations alerts "
                                      "(failing or silent feeds, rejected config edits)")
    ops: OpsConfig = OpsConfig()
    retention: RetentionConfig = Field(default=RetentionConfig(), description="How long items "
                                       "and matches are kept (items: 90d, matches: 2y)")
    feeds: tuple[FeedConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    templates_dir: Path | None = Field(default=None, description="Message templates overriding the "
                                       "shipped ones (same file names); relative to this file")
    web: WebConfig | None = Field(default=WebConfig(), description="Dashboard, API and metrics; null: off")
    # Filled by load_config, not read from the file:
    source: Path | None = Field(default=None, exclude=True)
    profiles: dict[str, Profile] = Field(default_factory=dict, exclude=True)
    profiles_path: Path | None = Field(default=None, exclude=True)

    _tick = field_validator("tick", "max_item_age", mode="before")(
        classmethod(lambda cls, v: positive_duration(v)))
    _database = field_validator("database")(classmethod(lambda cls, v: database_url(v)))

    @field_validator("source", "profiles", "profiles_path", mode="before")
    @classmethod
    def _not_from_file(cls, value, info: ValidationInfo):
        if not (info.context or {}).get("internal"):
            raise ValueError("unknown field (check the spelling)")
        return value

    def feed_interval(self, feed: FeedConfig) -> timedelta:
        return feed.interval or self.fetch.interval

    def feed_full_text(self, feed: FeedConfig) -> FullText:
        return feed.full_text or self.fetch.full_text

    def channel(self, name: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)

    def secrets(self) -> list[str]:
        token = [self.web.token.get_secret_value()] if self.web and self.web.token else []
        return [secret for channel in self.channels for secret in channel.secrets()] + token

    def templates_path(self) -> Path | None:
        if self.templates_dir is None or self.templates_dir.is_absolute() or self.source is None:
            return self.templates_dir
        return self.source.parent / self.templates_dir


def load_config(path: Path = DEFAULT_CONFIG, environ: dict | None = None) -> Config:
    """Load and validate the watchlist and the profiles it routes to. The ConfigError lists every
    problem found: the watchlist's by line, then each profile's."""
    environ = os.environ if environ is None else environ
    if not path.exists():
        raise ConfigError("watchlist file not found (pass --config FILE, or run `monitor demo` "
                          "to try the monitor without one)", file=str(path))
    root, data = read_yaml(path)
    config, problems = validate(path, root, data, Config, {"environ": environ}, _reference_problems)
    database, database_problems = _database_override(environ)
    layout = config or _layout(data)
    profiles, profile_problems, profiles_dir = {}, [], None
    if layout is not None:
        layout = layout.model_copy(update={"source": path})
        profiles_dir = layout.profiles_dir if layout.profiles_dir.is_absolute() else \
            path.parent / layout.profiles_dir
        profiles, profile_problems = read_profiles(profiles_dir)
        problems += [located(path, root, location, message)
                     for location, message in _folder_problems(data, layout, profiles_dir)]
    if problems or database_problems or profile_problems:
        raise ConfigError.of(database_problems + by_line(problems) + profile_problems)
    return config.model_copy(update={"source": path, "profiles": profiles, "profiles_path": profiles_dir,
                                     "database": database or _beside(path, config.database)})


def _database_override(environ) -> tuple[str | None, list[ConfigError]]:
    """MONITOR_DATABASE_URL, which wins over the watchlist's `database`, and its problem if any."""
    value = environ.get("MONITOR_DATABASE_URL")
    try:
        return (database_url(value) if value else None), []
    except ValueError as exc:
        return None, [ConfigError(str(exc), field="MONITOR_DATABASE_URL")]


def _layout(data) -> Config | None:
    """When the watchlist is invalid: its folders alone (profiles_dir, templates_dir), so that the
    profiles are checked too; None if those are invalid as well (their problems are reported)."""
    if not isinstance(data, dict):
        return None
    try:
        return Config.model_validate({key: data[key] for key in ("profiles_dir", "templates_dir")
                                      if key in data})
    except ValidationError:
        return None


def _beside(watchlist: Path, database: str) -> str:
    """A relative SQLite path in the watchlist is relative to the watchlist's folder, like
    profiles_dir, so that every command finds the same database from any directory."""
    prefix = "sqlite:///"
    file, mark, query = database.removeprefix(prefix).partition("?")
    if not database.startswith(prefix) or file in ("", ":memory:") or Path(file).is_absolute():
        return database
    return f"{prefix}{(watchlist.parent / file).resolve()}{mark}{query}"


def _entries(value) -> list[tuple[int, object]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _names(entries) -> list[tuple[int, str]]:
    """(index, name) of the entries of a list as written that have a name."""
    return [(index, entry["name"]) for index, entry in _entries(entries)
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)]


def _reference_problems(data) -> list[tuple[tuple, str]]:
    """Names are unique, and routes and admin_channel name channels that exist. Read from the
    watchlist as written: a channel whose URL is wrong is still a channel a route may name."""
    if not isinstance(data, dict):
        return []
    problems = []
    for kind in ("feeds", "channels"):
        seen = set()
        for index, name in _names(data.get(kind)):
            if name in seen:
                problems.append(((kind, index, "name"), f"duplicate name {name!r}"))
            seen.add(name)
    known = sorted({name for _, name in _names(data.get("channels"))})
    admin = data.get("admin_channel")
    if isinstance(admin, str) and admin and admin not in known:
        problems.append((("admin_channel",), f"unknown channel {admin!r}; known: {known or 'none'}"))
    for index, route in _entries(data.get("routes")):
        for position, name in _entries(route.get("channels") if isinstance(route, dict) else None):
            if isinstance(name, str) and name not in known:
                problems.append((("routes", index, "channels", position),
                                 f"unknown channel {name!r}; known: {known or 'none'}"))
    return problems


def _folder_problems(data, layout: Config, profiles_dir: Path) -> list[tuple[tuple, str]]:
    """templates_dir is a directory, and routes name profiles in profiles_dir (a profile that
    does not load still counts: its own problems are reported)."""
    problems = []
    templates = layout.templates_path()
    if templates is not None and not templates.is_dir():
        problems.append((("templates_dir",), f"{templates} is not a directory"))
    if not profiles_dir.is_dir():
        return problems  # reported once, not once per route
    known = sorted(path.stem for path in profile_files(profiles_dir))
    for index, route in _entries(data.get("routes")):
        name = route.get("profile") if isinstance(route, dict) else None
        if isinstance(name, str) and name not in known:
            problems.append((("routes", index, "profile"), f"unknown profile {name!r}; profiles in "
                                                           f"{profiles_dir}: {known or 'none'}"))
    return problems
