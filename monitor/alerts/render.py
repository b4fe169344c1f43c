"""Alert text: title and body from templates, rendered once per channel in its format."""

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from ..model import Decision, Hold, Incident, Item, Label, Message, MessageKind, OutboxMessage, Score
from ..settings.config import Config
from ..settings.profile import Profile
from ..text import lede
from .why import reason

SUFFIX = {"text": "", "markdown": ".md", "html": ".html"}


_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~"
# Control characters, line and paragraph separators, and the bidi overrides that reorder text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Kept as written in a Markdown link target; everything else (parentheses, space, < >, quotes,
# backslash, control characters) is percent-encoded, so a link cannot close its target early.
_LINK_SAFE = ";/?:@&=+$,-_.!~*#%"


def _escape_markdown(value) -> str:
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in str(value))


def _http_link(link) -> str | None:
    """The link if it is http(s), else None (javascript:, data:, a relative path...)."""
    return link if str(link or "").startswith(("http://", "https://")) else None


def _markdown_link(link) -> str | None:
    """An http(s) link made safe to write as a Markdown link target, else None."""
    return quote(link, safe=_LINK_SAFE) if _http_link(link) else None


def _one_line(value):
    """Every inserted value without raw control characters (line breaks included): the template
    decides the layout, a title cannot add a line that looks like the message's own."""
    if isinstance(value, str):
        return value.__class__(_CONTROL.sub(" ", value))  # Markup stays Markup (already escaped)
    return value


@lru_cache(maxsize=8)
def _templates(directory: Path | None = None) -> Environment:
    """The shipped templates, each overridable by a file of the same name in `directory`.
    HTML templates (*.html.j2) escape every value; Markdown ones have the `md` filter for text
    and `md_link` for a link."""
    loaders = [PackageLoader("monitor.alerts", "templates")]
    if directory is not None:
        loaders.insert(0, FileSystemLoader(str(directory)))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html.j2"]),
                      undefined=StrictUndefined, keep_trailing_newline=False, finalize=_one_line)
    env.filters["md"] = _escape_markdown
    env.filters["md_link"] = _markdown_link
    env.filters["safe_link"] = _http_link
    return env


def render(kind: str, values: dict, body_format: str = "text",
           directory: Path | None = None) -> tuple[str, str]:
    """(title, body) of a message of `kind` (alert, update, digest) in a format. The title is
    always plain text (an email subject, a chat headline)."""
    env = _templates(directory)
    title = env.get_template(f"{kind}_title.j2").render(values).strip()
    body = env.get_template(f"{kind}_body{SUFFIX[body_format]}.j2").render(values).strip() + "\n"
    return title, body


def message_for(item: Item, score: Score, decision: Decision | None,
                profile: Profile | None = None) -> Message | None:
    """What a grouped report sends: the report that opens an incident alerts; one with a material
    change sends an update; other reports join silently. A related item outside any incident
    alerts as itself (where a route takes related items); an incident-class report left as
    context about an earlier attack does not. `profile` words the alert's why."""
    if decision is None:
        return alert_message(item, score, profile) if score.label != Label.INCIDENT else None
    if decision.opened:
        return alert_message(item, score, profile)
    if decision.changes:
        return update_message(item, score, decision.incident, decision.changes, profile)
    return None


def alert_message(item: Item, score: Score, profile: Profile | None = None) -> Message:
    """An alert: why in one line, source, time, class, score, link (the headline is its title;
    `evidence`, group: terms, stays available to a watchlist's own templates)."""
    values = dict(title=item.title or "(no headline)", feed=item.feed_name,
                  published=item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else None,
                  label=score.label, score=score.score, profile=score.profile, rule=score.rule, layer=score.layer,
                  why=_why(profile, score, item), evidence=score.shown_evidence(), text=lede(item.text),
                  link=item.url)
    return Message(MessageKind.ALERT, values)


def _why(profile: Profile | None, score: Score, item: Item) -> str:
    """The one-line why, then the terms in it that only the item's article page gave (its
    feed gave a headline or a teaser: `full_text`)."""
    line = reason(profile, score.evidence(), item.title, lede(item.text))
    article = [term for term in score.article_terms() if term in line]
    return f"{line}; from the article page: {', '.join(article)}" if article else line


def update_message(item: Item, score: Score, incident: Incident, changes: tuple[str, ...],
                   profile: Profile | None = None) -> Message:
    """An incident update: what changed, the new source and its why, how many so far."""
    values = dict(incident_title=incident.title, incident_id=incident.id, sources=incident.sources,
                  opened=incident.opened_at.strftime("%Y-%m-%d %H:%M UTC"), changes=changes,
                  title=item.title, feed=item.feed_name, link=item.url, evidence=score.shown_evidence(),
                  why=_why(profile, score, item), text=lede(item.text))
    return Message(MessageKind.UPDATE, values)


def channel_format(config: Config, channel_name: str) -> str:
    try:
        return config.channel(channel_name).format
    except KeyError:
        return "text"  # the log, or a channel removed from the watchlist


def outbox_messages(config: Config, message: Message, channels: list[str]) -> list[OutboxMessage]:
    """The message rendered once for each channel, in its format (watchlist templates first)."""
    messages = []
    for channel in channels:
        body_format = channel_format(config, channel)
        title, body = render(message.kind, message.values, body_format, config.templates_path())
        messages.append(OutboxMessage(channel, message.kind, body_format, title, body))
    return messages


def digest_message(config: Config, channel: str, hold: str, entries) -> OutboxMessage:
    """Held alerts of one channel summed up in one message: after quiet hours, on a digest
    schedule, or (`merged`) when a rate limit allows again."""
    reason = hold if hold in tuple(Hold) else "digest"
    body_format = channel_format(config, channel)
    values = dict(reason=reason, entries=list(entries), count=len(entries))
    title, body = render(MessageKind.DIGEST, values, body_format, config.templates_path())
    kind = MessageKind.MERGED if reason == Hold.RATE else MessageKind.DIGEST
    return OutboxMessage(channel, kind, body_format, title, body)
