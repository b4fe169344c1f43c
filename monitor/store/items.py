"""Items and matches: what a feed's poll has seen, and writing polls' plans in one transaction."""

import json
import logging
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import (
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..model import Item, PollPlan, Role, ScoredItem, Seen
from .database import read_scope
from .feeds import served_marks, success_values
from .retention import entry_marks, served_again, titled_marks
from .tables import Feed, FeedEntries, ItemRow, MatchRow

lookup_log = logging.getLogger("monitor.store.lookups")  # debug: feeds per dedupe statement (bench/scale.py)

# Ids other transactions may have taken but not committed when a plan was read (PostgreSQL hands
# out ids before commit): the re-check at write time looks this far below the plan's newest id.
IDS_IN_FLIGHT = 10_000

# A poll runs these for every feed that answers: built once, on the tables (no ORM layer, no
# expression or cache key built per call).
_ITEM = ItemRow.__table__


# One statement looks up feeds' items, a row for each: its title if this feed stored its key, else
# the link if any feed stored it (a key found needs no link: the item is seen either way); the
# last row has the newest id. A statement and its round trip are most of a lookup's cost, so a
# poll's write re-checks all its feeds in one. The statement is one text for any number of items
# (an IN list would be rewritten for every call, a parameter per value). On PostgreSQL the feed
# ids, keys and links go as three texts that string_to_array splits at SEPARATOR: a lookup takes
# a tenth to a fifth less time than with one JSON parameter, which the server must parse (arrays
# bound as lists cost a Python call per element to send). Keys that could not go that way (one
# holds the separator, or is a lone "") go as JSON, as on SQLite: [[feed id, key, link], ...].
# Each key and link is one index search whatever the table's statistics say: on PostgreSQL a
# LATERAL subquery, which the planner cannot turn into a scan of the items stored since :after.
SEPARATOR = "\x1f"  # ASCII unit separator: XML cannot carry it, and a canonical URL has it percent-encoded
_WANTED = {
    # each array in a subquery: the planner estimates the same rows whatever the texts, so the
    # server keeps one generic plan; given the arrays, it planned each lookup anew (0.1 ms each)
    "split": """unnest((SELECT CAST(string_to_array(:feed_ids, ',', '') AS INTEGER[])),
       (SELECT string_to_array(:keys, chr(31))), (SELECT string_to_array(:urls, chr(31), '')))
       AS wanted(feed_id, key, url)""",
    "json": """(SELECT CAST(value->>0 AS INTEGER) AS feed_id, value->>1 AS key, value->>2 AS url
      FROM jsonb_array_elements(CAST(:items AS JSONB))) AS wanted""",
}
_POSTGRESQL_LOOKUP = """
SELECT wanted.feed_id, wanted.key, by_key.title, by_link.url, CAST(NULL AS BIGINT)
FROM {wanted}
LEFT JOIN LATERAL (SELECT item.title FROM item WHERE item.feed_id = wanted.feed_id
                   AND item.key = wanted.key{since} LIMIT 1) AS by_key ON true
LEFT JOIN LATERAL (SELECT item.url FROM item
                   WHERE by_key.title IS NULL AND item.url = wanted.url{since} LIMIT 1) AS by_link ON true
UNION ALL SELECT NULL, NULL, NULL, NULL, max(id) FROM item"""
_SQLITE_LOOKUP = """
SELECT wanted.feed_id, wanted.key, by_key.title,
       CASE WHEN by_key.title IS NULL
            THEN (SELECT item.url FROM item WHERE item.url = wanted.url{since} LIMIT 1) END,
       NULL
FROM (SELECT json_extract(value, '$[0]') AS feed_id, json_extract(value, '$[1]') AS key,
             json_extract(value, '$[2]') AS url FROM json_each(:items)) AS wanted
LEFT JOIN item AS by_key ON by_key.feed_id = wanted.feed_id AND by_key.key = wanted.key{by_key_since}
UNION ALL SELECT NULL, NULL, NULL, NULL, max(id) FROM item"""
_SINCE = {False: dict(since="", by_key_since=""),
          True: dict(since=" AND item.id > :after", by_key_since=" AND by_key.id > :after")}
_LOOKUPS = {("postgresql", how, since): text(_POSTGRESQL_LOOKUP.format(wanted=wanted, **_SINCE[since]))
            for how, wanted in _WANTED.items() for since in (False, True)}
_LOOKUPS.update({("sqlite", "json", since): text(_SQLITE_LOOKUP.format(**_SINCE[since]))
                 for since in (False, True)})
_NEWEST = select(func.max(_ITEM.c.id))
_ENTRIES = FeedEntries.__table__
_SERVED = select(served_marks(bindparam("feed_id")))
_INSERT_ITEMS = insert(_ITEM)
_INSERT_ITEMS_RETURNING_IDS = insert(_ITEM).returning(_ITEM.c.id, sort_by_parameter_order=True)
_INSERT_MATCHES = insert(MatchRow.__table__)
_FEED = Feed.__table__
_UPDATE_FEED = update(_FEED).where(_FEED.c.id == bindparam("b_id"))
_UPDATE_FEED_STATE = _UPDATE_FEED.values(items_seen=_FEED.c.items_seen + bindparam("b_added"))


def _upsert_entries(dialect_insert):
    statement = dialect_insert(_ENTRIES)
    return statement.on_conflict_do_update(index_elements=[_ENTRIES.c.feed_id],
                                           set_={"marks": statement.excluded.marks,
                                                 "titled": statement.excluded.titled})


_UPSERT_ENTRIES = {"postgresql": _upsert_entries(postgresql.insert), "sqlite": _upsert_entries(sqlite.insert)}


def seen_items(engine: Engine, feed_id: int, items: list, first_poll: bool = False,
               served: str | None = None) -> Seen:
    """Which of the items (or parse.Entry) are stored already: by this feed's key, or by link from
    any feed. Those the feed's last poll served too, under the same title, are known without a
    lookup (`served`, as the claim read them; else read here: retention.served_again), so a feed
    with a few new entries looks up those few, and one with none looks up nothing. A feed's first
    poll looks up links only: a new feed has no items of its own. A feed moved to a new URL polls
    a first time again and has, so the Seen has no as_of, and the write re-checks every item
    (apply_polls: one lookup for all the feeds it writes)."""
    return seen_in_feeds(engine, [SeenQuery(feed_id, items, first_poll, served)])[0]


@dataclass(frozen=True)
class SeenQuery:
    """One feed's part of seen_in_feeds: seen_items' arguments."""

    feed_id: int
    items: list
    first_poll: bool = False
    served: str | None = None  # None: not read yet


def seen_in_feeds(engine: Engine, queries: list[SeenQuery]) -> list[Seen]:
    """seen_items of several feeds, in one lookup statement: a poll looks up together the feeds
    waiting for its worker. One Seen per query, in order."""
    again = [frozenset(() if q.first_poll else served_again(json.loads(served) if served else (), q.items))
             for q, served in zip(queries, _served(engine, queries))]
    wanted = [(None if q.first_poll else q.feed_id, [item for item in q.items if item.key not in known])
              for q, known in zip(queries, again)]
    if not any(items for _, items in wanted):  # nothing new, so nothing to write: no as_of needed
        return [Seen(known) for known in again]
    with read_scope(engine) as connection:
        found = _seen_in_feeds(connection, wanted)
    lookup_log.debug("looked up %d feeds' entries in one statement", len(queries))
    return [_seen_with(q.first_poll, known, looked_up, seen)
            for q, known, (_, looked_up), seen in zip(queries, again, wanted, found)]


def _served(engine: Engine, queries: list[SeenQuery]) -> list[str]:
    """What each feed's last poll served: as the query has it, else read (a first poll needs none)."""
    unread = [q.feed_id for q in queries if q.served is None and not q.first_poll]
    if not unread:
        return [q.served or "" for q in queries]
    with read_scope(engine) as connection:
        read = {feed_id: connection.execute(_SERVED, {"feed_id": feed_id}).scalar() for feed_id in unread}
    return [q.served if q.served is not None else read.get(q.feed_id) or "" for q in queries]


def _seen_with(first_poll: bool, again: frozenset[str], looked_up: list, seen: Seen) -> Seen:
    if first_poll:  # no as_of: the write re-checks every item, keys included (seen_items)
        return Seen(urls=seen.urls)
    if not looked_up:
        return Seen(again)
    return Seen(seen.keys | again, seen.urls, seen.as_of, seen.titles)


def apply_poll(engine: Engine, plan: PollPlan) -> tuple[int, int]:
    """Write one feed's poll in one short transaction (apply_polls). Returns (new items, matches)
    stored."""
    return apply_polls(engine, [plan])[0]


def apply_polls(engine: Engine, plans: list[PollPlan]) -> list[tuple[int, int]]:
    """Write several feeds' polls in one transaction: their new items, the items' matches
    (awaiting grouping, or kept as a back catalogue) and each feed's new state, a few statements
    for them all. An item stored since its plan was made (another worker, another feed with the
    same link, an earlier plan of these) is skipped, so each item is stored once; when no item was
    stored since (the newest id is the plan's), the plan stands as it is. Returns (new items,
    matches) stored per plan. Polls that brought nothing new (304s) cost the feed-state UPDATE
    alone."""
    with engine.begin() as connection:  # Core: a Session's bookkeeping costs more than these statements
        newest = _newest_item(connection) if any(plan.new_items for plan in plans) else None
        stored_since = _stored_since_plans(connection, plans, newest)
        news, links = [], set()  # links: those of the items these plans store
        for plan in plans:
            new = list(plan.new_items)
            if plan.feed_id in stored_since:
                new = _unseen(plan.new_items, stored_since[plan.feed_id])
            new = [scored for scored in new if scored.item.url is None or scored.item.url not in links]
            links.update(scored.item.url for scored in new if scored.item.url)
            news.append(new)
        _insert_unmatched(connection, [(plan, scored.item) for plan, new in zip(plans, news)
                                       for scored in new if not scored.verdicts])
        matches = _insert_matched(connection, [(plan, scored) for plan, new in zip(plans, news)
                                               for scored in new if scored.verdicts])
        _update_feeds(connection, plans, [len(new) for new in news])
    return [(len(new), matches.get(plan.feed_id, 0)) for plan, new in zip(plans, news)]


def _stored_since_plans(connection, plans: list[PollPlan], newest: int | None) -> dict[int, Seen]:
    """Of the plans whose feed has new items, which were stored since the plan was made, by feed
    id: all of them in one lookup (only plans made before the newest item, among the items
    stored since the earliest of them; a plan made with no newest id, among all)."""
    stale = [plan for plan in plans
             if plan.new_items and (plan.seen_as_of is None or newest != plan.seen_as_of)]
    if not stale:
        return {}
    made_at = [plan.seen_as_of for plan in stale]
    since = None if None in made_at else min(made_at) - IDS_IN_FLIGHT
    found = _seen_in_feeds(connection, [(plan.feed_id, [s.item for s in plan.new_items]) for plan in stale], since)
    return {plan.feed_id: seen for plan, seen in zip(stale, found)}


def _update_feeds(connection, plans: list[PollPlan], stored: list[int]) -> None:
    """Each feed's new state, with the count of its items stored, and what it serves now (the
    entries retention keeps, store/retention.py) where the poll read entries."""
    states = [dict(success_values(plan.feed_id, plan.status, plan.etag, plan.last_modified, plan.polled_at,
                                  plan.next_due_at), b_added=added) for plan, added in zip(plans, stored)]
    connection.execute(_UPDATE_FEED_STATE, states)
    _write_entries(connection, plans)


def _write_entries(connection, plans: list[PollPlan]) -> None:
    """What each feed that served entries serves now (FeedEntries)."""
    entries = [{"feed_id": plan.feed_id, "marks": entry_marks(plan.in_feed),
                "titled": titled_marks(plan.in_feed)} for plan in plans if plan.in_feed is not None]
    if entries:
        connection.execute(_UPSERT_ENTRIES[connection.dialect.name], entries)


def _unseen(scored: tuple[ScoredItem, ...], seen: Seen) -> list[ScoredItem]:
    if not seen.keys and not seen.urls:
        return list(scored)
    keep = {id(item) for item in seen.new([s.item for s in scored])}
    return [s for s in scored if id(s.item) in keep]


def _seen_in_feeds(connection, feeds: list[tuple[int | None, list[Item]]], after: int | None = None
                   ) -> list[Seen]:
    """Seen as of now, of each feed's items (feed id None: by link only), in order; with `after`,
    only among the items stored since that id (those a plan made then could not know: an index
    range, however large the table). As of: the newest id when the lookup ran."""
    wanted = [(feed_id, item.key if feed_id is not None else "", item.url or "")
              for feed_id, items in feeds for item in items if feed_id is not None or item.url]
    how, values = _lookup_values(connection.dialect.name, wanted)
    # found: links of the items whose key was not found (any feed's), all feeds' together
    titles, found, newest = {feed_id: {} for feed_id, _ in feeds}, set(), None
    statement = _LOOKUPS[connection.dialect.name, how, after is not None]
    for feed_id, key, title, url, top in connection.execute(statement, dict(values, after=after)).all():
        if title is not None:
            titles[feed_id][key] = title
        elif url is not None:
            found.add(url)
        elif top is not None:
            newest = top
    found = frozenset(found)
    return [Seen(frozenset(titles[feed_id]), found, newest, titles[feed_id]) for feed_id, _ in feeds]


def _lookup_values(dialect: str, wanted: list[tuple[int | None, str, str]]) -> tuple[str, dict]:
    """The lookup's parameters: ("split", three texts) on PostgreSQL where each splits back into
    its values, else ("json", the items as JSON: a link "" and the key of a feed id None as null).
    A lone "" key would split into no element, which unnest pads with NULL, and match nothing (a
    link "" stands for no link, NULL, either way)."""
    if dialect == "postgresql":
        feed_ids = ",".join("" if feed_id is None else str(feed_id) for feed_id, _, _ in wanted)
        keys, urls = (_joined([entry[n] for entry in wanted]) for n in (1, 2))
        if keys is not None and urls is not None and (keys or len(wanted) != 1):
            return "split", dict(feed_ids=feed_ids, keys=keys, urls=urls)
    return "json", dict(items=json.dumps([(feed_id, key if feed_id is not None else None, url or None)
                                          for feed_id, key, url in wanted]))


def _joined(values: list[str]) -> str | None:
    """The values as one text that string_to_array(text, chr(31)) splits back into them; None if
    a value holds the separator."""
    joined = SEPARATOR.join(values)
    return joined if joined.count(SEPARATOR) == len(values) - 1 else None


def _newest_item(connection) -> int | None:
    """Items are only ever added, with growing ids: an unchanged newest id means nothing new."""
    return connection.execute(_NEWEST).scalar_one()


def _item_values(plan: PollPlan, item: Item) -> dict:
    return dict(feed_id=plan.feed_id, key=item.key, url=item.url, title=item.title, text=item.text,
                published_at=item.published, fetched_at=plan.polled_at)


def _insert_unmatched(connection, items: list[tuple[PollPlan, Item]]) -> None:
    """Most items match nothing: one multi-row INSERT, no ORM objects (a third of a poll's time)."""
    if items:
        connection.execute(_INSERT_ITEMS, [_item_values(plan, item) for plan, item in items])


def _insert_matched(connection, matched: list[tuple[PollPlan, ScoredItem]]) -> Counter:
    """The items and their verdicts, in two multi-row INSERTs (the items' ids come back in the
    order given). A new feed's back catalogue (`hold_alerts`) is stored as such, never grouped, so
    that later reports of the same events page; the rest await grouping. Returns the matches
    stored per feed id."""
    if not matched:
        return Counter()
    ids = connection.execute(_INSERT_ITEMS_RETURNING_IDS,
                             [_item_values(plan, scored.item) for plan, scored in matched]).scalars().all()
    verdicts = [dict(item_id=item_id, profile=score.profile, label=score.label, score=score.score,
                     rule=score.rule, evidence=score.evidence(), headline=score.evidence(headline_only=True),
                     layer=score.layer, created_at=plan.polled_at,
                     role=Role.STORED if plan.hold_alerts or scored.stale else None)
                for item_id, (plan, scored) in zip(ids, matched) for score in scored.verdicts]
    connection.execute(_INSERT_MATCHES, verdicts)
    return Counter(plan.feed_id for plan, scored in matched for _ in scored.verdicts)
