"""Retention: what a prune deletes and what it never does, through the poll path (dedupe must
hold after a prune) and row by row against the store's rules, on SQLite and PostgreSQL."""

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from conftest import INCIDENT, ORDINARY
from monitor.alerts.deliver import dispatch
from monitor.cli import app
from monitor.daemon.scheduler import Daemon
from monitor.errors import ConfigError
from monitor.pipeline import poll
from monitor.retention import cutoffs, prune_database
from monitor.settings.config import load_config
from monitor.store import Feed, IncidentRow, ItemRow, MatchRow, OutboxRow, open_database
from monitor.store.tables import FeedEntries
from monitor.store.retention import Cutoffs, prune
from peers import Route, rss

PROFILE = "iraq-syria-militia-attacks"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=1000)
CUTOFFS = Cutoffs(items_before=NOW - timedelta(days=90), matches_before=NOW - timedelta(days=730),
                  closed_before=NOW - timedelta(days=15))
TABLES = (ItemRow, MatchRow, IncidentRow, OutboxRow)
MARKETS = {"title": "Markets close higher", "text": "Shares rose on Tuesday."}


def _entries(published, *entries):
    return [dict(entry, guid=f"g{i}", link=f"https://news.example/{i}", published=published)
            for i, entry in enumerate(entries)]


def _count(engine, table) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def _counts(engine) -> dict[str, int]:
    return {table.__tablename__: _count(engine, table) for table in TABLES}


# ---- the watchlist setting -----------------------------------------------------------------

def _config(tmp_path, text_: str):
    (tmp_path / "profiles").mkdir(exist_ok=True)
    path = tmp_path / "monitor.yaml"
    path.write_text(f"profiles_dir: profiles\n{text_}")
    return path


def test_retention_defaults_never_and_years(tmp_path):
    assert load_config(_config(tmp_path, "")).retention.items == timedelta(days=90)
    assert load_config(_config(tmp_path, "")).retention.matches == timedelta(days=730)
    retention = load_config(_config(tmp_path, "retention: {items: never, matches: 2y}")).retention
    assert retention.items is None and retention.matches == timedelta(days=730)
    assert load_config(_config(tmp_path, "retention: {items: 2w}")).retention.items == timedelta(days=14)


@pytest.mark.parametrize("setting, problem", [
    ("retention: {items: 90}", "retention.items: 90 is shorter than 1d"),
    ("retention:\n  matches: 5x", ":3: retention.matches: '5x' is not a duration"),
    ("retention: {item: 90d}", "retention.item: unknown field"),
])
def test_a_bad_retention_says_where(tmp_path, setting, problem):
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, setting))
    assert problem in str(error.value)


def test_rows_are_kept_longer_than_max_item_age(tmp_path):
    """A deleted item a feed brings again is new again: only past max_item_age is it stale for sure."""
    config = load_config(_config(tmp_path, "max_item_age: 200d\nretention: {items: 30d, matches: never}"))
    limits = cutoffs(config, NOW)
    assert limits.items_before == NOW - timedelta(days=201) and limits.matches_before is None
    assert limits.closed_before < NOW - timedelta(days=200)


# ---- through the poll path ------------------------------------------------------------------

@pytest.fixture
def watched(feed_server, json_endpoint, write_watchlist, make_runtime, clock):
    """A feed with an incident report and an ordinary item, paging a JSON endpoint."""
    feed_server.routes["/a.xml"] = Route(rss(_entries(clock.now - timedelta(hours=1), INCIDENT, ORDINARY)))
    path = write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")}],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           routes=[{"profile": PROFILE, "channels": ["hook"]}],
                           first_poll_alerts=True, max_item_age="7d")
    return make_runtime(path)


def _poll_and_send(runtime):
    outcomes = poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    return outcomes


def test_a_pruned_report_its_feed_still_serves_does_not_page_again(watched, feed_server, json_endpoint,
                                                                    clock):
    runtime = watched
    _poll_and_send(runtime)
    assert len(json_endpoint.posts) == 1
    clock.advance(days=1)
    feed_server.routes["/a.xml"] = Route(rss(_entries(clock.now, INCIDENT, ORDINARY, MARKETS)))
    _poll_and_send(runtime)  # a newer item: the report is not the feed's newest (kept anyway)

    # Three years on, the feed still carries the report, dated anew (as feeds that stamp every
    # entry with the build time do; the same weekday, so its "on Wednesday" is yesterday again):
    # its match, incident and sent alert go, the item stays.
    clock.advance(days=156 * 7 - 1)
    feed_server.routes["/a.xml"] = Route(rss(_entries(clock.now, INCIDENT, ORDINARY, MARKETS)))
    pruned = prune_database(runtime.config, runtime.engine, clock.now)

    [outcome] = _poll_and_send(runtime)
    assert len(json_endpoint.posts) == 1  # had the item gone, the report would be new and page again
    assert outcome.new_items == 0
    assert (pruned.matches, pruned.incidents, pruned.outbox, pruned.items) == (1, 1, 1, 0)


def test_items_a_feed_has_dropped_go_and_a_dry_run_only_counts_them(watched, feed_server, clock):
    runtime = watched
    _poll_and_send(runtime)
    clock.advance(days=100)
    feed_server.routes["/a.xml"] = Route(rss([{"title": "Markets close higher", "guid": "g9",
                                               "published": clock.now}]))
    poll(runtime)
    assert _count(runtime.engine, ItemRow) == 3

    dry = prune_database(runtime.config, runtime.engine, clock.now, dry_run=True)
    assert dry.items == 1 and _count(runtime.engine, ItemRow) == 3  # the ordinary item, not yet
    real = prune_database(runtime.config, runtime.engine, clock.now)
    assert real == dry
    with Session(runtime.engine) as session:
        titles = sorted(session.exec(select(ItemRow.title)))
    assert titles == ["Markets close higher", INCIDENT["title"]]  # the match keeps its item 2y


def _vacuums(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(text("SELECT relname, vacuum_count FROM pg_stat_user_tables")).all())


def test_where_the_server_runs_no_autovacuum_a_prune_vacuums_the_tables(watched, feed_server, clock, caplog):
    """Else the space of what retention deletes is never used again (and every poll leaves an old
    version of each feed's row): the tables grow however much is pruned."""
    runtime = watched
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite reuses a deleted row's space by itself")
    with runtime.engine.connect() as connection:
        unattended = not connection.execute(text("SELECT current_setting('autovacuum') = 'on' "
                                                 "AND current_setting('track_counts') = 'on'")).scalar()
    _poll_and_send(runtime)
    clock.advance(days=100)
    poll(runtime)
    before = _vacuums(runtime.engine)

    prune_database(runtime.config, runtime.engine, clock.now, dry_run=True)
    assert _vacuums(runtime.engine) == before  # a dry run changes nothing
    with caplog.at_level(logging.INFO, logger="monitor.retention"):
        prune_database(runtime.config, runtime.engine, clock.now)

    after = _vacuums(runtime.engine)
    vacuumed = sorted(table for table, count in after.items() if count > before.get(table, 0))
    if unattended:
        assert vacuumed == sorted(["feed", "feed_entries", "item", "match", "incident", "outbox",
                                   "ops_alert"])
        assert ("vacuumed feed, feed_entries, incident, item, match, ops_alert, outbox (the database server "
                "runs no autovacuum)") in caplog.text
    else:  # the server's own autovacuum does it
        assert vacuumed == [] and "vacuumed" not in caplog.text


def test_a_database_user_who_owns_no_table_vacuums_none_and_says_nothing(database_url):
    """VACUUM needs the table's owner: another user's would skip every table with a notice."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from sqlalchemy.engine import make_url
    from monitor.store.database import vacuum_if_unattended
    owner = open_database(database_url)
    role = f"monitor_reader_{uuid.uuid4().hex[:12]}"
    with owner.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    reader = open_database(make_url(database_url).set(username=role).render_as_string(hide_password=False),
                           migrate=False)
    try:
        assert vacuum_if_unattended(reader) == []
    finally:
        reader.dispose()
        with owner.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


def test_the_daemon_prunes_and_survives_a_failing_prune(watched, feed_server, clock, caplog):
    runtime = watched
    _poll_and_send(runtime)
    clock.advance(days=100)
    feed_server.routes["/a.xml"] = Route(rss([{"title": "Markets close higher", "guid": "g9",
                                               "published": clock.now}]))
    poll(runtime)
    daemon = Daemon(runtime)
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        daemon.prune()
    assert "retention: deleted 1 items, 0 matches, 0 incidents, 0 outbox rows" in caplog.text

    with runtime.engine.begin() as connection:
        connection.execute(text("ALTER TABLE outbox RENAME TO outbox_gone"))
    daemon.prune()  # logged, not raised: the next day's run tries again
    assert "retention prune failed" in caplog.text


def test_prune_command_prints_per_table(write_watchlist):
    path = write_watchlist(max_item_age="7d")
    runner = CliRunner()
    result = runner.invoke(app, ["prune", "--dry-run", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "would delete:" in result.output and "items" in result.output and "outbox" in result.output
    assert "retention: items 90d, matches 730d (database " in result.output
    result = runner.invoke(app, ["prune", "--json", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ('{"dry_run": false, "items": 0, "matches": 0, "incidents": 0, '
                                     '"outbox": 0}')  # the log (a VACUUM's, on PostgreSQL) goes to stderr


# ---- the store's rules, row by row ---------------------------------------------------------

class World:
    """Rows written directly, with the times and states a test needs."""

    def __init__(self, engine):
        self.engine = engine
        self.feeds: list[int] = []

    def _add(self, row):
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
            return row

    def feed(self, name=None, in_feed=None) -> Feed:
        name = name or f"feed{len(self.feeds)}"
        feed = self._add(Feed(name=name, url=f"https://{name}.example/rss", next_due_at=NOW))
        if in_feed is not None:
            self._add(FeedEntries(feed_id=feed.id, marks=in_feed))
        self.feeds.append(feed.id)
        return feed

    def item(self, feed, key, at=OLD, link=None) -> ItemRow:
        return self._add(ItemRow(feed_id=feed.id, key=key, url=link, title=key, text="", fetched_at=at))

    def incident(self, at=OLD) -> IncidentRow:
        return self._add(IncidentRow(profile=PROFILE, title="attack", opened_at=at, last_at=at))

    def match(self, item, incident=None, role="opened", at=OLD, profile=PROFILE) -> MatchRow:
        return self._add(MatchRow(item_id=item.id, profile=profile, label="incident", score=1.0,
                                  created_at=at, incident_id=incident.id if incident else None, role=role))

    def outbox(self, match=None, status="sent", at=OLD, merged_into=None, channel="hook") -> OutboxRow:
        return self._add(OutboxRow(match_id=match.id if match else None, channel=channel, status=status,
                                   next_attempt_at=at, title="t", body="b", created_at=at,
                                   merged_into=merged_into.id if merged_into else None))

    def newest_items(self):
        """Each feed's newest item is never pruned: give every feed a recent one, last."""
        for feed_id in self.feeds:
            self._add(ItemRow(feed_id=feed_id, key="newest", title="newest", text="", fetched_at=NOW))

    def exists(self, row) -> bool:
        with Session(self.engine) as session:
            return session.get(type(row), row.id) is not None


@pytest.fixture
def world(database_url):
    engine = open_database(database_url)
    yield World(engine)
    engine.dispose()


def _paged(world, status="sent", at=OLD):
    """A feed's report that opened an incident and paged: (feed, item, incident, match, outbox row)."""
    feed = world.feed()
    item = world.item(feed, "report")
    incident = world.incident(at)
    match = world.match(item, incident, at=at)
    return feed, item, incident, match, world.outbox(match, status, at)


def test_an_old_closed_incident_goes_whole(world):
    _, item, incident, match, row = _paged(world)
    world.newest_items()
    pruned = prune(world.engine, CUTOFFS)
    assert (pruned.items, pruned.matches, pruned.incidents, pruned.outbox) == (1, 1, 1, 1)
    assert not any(world.exists(r) for r in (item, incident, match, row))


@pytest.mark.parametrize("status", ["pending", "held", "claimed", "sending", "dead", "uncertain"])
def test_nothing_an_outbox_row_still_needs_goes(world, status):
    _, item, incident, match, row = _paged(world, status)
    world.newest_items()
    assert prune(world.engine, CUTOFFS).total() == 0
    assert all(world.exists(r) for r in (item, incident, match, row))


def test_an_alert_merged_into_an_open_digest_stays_until_the_digest_is_sent(world):
    _, item, incident, match, row = _paged(world, "merged")
    digest = world.outbox(status="dead")
    with Session(world.engine) as session:
        session.get(OutboxRow, row.id).merged_into = digest.id
        session.commit()
    world.newest_items()
    assert prune(world.engine, CUTOFFS).total() == 0
    with Session(world.engine) as session:
        session.get(OutboxRow, digest.id).status = "sent"
        session.commit()
    assert prune(world.engine, CUTOFFS).incidents == 1 and world.exists(digest)  # its members first
    assert prune(world.engine, CUTOFFS).outbox == 1 and not world.exists(digest)


def test_an_incident_with_a_recent_report_stays_whole(world):
    _, _, incident, _, _ = _paged(world)
    feed = world.feed("b")
    world.match(world.item(feed, "later"), incident, role="joined", at=NOW - timedelta(days=10))
    world.newest_items()
    assert prune(world.engine, CUTOFFS).incidents == 0 and world.exists(incident)


def test_a_recent_incident_stays_even_when_the_cutoff_says_old(world):
    _, _, incident, _, _ = _paged(world)
    world.newest_items()
    still_open = Cutoffs(CUTOFFS.items_before, CUTOFFS.matches_before, closed_before=OLD - timedelta(days=1))
    assert prune(world.engine, still_open).total() == 0 and world.exists(incident)


def test_matches_awaiting_grouping_and_items_another_match_holds_stay(world):
    feed = world.feed()
    waiting = world.match(world.item(feed, "waiting"), role=None)
    shared = world.item(feed, "two profiles")
    related = world.match(shared, role="alone")
    world.match(shared, role="alone", profile="other", at=NOW)
    world.outbox(related)
    world.newest_items()
    pruned = prune(world.engine, CUTOFFS)
    assert (pruned.matches, pruned.outbox, pruned.items) == (1, 1, 0)
    assert world.exists(waiting) and world.exists(shared) and not world.exists(related)


def test_items_a_feed_serves_and_each_feeds_newest_stay(world):
    from monitor.store.retention import entry_marks
    feed = world.feed("a", in_feed=entry_marks([("served", None, "Served")]))
    other = world.feed("b", in_feed=entry_marks([("b-key", "https://news.example/linked", "Linked")]))
    served = world.item(feed, "served")
    linked = world.item(feed, "gone from a", link="https://news.example/linked")  # b serves its link
    gone = world.item(feed, "gone")
    recent = world.item(feed, "recent", at=NOW - timedelta(days=10))
    newest_of_b = world.item(other, "b-old")
    pruned = prune(world.engine, CUTOFFS)
    assert pruned.items == 1 and not world.exists(gone)
    assert all(world.exists(r) for r in (served, linked, recent, newest_of_b))


def test_never_keeps_everything_and_batches_change_nothing(world, database_url):
    for status in ("sent", "sent", "dead"):
        _paged(world, status)
    for number in range(5):
        world.item(world.feed(f"f{number}"), "old")
    world.newest_items()
    assert prune(world.engine, Cutoffs(None, None, CUTOFFS.closed_before)).total() == 0
    before = _counts(world.engine)
    dry = prune(world.engine, CUTOFFS, dry_run=True, batch=1)
    assert _counts(world.engine) == before
    assert prune(world.engine, CUTOFFS, batch=2) == dry
    assert (dry.incidents, dry.matches, dry.outbox, dry.items) == (2, 2, 2, 7)
