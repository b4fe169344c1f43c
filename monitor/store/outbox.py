"""The outbox state machine: pending -> claimed -> sending -> sent | retry | dead, holds and
digests, one short transaction each (see monitor/store/feeds.py for the claiming rules)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from ..model import Hold, OutboxMessage, OutboxStatus
from .database import session_scope
from .reports import OutboxView, outbox_view
from .tables import Feed, ItemRow, MatchRow, OutboxRow
from .workers import is_gone

CLAIM_OUTBOX_LEASE = timedelta(minutes=1)  # a claimed row not yet sending: nothing went out


SEND_LEASE = timedelta(minutes=5)  # longer than any channel call takes


def recover_outbox(engine: Engine, now: datetime) -> dict[str, int]:
    """Rows left by a dispatcher that died: `claimed` (not sent) go back to `pending`; `sending`
    (the channel may have received it) become `uncertain`, for an operator, never resent blindly.
    A row counts as left when its claimer's process is gone from this host, or past the lease."""
    counts = {OutboxStatus.PENDING: 0, OutboxStatus.UNCERTAIN: 0}
    with session_scope(engine) as session:
        rows = session.exec(select(OutboxRow).where(col(OutboxRow.status).in_((OutboxStatus.CLAIMED, OutboxStatus.SENDING)))
                            .with_for_update(skip_locked=True)).all()
        for row in rows:
            lease = CLAIM_OUTBOX_LEASE if row.status == OutboxStatus.CLAIMED else SEND_LEASE
            if not (is_gone(row.claimed_by) or row.claimed_at < now - lease):
                continue
            if row.status == OutboxStatus.CLAIMED:
                row.status, row.claimed_by = OutboxStatus.PENDING, None
            else:
                row.status = OutboxStatus.UNCERTAIN
                row.last_error = "process stopped while sending; the channel may have received it"
            counts[row.status] += 1
            session.add(row)
    return counts


@dataclass(frozen=True)
class DueRow:
    """A due pending row and the verdict it carries (None for an ops message), for the policy."""

    id: int
    channel: str
    profile: str | None
    label: str | None
    score: float | None


def due_rows(engine: Engine, now: datetime) -> list[DueRow]:
    with session_scope(engine) as session:
        query = (select(OutboxRow.id, OutboxRow.channel, MatchRow.profile, MatchRow.label, MatchRow.score)
                 .join(MatchRow, OutboxRow.match_id == MatchRow.id, isouter=True)
                 .where(OutboxRow.status == OutboxStatus.PENDING, OutboxRow.next_attempt_at <= now))
        return [DueRow(*row) for row in session.exec(query)]


def hold_rows(engine: Engine, holds: dict[int, tuple[str, datetime | None]]) -> int:
    """Hold the rows the policy says must wait: {row id: (hold, until or None)}. A row no longer
    pending (another dispatcher claimed it meanwhile) is left as it is."""
    held = 0
    with session_scope(engine) as session:
        for row_id, (hold, until) in holds.items():
            values = dict(status=OutboxStatus.HELD, hold=hold)
            if until is not None:
                values["next_attempt_at"] = until
            held += session.execute(update(OutboxRow).where(
                OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.PENDING).values(**values)).rowcount
    return held


@dataclass(frozen=True)
class Reported:
    """The match an alert or update row pages for, as a webhook's structured fields give it."""

    incident_id: int | None
    profile: str
    label: str
    score: float
    rule: str | None
    evidence: dict
    title: str
    text: str
    link: str | None
    feed: str
    published: datetime | None


@dataclass(frozen=True)
class ClaimedMessage:
    """A claimed outbox row: what the dispatcher needs to send it."""

    id: int
    channel: str
    title: str
    body: str
    format: str
    attempts: int
    kind: str
    reported_at: datetime | None  # its item's published (else fetched) time; None: no item (digest, ops)
    report: Reported | None = None  # the match it pages for; None: a digest or an ops message
    entries: tuple[dict, ...] = ()  # a digest's alerts (title, link, feed, kind, at)


def claim_outbox(engine: Engine, now: datetime, worker: str, rate_limits: dict[str, tuple[int, timedelta]],
                 limit: int = 10, row_ids: Iterable[int] | None = None) -> list[ClaimedMessage]:
    """Claim due pending rows for `worker` (status `claimed`; nothing sent yet). A channel over its
    rate limit gets its rows held until the period allows, to be merged into one message then."""
    with session_scope(engine) as session:
        query = select(OutboxRow).where(OutboxRow.status == OutboxStatus.PENDING, OutboxRow.next_attempt_at <= now)
        if row_ids is not None:
            query = query.where(col(OutboxRow.id).in_(list(row_ids)))
        rows = session.exec(query.order_by(OutboxRow.id).limit(limit)
                            .with_for_update(skip_locked=True)).all()
        budgets = {name: count - _used(session, name, now - per)
                   for name, (count, per) in rate_limits.items()}
        for row in rows:
            if row.channel in budgets and budgets[row.channel] <= 0:
                row.status, row.hold = OutboxStatus.HELD, Hold.RATE
                row.next_attempt_at = _window_free(session, row.channel, *rate_limits[row.channel], now)
            else:
                row.status, row.claimed_by, row.claimed_at = OutboxStatus.CLAIMED, worker, now
                if row.channel in budgets:
                    budgets[row.channel] -= 1
            session.add(row)
        reported = dict(session.exec(
            select(MatchRow.id, func.coalesce(ItemRow.published_at, ItemRow.fetched_at))
            .join(ItemRow, MatchRow.item_id == ItemRow.id)
            .where(col(MatchRow.id).in_([row.match_id for row in rows]))).all())
        claimed = [row for row in rows if row.status == OutboxStatus.CLAIMED]
        reports = _reports(session, [row.match_id for row in claimed if row.match_id is not None])
        return [ClaimedMessage(row.id, row.channel, row.title, row.body, row.format, row.attempts, row.kind,
                               reported.get(row.match_id), reports.get(row.match_id), tuple(row.entries or ()))
                for row in claimed]


def _reports(session, match_ids: list[int]) -> dict[int, Reported]:
    if not match_ids:
        return {}
    rows = session.exec(select(MatchRow, ItemRow, Feed.name).join(ItemRow, MatchRow.item_id == ItemRow.id)
                        .join(Feed, ItemRow.feed_id == Feed.id).where(col(MatchRow.id).in_(match_ids))).all()
    return {match.id: Reported(match.incident_id, match.profile, match.label, match.score, match.rule,
                               dict(match.evidence), item.title, item.text, item.url, feed, item.published_at)
            for match, item, feed in rows}


_COUNTED = (OutboxStatus.CLAIMED, OutboxStatus.SENDING, OutboxStatus.SENT, OutboxStatus.UNCERTAIN)


def _used(session, channel: str, since: datetime) -> int:
    """Messages started on a channel since `since` (they count against its rate limit)."""
    return session.exec(select(func.count()).select_from(OutboxRow).where(
        OutboxRow.channel == channel, col(OutboxRow.status).in_(_COUNTED),
        OutboxRow.claimed_at >= since)).one()


def _window_free(session, channel: str, count: int, per: timedelta, now: datetime) -> datetime:
    """When the channel may send again: when the oldest message of the current period ages out."""
    starts = session.exec(select(OutboxRow.claimed_at).where(
        OutboxRow.channel == channel, col(OutboxRow.status).in_(_COUNTED), OutboxRow.claimed_at >= now - per)
        .order_by(col(OutboxRow.claimed_at).desc()).limit(count)).all()
    return (starts[-1] + per) if len(starts) >= count else now


def start_send(engine: Engine, row_id: int, worker: str, now: datetime) -> bool:
    """Mark one claimed row `sending` (one attempt more) and commit, right before the channel call.
    False if the row is no longer this worker's claim (its lease ran out and another took it)."""
    with session_scope(engine) as session:
        result = session.execute(update(OutboxRow).where(
            OutboxRow.id == row_id, OutboxRow.status == OutboxStatus.CLAIMED, OutboxRow.claimed_by == worker)
            .values(status=OutboxStatus.SENDING, attempts=OutboxRow.attempts + 1, claimed_at=now))
        return result.rowcount == 1


def finish_outbox(engine: Engine, row_id: int, worker: str, error: str | None, now: datetime,
                  max_attempts: int, retry_base: timedelta, retry_max: timedelta,
                  uncertain: bool = False) -> str:
    """Record a send: sent, back to pending with backoff, or dead after the last attempt; with
    `uncertain` (sent, no answer), uncertain, for an operator to look at."""
    with session_scope(engine) as session:
        row = session.get(OutboxRow, row_id)
        if row.claimed_by != worker or row.status not in (OutboxStatus.SENDING, OutboxStatus.UNCERTAIN):
            return row.status  # another dispatcher took over; it records its own result
        if error is None:
            row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
        elif uncertain:
            row.status, row.last_error = OutboxStatus.UNCERTAIN, error
        elif row.attempts >= max_attempts:
            row.status, row.last_error = OutboxStatus.DEAD, error
        else:
            row.status, row.last_error = OutboxStatus.PENDING, error
            row.next_attempt_at = now + min(retry_base * 2 ** (row.attempts - 1), retry_max)
        session.add(row)
        return row.status


def release_claims(engine: Engine, worker: str) -> int:
    """Give back rows this worker claimed but did not start sending (nothing was sent)."""
    with session_scope(engine) as session:
        return session.execute(update(OutboxRow).where(
            OutboxRow.status == OutboxStatus.CLAIMED, OutboxRow.claimed_by == worker)
            .values(status=OutboxStatus.PENDING, claimed_by=None)).rowcount


@dataclass(frozen=True)
class HeldGroup:
    """Held rows of one channel and reason whose wait is over, to go out as one message."""

    channel: str
    hold: str
    row_ids: tuple[int, ...]
    entries: tuple[dict, ...]  # what the digest lists: each alert's title, link, feed, kind, time


def release_held(engine: Engine, now: datetime, digest_keys: set[str],
                 digest: str | None = None) -> list[HeldGroup]:
    """Held rows whose wait is over. A lone quiet or rate-limited row, and rows held for a digest
    route no longer in the watchlist (`digest_keys`), go back to pending here; the others are
    returned per channel and reason, for merge_held. `digest` releases that digest route's rows."""
    with session_scope(engine) as session:
        due = or_(col(OutboxRow.hold).in_(tuple(Hold)) & (OutboxRow.next_attempt_at <= now),
                  OutboxRow.hold == digest, col(OutboxRow.hold).not_in(sorted(digest_keys) + list(Hold)))
        rows = session.exec(select(OutboxRow).where(OutboxRow.status == OutboxStatus.HELD, due)
                            .order_by(OutboxRow.id).with_for_update(skip_locked=True)).all()
        groups: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in rows:
            groups.setdefault((row.channel, row.hold), []).append(row)
        to_merge = []
        for (channel, hold), members in groups.items():
            orphan = hold not in tuple(Hold) and hold != digest
            if orphan or (len(members) == 1 and hold in tuple(Hold)):
                for row in members:
                    row.status, row.hold, row.next_attempt_at = OutboxStatus.PENDING, None, now
                    session.add(row)
                continue
            entries = tuple(entry for row in members for entry in _entries(session, row))
            to_merge.append(HeldGroup(channel, hold, tuple(row.id for row in members), entries))
        return to_merge


def merge_held(engine: Engine, group: HeldGroup, message: OutboxMessage, now: datetime) -> int | None:
    """One row carrying `message` replaces the group's rows, if all of them are still held (else
    another dispatcher merged them first: None). Each held row goes into exactly one message."""
    with session_scope(engine) as session:
        merged = OutboxRow(channel=group.channel, kind=message.kind, format=message.format,
                           title=message.title, body=message.body, entries=list(group.entries),
                           next_attempt_at=now, created_at=now)
        session.add(merged)
        session.flush()
        taken = session.execute(update(OutboxRow).where(
            col(OutboxRow.id).in_(group.row_ids), OutboxRow.status == OutboxStatus.HELD,
            OutboxRow.hold == group.hold).values(status=OutboxStatus.MERGED, merged_into=merged.id)).rowcount
        if taken != len(group.row_ids):
            session.rollback()
            return None
        return merged.id


def _entries(session, row: OutboxRow) -> list[dict]:
    """What a digest lists for one row: its alert title and the source's link and feed."""
    if row.entries:
        return list(row.entries)
    found = session.exec(select(ItemRow.url, Feed.name).join(MatchRow, MatchRow.item_id == ItemRow.id)
                         .join(Feed, ItemRow.feed_id == Feed.id)
                         .where(MatchRow.id == row.match_id)).first() if row.match_id else None
    link, feed = found or (None, None)
    return [{"title": row.title, "link": link, "feed": feed, "kind": row.kind,
             "at": row.created_at.isoformat()}]




OUTBOX_STATUSES = tuple(OutboxStatus)


def retry_outbox(engine: Engine, row_id: int, now: datetime) -> OutboxView:
    """Put one dead or uncertain row back to pending (attempts reset). ValueError says why not."""
    with session_scope(engine) as session:
        row = session.get(OutboxRow, row_id)
        if row is None:
            raise ValueError(f"no outbox row with id {row_id}")
        if row.status not in (OutboxStatus.DEAD, OutboxStatus.UNCERTAIN):
            raise ValueError(_why_not_retried(row))
        row.status, row.attempts, row.next_attempt_at = OutboxStatus.PENDING, 0, now
        row.claimed_by, row.hold = None, None
        session.add(row)
        return outbox_view(row)


def _why_not_retried(row: OutboxRow) -> str:
    if row.status == OutboxStatus.SENT:
        return (f"outbox row {row.id} was already sent at {row.sent_at:%Y-%m-%d %H:%M:%S} UTC; "
                f"not sending it twice")
    if row.status == OutboxStatus.MERGED:
        return f"outbox row {row.id} went out in digest row {row.merged_into}; retry that one"
    return (f"outbox row {row.id} is {row.status}: it is still on its way (only dead or uncertain "
            f"rows can be retried)")
