"""Alerts: render title and body from templates, and deliver outbox rows through apprise.

The dispatcher first applies the alert policy (monitor/policy.py): rows that must wait (quiet
hours, a digest route, a channel's rate limit) are `held`, and held rows whose wait is over go out
merged into one digest row per channel. Then it claims due rows (`claimed`: nothing sent yet) and,
for one row at a time, marks it `sending` (committed), calls apprise, and records `sent`, back to
`pending` with exponential backoff, or `dead` after the last attempt. Only a crash between the
channel accepting a message and the `sent` commit can leave a row `sending`; it is then marked
`uncertain` and never resent automatically. Secrets in channel URLs are scrubbed from every error
before it is stored or logged.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import apprise
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

from .config import ChannelConfig, Config
from .datatypes import Item, Score
from .errors import ChannelError
from .logs import redact
from .policy import digest_key, hold_for
from .store.queries import (claim_outbox, finish_outbox, hold_outbox, recover_outbox, release_claims,
                            release_held, start_send, worker_id)
from .store.tables import OutboxRow

log = logging.getLogger("monitor.notify")
LOG_CHANNEL = "log"
SUFFIX = {"text": "", "markdown": ".md", "html": ".html"}
APPRISE_FORMAT = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN,
                  "html": apprise.NotifyFormat.HTML}
_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~"


class Message(tuple):
    """(title, body) in plain text, plus its kind and template values to render other formats."""

    def __new__(cls, title: str, body: str, kind: str, values: dict):
        message = super().__new__(cls, (title, body))
        message.kind, message.values = kind, values
        return message


def _escape_markdown(value) -> str:
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(value))


@lru_cache(maxsize=8)
def _templates(directory: Path | None = None) -> Environment:
    """The shipped templates, each overridable by a file of the same name in `directory`.
    HTML templates (*.html.j2) escape every value; Markdown ones have the `md` filter."""
    loaders = [PackageLoader("monitor", "templates")]
    if directory is not None:
        loaders.insert(0, FileSystemLoader(str(directory)))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html.j2"]),
                      undefined=StrictUndefined, keep_trailing_newline=False)
    env.filters["md"] = _escape_markdown
    env.filters["safe_link"] = lambda link: link if str(link or "").startswith(("http://", "https://")) else None
    return env


def render(kind: str, values: dict, body_format: str = "text",
           directory: Path | None = None) -> tuple[str, str]:
    """(title, body) of a message of `kind` (alert, update, digest) in a format. The title is
    always plain text (an email subject, a chat headline)."""
    env = _templates(directory)
    title = env.get_template(f"{kind}_title.j2").render(values).strip()
    body = env.get_template(f"{kind}_body{SUFFIX[body_format]}.j2").render(values).strip() + "\n"
    return title, body


def render_alert(item: Item, score: Score) -> Message:
    """(title, body) of an alert: headline, source, time, class, score, evidence, link."""
    values = dict(title=item.title or "(no headline)", feed=item.feed_name,
                  published=item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else None,
                  label=score.label, score=score.score, profile=score.profile, rule=score.rule, layer=score.layer,
                  evidence=score.evidence(), text=item.text, link=item.url)
    return Message(*render("alert", values), "alert", values)


def render_update(item: Item, score: Score, incident, changes: tuple[str, ...]) -> Message:
    """(title, body) of an incident update: what changed, the new source, how many so far."""
    values = dict(incident_title=incident.title, incident_id=incident.id, sources=incident.sources,
                  opened=incident.opened_at.strftime("%Y-%m-%d %H:%M UTC"), changes=changes,
                  title=item.title, feed=item.feed_name, link=item.url, evidence=score.evidence(),
                  text=item.text)
    return Message(*render("update", values), "update", values)


def channel_format(config: Config, channel_name: str) -> str:
    try:
        return config.channel(channel_name).format
    except KeyError:
        return "text"  # the log, or a channel removed from the watchlist


def outbox_rows(config: Config, match_id: int, message: tuple[str, str], channels: list[str],
                now: datetime) -> list[OutboxRow]:
    """The outbox rows of one alert, rendered in each channel's format (watchlist templates first).
    A plain (title, body) tuple is sent as text."""
    rows = []
    for channel in channels:
        body_format, kind = channel_format(config, channel), getattr(message, "kind", "alert")
        title, body = (render(kind, message.values, body_format, config.templates_path())
                       if isinstance(message, Message) else (message[0], message[1]))
        if not isinstance(message, Message):
            body_format = "text"
        rows.append(OutboxRow(match_id=match_id, channel=channel, title=title, body=body, kind=kind,
                              format=body_format, next_attempt_at=now, created_at=now))
    return rows


def render_digest(config: Config) -> Callable[[str, str, list[dict]], tuple[str, str, str, str]]:
    """For store.queries.release_held: (kind, format, title, body) of merged rows for a channel."""
    def merged(channel: str, hold: str, entries: list[dict]) -> tuple[str, str, str, str]:
        reason = hold if hold in ("quiet", "rate") else "digest"
        body_format = channel_format(config, channel)
        values = dict(reason=reason, entries=entries, count=len(entries))
        title, body = render("digest", values, body_format, config.templates_path())
        return ("merged" if reason == "rate" else "digest"), body_format, title, body
    return merged


def send(channel: ChannelConfig, title: str, body: str, body_format: str = "text") -> None:
    """Send one message through apprise; raise ChannelError with the reason (secrets removed)."""
    secrets = channel.secrets()
    notifier = apprise.Apprise()
    with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as captured:
        if not notifier.add(channel.url.get_secret_value()):
            reason = _reasons(captured.getvalue()) or "unknown scheme or missing parts"
            raise ChannelError(redact(f"channel {channel.name!r}: apprise rejected the URL "
                                      f"({channel.public_url()}): {reason}", secrets))
        try:
            delivered = notifier.notify(title=title, body=body, body_format=APPRISE_FORMAT[body_format])
        except Exception as exc:  # a plugin bug must not stop the dispatcher
            raise ChannelError(redact(f"channel {channel.name!r}: {type(exc).__name__}: {exc}", secrets)) from None
        details = captured.getvalue().strip()
    if not delivered:
        reason = _reasons(details) or "apprise reported a failure"
        raise ChannelError(redact(f"channel {channel.name!r}: {reason}", secrets))


def _reasons(captured: str) -> str:
    """The warning, error and exception lines of apprise's log, joined, at most 500 characters."""
    lines = [line.split(" ", 1)[-1] for line in captured.splitlines()
             if line.startswith(("WARNING", "ERROR")) or "Exception" in line]
    return "; ".join(lines)[-500:]


def apply_policy(config: Config, engine, now: datetime, digest: str | None = None) -> list[int]:
    """Recover rows a dead dispatcher left, hold rows that must wait, and merge the held rows whose
    wait is over (or, with `digest`, those held for that digest route). Returns new digest rows."""
    recovered = recover_outbox(engine, now)
    if any(recovered.values()):
        log.warning("outbox rows left by a stopped dispatcher: %d back to pending, %d uncertain "
                    "(see `monitor outbox`)", recovered["pending"], recovered["uncertain"])
    hold_outbox(engine, now, lambda row, match: match and hold_for(
        config, row.channel, match.profile, match.label, match.score, now))
    keys = {digest_key(route) for route in config.routes if route.digest}
    created = release_held(engine, now, render_digest(config), keys, digest)
    if created:
        log.info("merged held alerts into digest rows %s", created)
    return created


def dispatch(config: Config, engine, clock: Callable[[], datetime],
             row_ids: list[int] | None = None) -> dict[str, int]:
    """Send every due pending outbox row once. Returns counts by resulting status."""
    counts: dict[str, int] = {}
    attempted: set[int] = set()
    worker = worker_id()
    apply_policy(config, engine, clock())
    limits = {c.name: (c.rate_limit.count, c.rate_limit.per) for c in config.channels if c.rate_limit}
    try:
        while True:
            rows = [r for r in claim_outbox(engine, clock(), worker, limits, row_ids=row_ids)
                    if r.id not in attempted]
            if not rows:
                return counts
            for row in rows:
                attempted.add(row.id)
                status = _send_row(config, engine, row, worker, clock)
                if status:
                    counts[status] = counts.get(status, 0) + 1
    finally:
        release_claims(engine, worker)


def _send_row(config: Config, engine, row: OutboxRow, worker: str,
              clock: Callable[[], datetime]) -> str | None:
    """The only place a message leaves: mark `sending` (commit), call the channel, record."""
    if not start_send(engine, row.id, worker, clock()):
        return None  # no longer ours: another dispatcher took it over
    error = _deliver(config, row)
    status = finish_outbox(engine, row.id, worker, error, clock(), config.dispatch.max_attempts,
                           config.dispatch.retry_base, config.dispatch.retry_max)
    if error:
        log.warning("alert id=%d channel=%s attempt=%d status=%s error=%s", row.id, row.channel,
                    row.attempts + 1, status, error)
    else:
        log.info("alert id=%d channel=%s status=sent title=%s", row.id, row.channel, row.title)
    return status


def _deliver(config: Config, row: OutboxRow) -> str | None:
    """Deliver one message; return None on success or the (scrubbed) error."""
    if row.channel == LOG_CHANNEL:
        log.warning("ALERT (no channel configured) %s\n%s", row.title, row.body)
        return None
    try:
        channel = config.channel(row.channel)
    except KeyError:
        return f"channel {row.channel!r} is no longer in the watchlist"
    try:
        send(channel, row.title, row.body, row.format)
    except ChannelError as exc:
        return str(exc)
    return None
