"""Alerts: render title and body from templates, and deliver outbox rows through apprise.

The dispatcher first applies the alert policy (monitor/alerts/routing.py): rows that must wait (quiet
hours, a digest route, a channel's rate limit) are `held`, and held rows whose wait is over go out
merged into one digest row per channel. Then it claims due rows (`claimed`: nothing sent yet) and,
for one row at a time, marks it `sending` (committed), calls apprise, and records `sent`, back to
`pending` with exponential backoff, or `dead` after the last attempt. A crash between the
channel accepting a message and the `sent` commit leaves a row `sending`; it is then marked
`uncertain` and never resent automatically. So is a message sent without an answer (a read
timeout): the channel may have it. Secrets in channel URLs are scrubbed from every error
before it is stored or logged.
"""

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from io import StringIO

import apprise

from .. import metrics
from ..errors import ChannelError, MaybeDelivered, UnusableURL
from ..logs import RedactSecrets, public_url, redact
from ..model import OutboxStatus
from ..settings.config import ChannelConfig, Config
from ..store.outbox import (
    ClaimedMessage,
    claim_outbox,
    due_rows,
    finish_outbox,
    hold_rows,
    merge_held,
    recover_outbox,
    release_claims,
    release_held,
    start_send,
)
from ..store.workers import worker_id
from .payload import webhook_fields
from .render import digest_message
from .routing import LOG_CHANNEL, Digest, digest_key, hold_for, holds_for_digest

log = logging.getLogger("monitor.notify")


APPRISE_FORMAT = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN,
                  "html": apprise.NotifyFormat.HTML}
JSON_SCHEMES = ("json", "jsons")  # apprise's JSON webhook: structured fields go in its payload
# apprise's log of the exception of a request that went out and got no answer (requests'
# ReadTimeout, a connection the server closed before answering): the channel may have the message.
# Only that line: the log also holds the message itself and the server's answer, either of which
# may quote these words.
NO_ANSWER = re.compile(r"^\S+ Socket Exception: .*"
                       r"(Read timed out|Remote end closed connection without response)", re.MULTILINE)


def send(channel: ChannelConfig, title: str, body: str, body_format: str = "text",
         fields: dict | None = None) -> None:
    """Send one message through apprise; raise ChannelError with the reason (secrets removed).
    A JSON webhook also gets `fields` (monitor/alerts/payload.py) as keys of its payload."""
    notifier = apprise.Apprise()
    with _apprise_log(channel) as captured:
        if not notifier.add(_service(channel.url.get_secret_value(), fields)):
            reason = _reasons(captured.getvalue()) or "unknown scheme or missing parts"
            raise _channel_error(channel, f"apprise rejected the URL ({channel.public_url()}): {reason}",
                                 UnusableURL)
        try:
            delivered = notifier.notify(title=title, body=body, body_format=APPRISE_FORMAT[body_format])
        except Exception as exc:  # a plugin bug must not stop the dispatcher
            raise _channel_error(channel, f"{type(exc).__name__}: {exc}") from None
        details = captured.getvalue().strip()
    if not delivered:
        raise _channel_error(channel, _reasons(details) or "apprise reported a failure",
                             MaybeDelivered if NO_ANSWER.search(details) else ChannelError)


def _service(url: str, fields: dict | None):
    """What apprise is given: the channel's URL, or for a JSON webhook its service built again from
    the URL's arguments (the plugin's `parse_url`) with `fields` added to the payload extras, the
    entries a `:key=value` argument of the URL adds, so that each message carries its own fields.
    The URL's own `:key=value` arguments win over a field of the same name. Built by its class
    rather than `Apprise.instantiate`, which would log the fields as part of the URL."""
    if not fields or url.partition("://")[0].lower() not in JSON_SCHEMES:
        return url
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return url  # apprise refuses it, and says why
    arguments = service.parse_url(url)
    arguments["payload"] = {**fields, **(arguments.get("payload") or {})}
    return type(service)(**arguments)


@contextmanager
def _apprise_log(channel: ChannelConfig) -> Iterator[StringIO]:
    """apprise's log during one send, captured, with every fragment of the channel's secrets masked
    in each record (apprise names hosts and URLs as it parsed them). The monitor logs the outcome
    itself, so the records do not go on to the log as well."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    scrub = RedactSecrets(channel.secrets(), everywhere=True)
    logger.addFilter(scrub)
    try:
        with apprise.LogCapture(level=logging.DEBUG, fmt="%(levelname)s %(message)s") as captured:
            yield captured
    finally:
        logger.removeFilter(scrub)


def url_problem(channel: ChannelConfig) -> str | None:
    """Why apprise can never send to the channel's URL (secrets masked), or None if it accepts it.
    Nothing is sent: `monitor check` asks this of every channel."""
    try:
        with _apprise_log(channel) as captured:
            if apprise.Apprise().add(channel.url.get_secret_value()):
                return None
            reason = _reasons(captured.getvalue()) or "unknown scheme or missing parts"
    except Exception as exc:  # a plugin that fails while parsing
        reason = f"{type(exc).__name__}: {exc}"
    return str(_channel_error(channel, f"apprise cannot use this URL ({channel.public_url()}): {reason}"))


def _channel_error(channel: ChannelConfig, reason: str, kind: type = ChannelError) -> ChannelError:
    """The error as the log, the database and the CLI show it: the channel's URL, and any URL
    apprise wrote out, as its public form (scheme and host), and every fragment of its secrets
    masked (monitor/logs.py). apprise's own masking keeps a secret's first and last characters
    ("T...7"), more than a short password can spare."""
    url = re.escape(channel.url.get_secret_value())
    reason = re.sub(url, lambda _: channel.public_url(), reason, flags=re.IGNORECASE)
    reason = _URL_IN_TEXT.sub(lambda match: public_url(match[0], channel.secrets()), reason)
    return kind(redact(f"channel {channel.name!r}: {reason}", channel.secrets()))


_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"()<>]+", re.IGNORECASE)


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
                    "(see `monitor outbox`)", recovered[OutboxStatus.PENDING], recovered[OutboxStatus.UNCERTAIN])
    holds = {row.id: hold for row in due_rows(engine, now) if row.profile is not None
             and (hold := hold_for(config, row.channel, row.profile, row.label, row.score, now))}
    hold_rows(engine, holds)
    keys = {digest_key(route) for route in config.routes if holds_for_digest(route)}
    created = []
    for group in release_held(engine, now, keys, digest):
        merged = merge_held(engine, group, digest_message(config, group.channel, group.hold, group.entries), now)
        if merged is not None:
            created.append(merged)
    if created:
        log.info("merged held alerts into digest rows %s", created)
    return created


def dispatch(config: Config, engine, clock: Callable[[], datetime],
             row_ids: list[int] | None = None, stop: threading.Event | None = None) -> dict[str, int]:
    """Send every due pending outbox row once (until `stop` is set: claimed rows not sent yet go
    back to pending). Returns counts by resulting status."""
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
                if stop is not None and stop.is_set():
                    return counts
                attempted.add(row.id)
                status = _send_row(config, engine, row, worker, clock)
                if status:
                    counts[status] = counts.get(status, 0) + 1
    finally:
        release_claims(engine, worker)


def _send_row(config: Config, engine, row: ClaimedMessage, worker: str,
              clock: Callable[[], datetime]) -> str | None:
    """The only place a message leaves: mark `sending` (commit), call the channel, record."""
    if not start_send(engine, row.id, worker, clock()):
        return None  # no longer ours: another dispatcher took it over
    error, settled = _deliver(config, row)
    attempts = 1 if settled == OutboxStatus.DEAD else config.dispatch.max_attempts
    status = finish_outbox(engine, row.id, worker, error, clock(), attempts,
                           config.dispatch.retry_base, config.dispatch.retry_max,
                           uncertain=settled == OutboxStatus.UNCERTAIN)
    metrics.page_done(row, status, clock())
    if error:
        log.warning("alert id=%d channel=%s attempt=%d status=%s error=%s", row.id, row.channel,
                    row.attempts + 1, status, error)
    else:
        log.info("alert id=%d channel=%s status=sent title=%s", row.id, row.channel, row.title)
    return status


def _deliver(config: Config, row: ClaimedMessage) -> tuple[str | None, str | None]:
    """Deliver one message: (None, None) on success, else the (scrubbed) error and, where a retry
    must not follow, the row's status: dead (apprise cannot use the channel's URL) or uncertain
    (sent without an answer)."""
    if row.channel == LOG_CHANNEL:
        log.warning("ALERT (no channel configured) %s\n%s", row.title, row.body)
        return None, None
    try:
        channel = config.channel(row.channel)
    except KeyError:  # it may come back with the next edit of the watchlist
        return f"channel {row.channel!r} is no longer in the watchlist", None
    try:
        send(channel, row.title, row.body, row.format, webhook_fields(config, row))
    except UnusableURL as exc:
        return str(exc), OutboxStatus.DEAD
    except MaybeDelivered as exc:
        return str(exc), OutboxStatus.UNCERTAIN
    except ChannelError as exc:
        return str(exc), None
    return None, None


def send_digest(runtime, digest: Digest, now: datetime | None = None) -> list[int]:
    """Turn the alerts held for `digest` into one outbox row per channel (a summary of every
    match routed there since the last digest) and return the new rows' ids; the dispatcher sends
    them with the usual guarantees (call dispatch right after to send them now). Safe to
    call from several workers: each held alert goes into exactly one digest. Nothing held: no row.

    Call it from an APScheduler job: CronTrigger.from_crontab(digest.cron, timezone=digest.timezone).
    """
    return apply_policy(runtime.config, runtime.engine, now or runtime.clock(), digest=digest.key)
