"""Alerts: render title and body from templates, and deliver outbox rows through apprise.

The dispatcher claims due rows (status `sending`), sends each to its channel, and records the
result per row: `sent`, back to `pending` with exponential backoff, or `dead` after the last
attempt. A row is only ever claimed from `pending`, so a sent row is never sent again.
Secrets in channel URLs are scrubbed from every error before it is stored or logged.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

import apprise
from jinja2 import Environment, PackageLoader, StrictUndefined

from .config import ChannelConfig, Config
from .datatypes import Item, Score
from .errors import ChannelError
from .store.queries import claim_outbox, finish_outbox, mark_interrupted_sends

log = logging.getLogger("monitor.notify")
LOG_CHANNEL = "log"


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=PackageLoader("monitor", "templates"), autoescape=False,
                       undefined=StrictUndefined, keep_trailing_newline=False)


def render_alert(item: Item, score: Score) -> tuple[str, str]:
    """(title, body) of an alert: headline, source, time, class, score, evidence, link."""
    values = dict(title=item.title or "(no headline)", feed=item.feed_name,
                  published=item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else None,
                  label=score.label, score=score.score, profile=score.profile, rule=score.rule, layer=score.layer,
                  evidence=score.evidence(), text=item.text, link=item.url)
    env = _templates()
    title = env.get_template("alert_title.j2").render(values).strip()
    return title, env.get_template("alert_body.j2").render(values).strip() + "\n"


def render_update(item: Item, score: Score, incident, changes: tuple[str, ...]) -> tuple[str, str]:
    """(title, body) of an incident update: what changed, the new source, how many so far."""
    values = dict(incident_title=incident.title, incident_id=incident.id, sources=incident.sources,
                  opened=incident.opened_at.strftime("%Y-%m-%d %H:%M UTC"), changes=changes,
                  title=item.title, feed=item.feed_name, link=item.url, evidence=score.evidence(),
                  text=item.text)
    env = _templates()
    title = env.get_template("update_title.j2").render(values).strip()
    return title, env.get_template("update_body.j2").render(values).strip() + "\n"


def redact(text: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def send(channel: ChannelConfig, title: str, body: str) -> None:
    """Send one message through apprise; raise ChannelError with the reason (secrets removed)."""
    secrets = channel.secrets()
    notifier = apprise.Apprise()
    with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as captured:
        if not notifier.add(channel.url.get_secret_value()):
            reason = _reasons(captured.getvalue()) or "unknown scheme or missing parts"
            raise ChannelError(redact(f"channel {channel.name!r}: apprise rejected the URL "
                                      f"({channel.public_url()}): {reason}", secrets))
        try:
            delivered = notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
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


def dispatch(config: Config, engine, clock: Callable[[], datetime],
             row_ids: list[int] | None = None) -> dict[str, int]:
    """Send every due pending outbox row once. Returns counts by resulting status."""
    counts: dict[str, int] = {}
    attempted: set[int] = set()
    mark_interrupted_sends(engine, clock())
    while True:
        rows = [r for r in claim_outbox(engine, clock(), row_ids=row_ids) if r.id not in attempted]
        if not rows:
            return counts
        for row in rows:
            attempted.add(row.id)
            error = _deliver(config, row.channel, row.title, row.body)
            status = finish_outbox(engine, row.id, error, clock(), config.dispatch.max_attempts,
                                   config.dispatch.retry_base, config.dispatch.retry_max)
            counts[status] = counts.get(status, 0) + 1
            if error:
                log.warning("alert id=%d channel=%s attempt=%d status=%s error=%s", row.id,
                            row.channel, row.attempts, status, error)
            else:
                log.info("alert id=%d channel=%s status=sent title=%s", row.id, row.channel, row.title)


def _deliver(config: Config, channel_name: str, title: str, body: str) -> str | None:
    """Deliver one message; return None on success or the (scrubbed) error."""
    if channel_name == LOG_CHANNEL:
        log.warning("ALERT (no channel configured) %s\n%s", title, body)
        return None
    try:
        channel = config.channel(channel_name)
    except KeyError:
        return f"channel {channel_name!r} is no longer in the watchlist"
    try:
        send(channel, title, body)
    except ChannelError as exc:
        return str(exc)
    return None
