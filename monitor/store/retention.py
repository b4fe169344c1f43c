"""Retention: delete what is older than the watchlist's `retention` periods, in short batches
(each its own transaction, so a large prune never holds a long lock), on SQLite and PostgreSQL.

What goes:
- an item that matched no profile, fetched before `items_before`;
- an incident that takes no more reports (opened before `closed_before`) and whose reports all
  came before `matches_before`, with its matches, their outbox rows and their items;
- a match in no incident (related, back catalogue), created before `matches_before`, with its
  outbox rows and its item;
- an outbox row of no match (digest, merged alerts, ops alert) sent before `matches_before`.

What never goes:
- a match still awaiting grouping, or one of whose outbox rows is pending, held, claimed,
  sending, dead or uncertain (an operator may still retry it), or went out in a digest row that
  is; its incident then stays whole too;
- a digest row other rows are still merged into;
- an item another profile's match still holds;
- an item its feed still serves: dedupe knows an item by its feed's key and by its link, so an
  item deleted while a feed still carries it would come back as new and could page again. Each
  feed row keeps short digests of the keys and links of the entries its last poll served
  (`FeedEntries`, written with the poll); an item whose key is in its feed's, or whose link is in
  any feed's, stays until the feeds drop it. (One that drops out and comes back later is new again;
  retention is longer than `max_item_age`, so if it is dated it is stale and never pages.)
- each feed's newest item (the feed's health, and the poll's "nothing new since" check, read it).

A dry run does the same deletes and rolls each batch back, so it counts what a run would delete.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, exists, func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from ..model import OUTBOX_OPEN, OutboxStatus
from .tables import FeedEntries, IncidentRow, ItemRow, MatchRow, OutboxRow

BATCH = 500  # rows examined per transaction
_DONE = (OutboxStatus.SENT, OutboxStatus.MERGED)


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these go (None: kept for good)."""

    items_before: datetime | None
    matches_before: datetime | None
    closed_before: datetime  # an incident opened before this takes no more reports


@dataclass
class Pruned:
    """Rows deleted (or, in a dry run, that would be) per table."""

    items: int = 0
    matches: int = 0
    incidents: int = 0
    outbox: int = 0

    def total(self) -> int:
        return self.items + self.matches + self.incidents + self.outbox


def entry_marks(entries: Iterable[tuple[str, str | None, str]]) -> dict[str, list[str]]:
    """What a feed row keeps of the (key, link, title) of the entries a poll served
    (FeedEntries.marks): digests of the keys and links, for retention."""
    entries = list(entries)
    return {"keys": sorted({_mark(key) for key, _, _ in entries}),
            "links": sorted({_mark(link) for _, link, _ in entries if link})}


def titled_marks(entries: Iterable[tuple[str, str | None, str]]) -> str:
    """Digests of each key with its title (FeedEntries.titled), for dedupe (served_again), as
    JSON text: a claim reads it for every feed, and a text column costs the server no JSON
    parsing (a sixth of what reading it out of `marks` cost PostgreSQL)."""
    return json.dumps(sorted({_titled_mark(key, title) for key, _, title in entries}))


def served_again(titled: Iterable[str], entries: Iterable) -> set[str]:
    """The keys of `entries` (anything with .key and .title) that the feed's last poll served
    under the same title (`titled`, the marks titled_marks wrote): stored then, and kept since, as
    retention keeps what a feed still serves. An entry whose key comes with another title is not
    among them: looking it up tells that the feed reused an id."""
    titled = set(titled)
    return {entry.key for entry in entries if _titled_mark(entry.key, entry.title) in titled} if titled else set()


def _titled_mark(key: str, title: str) -> str:
    return _mark(f"{key}\n{title}")


def _mark(value: str) -> str:
    """A short digest: a collision only keeps an item longer."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class _Served:
    """Items that stay whatever their age: still in a feed, or a feed's newest."""

    keys: set[tuple[int, str]] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    newest: set[int] = field(default_factory=set)

    def keeps(self, item_id: int, feed_id: int, key: str, link: str | None) -> bool:
        return (item_id in self.newest or (feed_id, _mark(key)) in self.keys
                or (link is not None and _mark(link) in self.links))


def prune(engine: Engine, cutoffs: Cutoffs, dry_run: bool = False, batch: int = BATCH) -> Pruned:
    """Delete what `cutoffs` let go (see the module's docstring); with `dry_run`, only count it."""
    pruned, served = Pruned(), _served(engine)
    phases: list[Callable[[Session, int], int | None]] = []
    if cutoffs.matches_before is not None:
        phases += [lambda s, after: _outbox_of_no_match(s, cutoffs, after, batch, pruned),
                   lambda s, after: _incidents(s, cutoffs, after, batch, served, pruned),
                   lambda s, after: _lone_matches(s, cutoffs, after, batch, served, pruned)]
    if cutoffs.items_before is not None:
        phases.append(lambda s, after: _unmatched_items(s, cutoffs, after, batch, served, pruned))
    for phase in phases:
        after: int | None = 0
        while after is not None:
            with _batch(engine, dry_run) as session:
                after = phase(session, after)
    return pruned


@contextmanager
def _batch(engine: Engine, dry_run: bool):
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            session.rollback()
        else:
            session.commit()


def _served(engine: Engine) -> _Served:
    served = _Served()
    with Session(engine) as session:
        for feed_id, marks in session.exec(select(FeedEntries.feed_id, FeedEntries.marks)):
            served.keys.update((feed_id, mark) for mark in marks.get("keys", ()))
            served.links.update(marks.get("links", ()))
        served.newest.update(session.exec(select(func.max(ItemRow.id)).group_by(ItemRow.feed_id)))
    return served


def _outbox_of_no_match(session: Session, cutoffs: Cutoffs, after: int, limit: int,
                        pruned: Pruned) -> int | None:
    """Digests, merged alerts and ops alerts that went out, with no row merged into them still
    kept; a merged row whose digest is still open stays."""
    digest, member = aliased(OutboxRow), aliased(OutboxRow)
    rows = session.exec(
        select(OutboxRow.id, digest.status)
        .join(digest, col(OutboxRow.merged_into) == digest.id, isouter=True)
        .where(OutboxRow.id > after, col(OutboxRow.match_id).is_(None),
               col(OutboxRow.status).in_(_DONE), OutboxRow.created_at < cutoffs.matches_before,
               ~exists().where(member.merged_into == OutboxRow.id))
        .order_by(OutboxRow.id).limit(limit)).all()
    if not rows:
        return None
    gone = [row_id for row_id, digest_status in rows if digest_status not in OUTBOX_OPEN]
    pruned.outbox += _delete(session, OutboxRow, gone)
    return rows[-1][0]


def _incidents(session: Session, cutoffs: Cutoffs, after: int, limit: int, served: _Served,
               pruned: Pruned) -> int | None:
    """Closed incidents whose reports are all old, each deleted whole or not at all."""
    ids = session.exec(select(IncidentRow.id).where(
        IncidentRow.id > after, IncidentRow.last_at < cutoffs.matches_before,
        IncidentRow.opened_at < cutoffs.closed_before).order_by(IncidentRow.id).limit(limit)).all()
    if not ids:
        return None
    matches = session.exec(select(MatchRow.id, MatchRow.incident_id, MatchRow.created_at)
                           .where(col(MatchRow.incident_id).in_(ids))).all()
    needed = _needed(session, [match_id for match_id, _, _ in matches])
    kept = {incident for match_id, incident, created in matches
            if match_id in needed or created >= cutoffs.matches_before}
    _delete_matches(session, [match_id for match_id, incident, _ in matches if incident not in kept],
                    served, pruned)
    pruned.incidents += _delete(session, IncidentRow, [i for i in ids if i not in kept])
    return ids[-1]


def _lone_matches(session: Session, cutoffs: Cutoffs, after: int, limit: int, served: _Served,
                  pruned: Pruned) -> int | None:
    """Old grouped matches in no incident (related items, a new feed's back catalogue)."""
    ids = session.exec(select(MatchRow.id).where(
        MatchRow.id > after, col(MatchRow.incident_id).is_(None), col(MatchRow.role).is_not(None),
        MatchRow.created_at < cutoffs.matches_before).order_by(MatchRow.id).limit(limit)).all()
    if not ids:
        return None
    needed = _needed(session, ids)
    _delete_matches(session, [match_id for match_id in ids if match_id not in needed], served, pruned)
    return ids[-1]


def _unmatched_items(session: Session, cutoffs: Cutoffs, after: int, limit: int, served: _Served,
                     pruned: Pruned) -> int | None:
    rows = session.exec(select(ItemRow.id, ItemRow.feed_id, ItemRow.key, ItemRow.url).where(
        ItemRow.id > after, ItemRow.fetched_at < cutoffs.items_before,
        ~exists().where(MatchRow.item_id == ItemRow.id)).order_by(ItemRow.id).limit(limit)).all()
    if not rows:
        return None
    pruned.items += _delete(session, ItemRow, [row[0] for row in rows if not served.keeps(*row)])
    return rows[-1][0]


def _needed(session: Session, match_ids: list[int]) -> set[int]:
    """Of these matches, those an outbox row still needs: one of theirs is not done, or went out
    in a digest row that is not."""
    if not match_ids:
        return set()
    digest = aliased(OutboxRow)
    return set(session.exec(
        select(OutboxRow.match_id).join(digest, col(OutboxRow.merged_into) == digest.id, isouter=True)
        .where(col(OutboxRow.match_id).in_(match_ids),
               or_(col(OutboxRow.status).in_(OUTBOX_OPEN), col(digest.status).in_(OUTBOX_OPEN)))))


def _delete_matches(session: Session, match_ids: list[int], served: _Served, pruned: Pruned) -> None:
    """The matches, their outbox rows, and then their items that no other match holds and no
    feed serves."""
    if not match_ids:
        return
    item_ids = set(session.exec(select(MatchRow.item_id).where(col(MatchRow.id).in_(match_ids))))
    pruned.outbox += session.execute(delete(OutboxRow).where(col(OutboxRow.match_id).in_(match_ids))).rowcount
    pruned.matches += _delete(session, MatchRow, match_ids)
    items = session.exec(select(ItemRow.id, ItemRow.feed_id, ItemRow.key, ItemRow.url).where(
        col(ItemRow.id).in_(item_ids), ~exists().where(MatchRow.item_id == ItemRow.id))).all()
    pruned.items += _delete(session, ItemRow, [row[0] for row in items if not served.keeps(*row)])


def _delete(session: Session, table, ids: list[int]) -> int:
    if not ids:
        return 0
    return session.execute(delete(table).where(col(table.id).in_(ids))).rowcount

