"""Query parameters of the pages and the API, read once for both: bad input is a 400 that says
which parameter is wrong and why."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from starlette.datastructures import QueryParams

from ..model import OUTBOX_OPEN, Label, OutboxStatus
from ..settings.config import parse_duration

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
CLASSES = (Label.INCIDENT.value, Label.RELATED.value)


class BadRequest(ValueError):
    """A parameter the request got wrong; the message names it."""


def limit_of(query: QueryParams) -> int:
    text = query.get("limit") or str(DEFAULT_LIMIT)
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit: {text!r} is not a number from 1 to {MAX_LIMIT}")
    return int(text)


def date_of(query: QueryParams, name: str) -> date | None:
    text = (query.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: {text!r} is not a date written YYYY-MM-DD") from None


def choice_of(query: QueryParams, name: str, allowed: tuple[str, ...]) -> str | None:
    text = (query.get(name) or "").strip()
    if text and text not in allowed:
        raise BadRequest(f"{name}: {text!r} is not one of {', '.join(allowed)}")
    return text or None


@dataclass(frozen=True)
class IncidentFilter:
    profile: str | None
    label: str | None
    day_from: date | None
    day_to: date | None  # inclusive
    cursor: str | None
    limit: int

    @classmethod
    def of(cls, query: QueryParams) -> "IncidentFilter":
        chosen = cls((query.get("profile") or "").strip() or None, choice_of(query, "class", CLASSES),
                     date_of(query, "from"), date_of(query, "to"), query.get("cursor") or None,
                     limit_of(query))
        if chosen.day_from and chosen.day_to and chosen.day_to < chosen.day_from:
            raise BadRequest(f"to: {chosen.day_to} is before from: {chosen.day_from}")
        return chosen

    def store_arguments(self) -> dict:
        start = datetime.combine(self.day_from, datetime.min.time(), timezone.utc) if self.day_from else None
        end = datetime.combine(self.day_to + timedelta(days=1), datetime.min.time(), timezone.utc) \
            if self.day_to else None
        return dict(profile=self.profile, label=self.label, opened_from=start, opened_before=end,
                    cursor=self.cursor, limit=self.limit)

    def query(self, **changes) -> dict:
        """The filter as query parameters (for the next page's link), empty ones left out."""
        values = {"profile": self.profile, "class": self.label, "from": self.day_from, "to": self.day_to,
                  "limit": self.limit if self.limit != DEFAULT_LIMIT else None, **changes}
        return {key: str(value) for key, value in values.items() if value}


def since_of(query: QueryParams, now: datetime) -> datetime | None:
    """`since`: a duration back from now (24h, 7d) or a date (YYYY-MM-DD)."""
    text = (query.get("since") or "").strip()
    if not text:
        return None
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
    except ValueError:
        raise BadRequest(f"since: {text!r} is neither a duration (24h, 7d) nor a date (YYYY-MM-DD)") from None


def statuses_of(query: QueryParams) -> list[str] | None:
    """`status` (repeatable): outbox statuses, or `all`; default: the rows not (yet) delivered."""
    chosen = [s.strip() for s in query.getlist("status") if s.strip()]
    known = tuple(OutboxStatus) + ("all",)
    for status in chosen:
        if status not in known:
            raise BadRequest(f"status: {status!r} is not one of {', '.join(known)}")
    if "all" in chosen:
        return None
    return chosen or list(OUTBOX_OPEN)
