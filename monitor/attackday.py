"""When did the reported attack happen? A span of time from a report's own words and its time.

News says the day in words: "on Sunday", "late Monday", "overnight", "yesterday", "on Jan. 8",
"last week". The first such expression of the headline, else of the text, is resolved against
the time the report was made. A named day is exact; without one, the attack is guessed to lie in
the `lag` before the report (news of an attack comes within about a day).

Named days are days of the reporting region's calendar, `AHEAD` of UTC (the Middle East runs a
few hours ahead): a named day D spans D 00:00 to D 24:00 there, and weekdays are resolved
against the report's time there. Two named days overlap only if they are the same day.
"""

import re
from datetime import date, datetime, time, timedelta, timezone

from .model import Span

AHEAD = timedelta(hours=4)
DAY = timedelta(days=1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = {name: number for number, names in enumerate(
    (("January", "Jan"), ("February", "Feb"), ("March", "Mar"), ("April", "Apr"), ("May",),
     ("June", "Jun"), ("July", "Jul"), ("August", "Aug"), ("September", "Sept", "Sep"),
     ("October", "Oct"), ("November", "Nov"), ("December", "Dec")), start=1) for name in names}

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_DATE = (rf"\b(?P<month>{_MONTH})\.? (?P<day>[0-3]?\d)(?:st|nd|rd|th)?\b(?:,? (?P<year>(?:19|20)\d\d))?"
         rf"|\b(?P<day2>[0-3]?\d)(?:st|nd|rd|th)? (?P<month2>{_MONTH})\b\.?(?: (?P<year2>(?:19|20)\d\d))?")
_RELATIVE = {
    "yesterday": (-1, -1), "today": (0, 0), "this morning": (0, 0), "earlier today": (0, 0),
    "tonight": (0, 0), "this evening": (0, 0), "overnight": (-1, 0), "last night": (-1, 0),
    "early hours": (-1, 0), "last week": (-13, -3), "last weekend": (-9, -1),
    "earlier this week": (-6, -1), "earlier this month": (-30, -2), "last month": (-62, -7),
    "days ago": (-9, -2), "a week ago": (-10, -5), "weeks ago": (-45, -10),
}
_WORDS = re.compile(
    rf"(?P<date>{_DATE})"
    rf"|\b(?P<weekday>{'|'.join(w.capitalize() for w in WEEKDAYS)})(?:['’]s)?\b"
    rf"|\b(?P<relative>{'|'.join(sorted(_RELATIVE, key=len, reverse=True))})\b", re.IGNORECASE)




def attack_span(title: str, text: str, reported: datetime, lag: timedelta = timedelta(hours=24)) -> Span:
    """The span of the attack a report describes (see the module's docstring). The headline
    says when its event was; a text names other days too (the strikes the day before, the day
    a statement was made), so there "Sunday's attack" wins, then the first named day or date,
    then "overnight"-like words."""
    for words, in_text in ((title, False), (text, True)):
        found = [(match, span) for match in _WORDS.finditer(words or "") if not _adjective(match, words)
                 if (span := _resolve(match, reported)) is not None]
        named = [span for _, span in found if span.exact]
        if not found:
            continue
        if not in_text:
            return named[0] if named else found[0][1]
        possessive = [span for match, span in found if match.group(0)[-2:].lower() in ("'s", "’s")]
        return (possessive or named or [found[0][1]])[0]
    return Span(reported - lag, reported)


def _adjective(found: re.Match, words: str) -> bool:
    """"Friday sermon", "Monday briefing": a weekday naming an occasion, not when it happened."""
    if not found.group("weekday"):
        return False
    following = words[found.end():found.end() + 20].split(maxsplit=1)
    return bool(following) and following[0].lower().strip(".,;:") in _OCCASIONS


_OCCASIONS = frozenset(
    "sermon prayers prayer briefing briefings newsletter edition session sessions meeting meetings "
    "talks deadline rally rallies protest protests vote votes summit speech address interview "
    "show programme program podcast press hearing market markets trading".split())


def _resolve(found: re.Match, reported: datetime) -> Span | None:
    local = (reported + AHEAD).date()
    if found.group("weekday"):
        weekday = WEEKDAYS.index(found.group("weekday").lower())
        return _days(local - timedelta(days=(local.weekday() - weekday) % 7), exact=True)
    if found.group("relative"):
        first, last = _RELATIVE[found.group("relative").lower()]
        return _days(local + timedelta(days=first), local + timedelta(days=last), exact=first == last)
    return _date(found, local)


def _date(found: re.Match, local: date) -> Span | None:
    month = found.group("month") or found.group("month2")
    day = int(found.group("day") or found.group("day2"))
    year = found.group("year") or found.group("year2")
    if month[:1].islower():  # "may 5": a verb, not a month
        return None
    try:
        named = date(int(year) if year else local.year, MONTHS[month.capitalize()], day)
    except ValueError:
        return None
    if not year and named > local + DAY:  # "Dec. 30" read in early January
        named = named.replace(year=named.year - 1)
    return _days(named, exact=True)


def _days(first: date, last: date | None = None, exact: bool = False) -> Span:
    """From the start of `first` to the end of `last`, in the reporting region's calendar."""
    start = datetime.combine(first, time.min, tzinfo=timezone.utc) - AHEAD
    end = datetime.combine(last or first, time.min, tzinfo=timezone.utc) + DAY - AHEAD
    return Span(start, end, exact)
