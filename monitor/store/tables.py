"""Tables. Times are aware UTC datetimes (SQLModel stores them as UTC on SQLite too)."""

from datetime import datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlmodel import Field, SQLModel


class Feed(SQLModel, table=True):
    """A watched feed and its fetch state: conditional-GET validators, schedule, health."""

    __tablename__ = "feed"
    __table_args__ = (Index("ix_feed_watched_due", "watched", "next_due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    url: str = Field(max_length=2000)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    next_due_at: datetime = Field(index=True)
    error_count: int = 0
    last_status: str | None = Field(default=None, max_length=40)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    items_seen: int = 0
    claimed_by: str | None = Field(default=None, max_length=200)  # the worker polling it now
    due_before_claim: datetime | None = None  # next_due_at before the claim, restored on release
    watched: bool = Field(default=True, sa_column_kwargs={"server_default": sa_true()})  # in the watchlist


class FeedEntries(SQLModel, table=True):
    """Short digests of the entries a feed served at its last poll with entries: of keys and links
    (`marks`, retention.entry_marks), so that retention never deletes items still in a feed, or
    they would come back as new; of keys with titles (`titled`, retention.titled_marks), so that a
    poll looks up only the entries not served then. Apart from the feed row, which every claim and
    304 rewrites (on SQLite an UPDATE rewrites the whole row)."""

    __tablename__ = "feed_entries"
    feed_id: int = Field(foreign_key="feed.id", primary_key=True)
    marks: dict = Field(sa_column=Column(JSON, nullable=False))
    titled: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class ItemRow(SQLModel, table=True):
    """A normalised feed entry, stored once per feed and key."""

    __tablename__ = "item"
    __table_args__ = (UniqueConstraint("feed_id", "key", name="uq_item_feed_key"),
                      Index("ix_item_feed_newest", "feed_id", "id"))
    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feed.id", index=True)
    key: str = Field(max_length=250)
    url: str | None = Field(default=None, max_length=2000, index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    published_at: datetime | None = None
    fetched_at: datetime


class IncidentRow(SQLModel, table=True):
    """Reports of one real-world event, grouped (monitor/incidents.py). The first one alerted."""

    __tablename__ = "incident"
    __table_args__ = (Index("ix_incident_profile_opened", "profile", "opened_at"),)
    id: int | None = Field(default=None, primary_key=True)
    profile: str = Field(max_length=200, index=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    opened_at: datetime = Field(index=True)
    last_at: datetime = Field(index=True)
    sources: int = 1
    updates: int = 0
    words: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    entities: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    facts: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    attack_from: datetime | None = None  # the span the attack happened in, as its reports tell
    attack_to: datetime | None = None
    attack_exact: bool = False  # a report named the day


class MatchRow(SQLModel, table=True):
    """An item's verdict for one profile, kept when the class is not `none`."""

    __tablename__ = "match"
    __table_args__ = (UniqueConstraint("item_id", "profile", name="uq_match_item_profile"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    profile: str = Field(max_length=200)
    label: str = Field(max_length=20)
    score: float
    rule: str | None = Field(default=None, max_length=200)
    evidence: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    role: str | None = Field(default=None, max_length=20, index=True)  # store.incidents.Role; NULL: to group
    layer: str = Field(default="rules", max_length=20)  # which layer decided the class
    headline: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                  server_default="{}"))  # its evidence


class OutboxRow(SQLModel, table=True):
    """One message for one channel: an alert written with its match, or a digest merging held rows.

    Status: pending -> claimed -> sending -> sent | pending (retry) | dead; pending -> held (quiet
    hours, digest route, rate limit) -> merged into a digest row; `sending` found after a crash ->
    uncertain (never resent by itself)."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("match_id", "channel", name="uq_outbox_match_channel"),
                      Index("ix_outbox_status_due", "status", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    match_id: int | None = Field(default=None, foreign_key="match.id", index=True)
    channel: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    sent_at: datetime | None = None
    kind: str = Field(default="alert", max_length=20)  # alert, update, digest, merged
    format: str = Field(default="text", max_length=10)  # text, markdown, html
    hold: str | None = Field(default=None, max_length=300)  # quiet, rate, digest:<key>
    claimed_by: str | None = Field(default=None, max_length=200)  # host:pid:token of the dispatcher
    claimed_at: datetime | None = None
    entries: list | None = Field(default=None, sa_column=Column(JSON))  # a digest's alerts
    merged_into: int | None = Field(default=None, foreign_key="outbox.id")


class OpsAlertRow(SQLModel, table=True):
    """A condition of a feed being watched (`reported_at` empty) or reported to the admin."""

    __tablename__ = "ops_alert"
    feed: str = Field(primary_key=True, max_length=200)
    kind: str = Field(primary_key=True, max_length=20)  # failing, silent
    since: datetime  # failing: first error seen; silent: the newest item then
    reported_at: datetime | None = None
