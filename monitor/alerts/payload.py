"""The structured fields a JSON webhook receives with each message (apprise `json://`, `jsons://`),
as top-level keys beside apprise's own `version`, `title`, `message`, `attachments` and `type`:

- every message: `kind` (alert, update, digest, ops; test from `monitor notify-test`);
- an alert or update: `incident_id` (null for a related item outside any incident), `headline`,
  `link`, `source` (the feed), `published` (ISO 8601 UTC, null if the feed gave none), `class`,
  `score`, `profile`, `rule`, `why` (the one-line reason of the message) and `evidence`
  (group -> matched terms, negatives under "negative", as `monitor matches` shows them);
- a digest: `entries`, the alerts it sums up (title, link, feed, kind, at).

The fields are built when the row is sent, from the stored match, so a retry sends the same.
"""

from ..model import MessageKind
from ..settings.config import Config
from ..store.outbox import ClaimedMessage
from ..text import lede
from .why import reason

_KIND = {MessageKind.MERGED: MessageKind.DIGEST}  # rate-limited alerts merged: a digest too


def webhook_fields(config: Config, row: ClaimedMessage) -> dict:
    """The structured fields of one outbox row."""
    fields: dict = {"kind": str(_KIND.get(row.kind, row.kind))}
    if row.entries:
        fields["entries"] = list(row.entries)
    report = row.report
    if report is None:
        return fields
    return fields | {
        "incident_id": report.incident_id, "headline": report.title, "link": report.link,
        "source": report.feed, "published": report.published.isoformat() if report.published else None,
        "class": report.label, "score": report.score, "profile": report.profile, "rule": report.rule,
        "why": reason(config.profiles.get(report.profile), report.evidence, report.title, lede(report.text)),
        "evidence": report.evidence}
