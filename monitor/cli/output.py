"""How commands print: text lines and the JSON of --json, in one place."""

from ..store.reports import IncidentView, MatchView

# What each command's --json prints, for its --help.
JSON_HELP = {
    "matches": ("A JSON array of matches: id, profile, class, score, rule, evidence, title, link,"
        " feed, published, matched_at"),
    "incidents": ("A JSON array of incidents: id, profile, title, opened_at, last_at, updates, "
        "facts, sources"),
    "outbox": ("A JSON array of outbox rows: id, status, channel, kind, attempts, "
        "next_attempt_at, hold, last_error, title, created_at, sent_at, merged_into"),
    "score": ("One JSON object per profile: profile, class, score, rule, layer, probability, "
        "evidence"),
    "backtest": ("One JSON object: profile, summary counts, and items (title, feed, link, when, "
        "class, score, alert, incident, stored_class, evidence)"),
    "eval": ("One JSON object: the page metrics, precision/recall per class, alerts, events "
        "and the learned layer note"),
    "replay": "One JSON object: per day the pages sent, and with labels the page metrics",
    "prune": ("One JSON object: dry_run, and the rows deleted (or that would be) per table: items, "
        "matches, incidents, outbox"),
}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def match_json(match: MatchView) -> dict:
    return {"id": match.id, "profile": match.profile, "class": match.label, "score": match.score,
            "rule": match.rule, "evidence": match.evidence, "title": match.title, "link": match.link,
            "feed": match.feed, "published": _iso(match.published), "matched_at": _iso(match.matched_at)}


def incident_json(incident: IncidentView) -> dict:
    sources = [{"title": s.title, "feed": s.feed, "link": s.link, "role": s.role, "class": s.label,
                "published": _iso(s.published)} for s in incident.sources]
    return {"id": incident.id, "profile": incident.profile, "title": incident.title,
            "opened_at": _iso(incident.opened_at), "last_at": _iso(incident.last_at),
            "updates": incident.updates, "facts": incident.facts, "sources": sources}


def format_incidents(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        lines.append(f"#{row['id']} {row['title']}  [{row['profile']}]")
        lines.append(f"    opened {row['opened_at'][:16]}, last report {row['last_at'][:16]}, "
                     f"{len(row['sources'])} sources, {row['updates']} updates"
                     + (f", {', '.join(row['facts'])}" if row["facts"] else ""))
        lines += [f"    - {source['title']} ({source['feed']}, {source['role']})"
                  for source in row["sources"]]
    return "\n".join(lines)


def outcome_json(outcome) -> dict:
    return {"title": outcome.title, "feed": outcome.feed, "link": outcome.link,
            "when": outcome.when.isoformat(), "class": outcome.label, "score": outcome.score,
            "alert": outcome.alert, "incident": outcome.incident, "stored_class": outcome.stored_label,
            "held": outcome.held, "evidence": outcome.evidence}


def when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def outbox_json(row) -> dict:
    def when(value):
        return value.replace(tzinfo=None).isoformat() + "Z" if value else None
    return {"id": row.id, "status": row.status, "channel": row.channel, "kind": row.kind,
            "attempts": row.attempts, "next_attempt_at": when(row.next_attempt_at), "hold": row.hold,
            "last_error": row.last_error, "title": row.title, "created_at": when(row.created_at),
            "sent_at": when(row.sent_at), "merged_into": row.merged_into}
