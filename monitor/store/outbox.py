"""The outbox state machine: pending -> claimed -> sending -> sent | retry | dead, holds and
digests, one short transaction each (see monitor/store/feeds.py for the claiming rules)."""

import os
import socket
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from .database import session_scope
from .tables import Feed, ItemRow, MatchRow, OutboxRow

CLAIM_OUTBOX_LEASE = timedelta(minutes=1)  # a claimed row not yet sending: nothing went out


SEND_LEASE = timedelta(minutes=5)  # longer than any channel call takes


_PROCESS = uuid.uuid4().hex[:8]


def worker_id() -> str:
    """Who claims outbox rows: host, process and a token unique to this dispatch run."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS}:{uuid.uuid4().hex[:8]}"


def _gone(claimed_by: str | None) -> bool:
    """True when the claimer was a process on this host that no longer runs (killed, restarted)."""
    try:
        host, pid, process, _ = (claimed_by or "").split(":")
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return process != _PROCESS  # an earlier process that had our pid (containers: pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_outbox(engine: Engine, now: datetime) -> dict[str, int]:
    """Rows left by a dispatcher that died: `claimed` (not sent) go back to `pending`; `sending`
    (the channel may have received it) become `uncertain`, for an operator, never resent blindly.
    A row counts as left when its claimer's process is gone from this host, or past the lease."""
    counts = {"pending": 0, "uncertain": 0}
    with session_scope(engine) as session:
        rows = session.exec(select(OutboxRow).where(col(OutboxRow.status).in_(("claimed", "sending")))
                            .with_for_update(skip_locked=True)).all()
        for row in rows:
            lease = CLAIM_OUTBOX_LEASE if row.status == "claimed" else SEND_LEASE
            if not (_gone(row.claimed_by) or row.claimed_at < now - lease):
                continue
            if row.status == "claimed":
                row.status, row.claimed_by = "pending", None
            else:
                row.status = "uncertain"
                row.last_error = "process stopped while sending; the channel may have received it"
            counts[row.status] += 1
            session.add(row)
    return counts


def hold_outbox(engine: Engine, now: datetime,
                decide: Callable[[OutboxRow, MatchRow | None], tuple[str, datetime | None] | None]) -> int:
    """Hold due pending rows that policy says must wait (quiet hours, digest route):
    `decide(row, match)` returns (hold, until) or None to let the row go."""
    held = 0
    with session_scope(engine) as session:
        query = (select(OutboxRow, MatchRow).join(MatchRow, OutboxRow.match_id == MatchRow.id, isouter=True)
                 .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
                 .with_for_update(skip_locked=True, of=OutboxRow))
        for row, match in session.exec(query).all():
            decision = decide(row, match)
            if decision:
                row.status, row.hold = "held", decision[0]
                row.next_attempt_at = decision[1] or row.next_attempt_at
                session.add(row)
                held += 1
    return held


def claim_outbox(engine: Engine, now: datetime, worker: str, rate_limits: dict[str, tuple[int, timedelta]],
                 limit: int = 10, row_ids: Iterable[int] | None = None) -> list[OutboxRow]:
    """Claim due pending rows for `worker` (status `claimed`; nothing sent yet). A channel over its
    rate limit gets its rows held until the period allows, to be merged into one message then."""
    with session_scope(engine) as session:
        query = select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
        if row_ids is not None:
            query = query.where(col(OutboxRow.id).in_(list(row_ids)))
        rows = session.exec(query.order_by(OutboxRow.id).limit(limit)
                            .with_for_update(skip_locked=True)).all()
        budgets = {name: count - _used(session, name, now - per)
                   for name, (count, per) in rate_limits.items()}
        for row in rows:
            if row.channel in budgets and budgets[row.channel] <= 0:
                row.status, row.hold = "held", "rate"
                row.next_attempt_at = _window_free(session, row.channel, *rate_limits[row.channel], now)
            else:
                row.status, row.claimed_by, row.claimed_at = "claimed", worker, now
                if row.channel in budgets:
                    budgets[row.channel] -= 1
            session.add(row)
        return [row for row in rows if row.status == "claimed"]


_COUNTED = ("claimed", "sending", "sent", "uncertain")


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
            OutboxRow.id == row_id, OutboxRow.status == "claimed", OutboxRow.claimed_by == worker)
            .values(status="sending", attempts=OutboxRow.attempts + 1, claimed_at=now))
        return result.rowcount == 1


def finish_outbox(engine: Engine, row_id: int, worker: str, error: str | None, now: datetime,
                  max_attempts: int, retry_base: timedelta, retry_max: timedelta) -> str:
    """Record a send: sent, back to pending with backoff, or dead after the last attempt."""
    with session_scope(engine) as session:
        row = session.get(OutboxRow, row_id)
        if row.claimed_by != worker or row.status not in ("sending", "uncertain"):
            return row.status  # another dispatcher took over; it records its own result
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
        elif row.attempts >= max_attempts:
            row.status, row.last_error = "dead", error
        else:
            row.status, row.last_error = "pending", error
            row.next_attempt_at = now + min(retry_base * 2 ** (row.attempts - 1), retry_max)
        session.add(row)
        return row.status


def release_claims(engine: Engine, worker: str) -> int:
    """Give back rows this worker claimed but did not start sending (nothing was sent)."""
    with session_scope(engine) as session:
        return session.execute(update(OutboxRow).where(
            OutboxRow.status == "claimed", OutboxRow.claimed_by == worker)
            .values(status="pending", claimed_by=None)).rowcount


Render = Callable[[str, str, list[dict]], tuple[str, str, str, str]]


def release_held(engine: Engine, now: datetime, render: Render, digest_keys: set[str],
                 digest: str | None = None) -> list[int]:
    """Held rows whose wait is over go out: per channel and reason, several become one digest row
    (`render(channel, hold, entries)` -> kind, format, title, body) and one goes out as itself.
    `digest` releases the rows held for that digest route; rows held for a digest route that is
    no longer in the watchlist (`digest_keys`) go back to pending. Returns the new rows' ids."""
    with session_scope(engine) as session:
        due = or_(col(OutboxRow.hold).in_(("quiet", "rate")) & (OutboxRow.next_attempt_at <= now),
                  OutboxRow.hold == digest, col(OutboxRow.hold).not_in(sorted(digest_keys) + ["quiet", "rate"]))
        rows = session.exec(select(OutboxRow).where(OutboxRow.status == "held", due)
                            .order_by(OutboxRow.id).with_for_update(skip_locked=True)).all()
        groups: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in rows:
            groups.setdefault((row.channel, row.hold), []).append(row)
        created = []
        for (channel, hold), members in groups.items():
            orphan = hold not in ("quiet", "rate") and hold != digest
            if orphan or (len(members) == 1 and hold in ("quiet", "rate")):
                for row in members:
                    row.status, row.hold, row.next_attempt_at = "pending", None, now
                    session.add(row)
                continue
            created.append(_merge(session, channel, hold, members, now, render))
        return created


def _merge(session, channel: str, hold: str, members: list[OutboxRow], now: datetime,
           render: Render) -> int:
    entries = [entry for row in members for entry in _entries(session, row)]
    kind, body_format, title, body = render(channel, hold, entries)
    merged = OutboxRow(channel=channel, kind=kind, format=body_format, title=title, body=body,
                       entries=entries, next_attempt_at=now, created_at=now)
    session.add(merged)
    session.flush()
    for row in members:
        row.status, row.merged_into = "merged", merged.id
        session.add(row)
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


OUTBOX_OPEN = ("pending", "held", "claimed", "sending", "dead", "uncertain")


OUTBOX_STATUSES = OUTBOX_OPEN + ("sent", "merged")


def list_outbox(engine: Engine, statuses: Iterable[str] | None = None) -> list[OutboxRow]:
    """Outbox rows, oldest first; all of them, or those with one of `statuses`."""
    with session_scope(engine) as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if statuses is not None:
            query = query.where(col(OutboxRow.status).in_(list(statuses)))
        return list(session.exec(query))


def retry_outbox(engine: Engine, row_id: int, now: datetime) -> OutboxRow:
    """Put one dead or uncertain row back to pending (attempts reset). ValueError says why not."""
    with session_scope(engine) as session:
        row = session.get(OutboxRow, row_id)
        if row is None:
            raise ValueError(f"no outbox row with id {row_id}")
        if row.status not in ("dead", "uncertain"):
            raise ValueError(_why_not_retried(row))
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now
        row.claimed_by, row.hold = None, None
        session.add(row)
        return row


def _why_not_retried(row: OutboxRow) -> str:
    if row.status == "sent":
        return (f"outbox row {row.id} was already sent at {row.sent_at:%Y-%m-%d %H:%M:%S} UTC; "
                f"not sending it twice")
    if row.status == "merged":
        return f"outbox row {row.id} went out in digest row {row.merged_into}; retry that one"
    return (f"outbox row {row.id} is {row.status}: it is still on its way (only dead or uncertain "
            f"rows can be retried)")
