"""Alert text: title and body from templates, rendered once per channel in its format."""

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from ..model import Item, Score
from ..settings.config import Config
from ..store.tables import OutboxRow

SUFFIX = {"text": "", "markdown": ".md", "html": ".html"}


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
    loaders = [PackageLoader("monitor.alerts", "templates")]
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
    """For store.outbox.release_held: (kind, format, title, body) of merged rows for a channel."""
    def merged(channel: str, hold: str, entries: list[dict]) -> tuple[str, str, str, str]:
        reason = hold if hold in ("quiet", "rate") else "digest"
        body_format = channel_format(config, channel)
        values = dict(reason=reason, entries=entries, count=len(entries))
        title, body = render("digest", values, body_format, config.templates_path())
        return ("merged" if reason == "rate" else "digest"), body_format, title, body
    return merged
