"""The store at the size of a large watchlist: no statement binds one parameter per feed, feeds
leaving the watchlist are no longer claimed or checked, and the migrated schema is the model's."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import ORDINARY, Clock
from peers import Route, rss
from sqlalchemy import create_engine, event, insert, inspect, text, update
from sqlmodel import SQLModel, select

from monitor.daemon.health import feed_health
from monitor.model import Item
from monitor.pipeline import ANALYZE_AFTER, ANALYZE_FIRST, Runtime, poll
from monitor.store import open_database
from monitor.store.database import session_scope
from monitor.store.feeds import claim_feeds, release_feeds, sync_feeds
from monitor.store.items import _LOOKUPS
from monitor.store.retention import titled_marks
from monitor.store.tables import Feed, ItemRow


def test_migrations_build_the_schema_the_tables_describe(database_url):
    engine = open_database(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


class _Statements:
    """Every statement the engine runs, with its number of bound parameters."""

    def __init__(self, engine):
        self.seen: list[tuple[str, int]] = []
        self.texts: list[str] = []
        self.values: list = []  # every value bound to a SELECT, arrays (PostgreSQL) and JSON arrays
        # (SQLite) spread out
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, executemany):
        count = 0 if executemany or parameters is None else len(parameters)
        self.seen.append((statement.split()[0], count))
        self.texts.append(statement)
        if parameters and not executemany and statement.lstrip().upper().startswith("SELECT"):
            for value in (parameters.values() if isinstance(parameters, dict) else parameters):
                if isinstance(value, str) and value.startswith("["):
                    value = json.loads(value)
                self.values.extend(_flat(value) if isinstance(value, list) else [value])

    def most_parameters(self, verb: str) -> int:
        return max((count for kind, count in self.seen if kind == verb), default=0)


def _flat(values: list) -> list:
    """[[1, "a"], [2, "b"]] -> [1, "a", 2, "b"] (SQLite's (feed id, key) pairs)."""
    return [value for nested in values for value in (_flat(nested) if isinstance(nested, list) else [nested])]


def test_claiming_a_large_watchlist_binds_no_parameter_per_feed(database_url):
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [(f"feed-{n}", f"http://127.0.0.1:9/{n}.xml") for n in range(2000)], now)
    statements = _Statements(engine)
    claimed = claim_feeds(engine, None, now, due_only=True, worker="here:1")
    release_feeds(engine, "here:1")
    named = claim_feeds(engine, [f"feed-{n}" for n in range(0, 2000, 2)] + ["not-a-feed"], now,
                        due_only=True, worker="here:1")
    engine.dispose()
    assert len(claimed) == 2000
    assert sorted(c.state.name for c in named) == sorted(f"feed-{n}" for n in range(0, 2000, 2))
    assert statements.most_parameters("SELECT") < 10 and statements.most_parameters("UPDATE") < 10


def test_a_feed_removed_from_the_watchlist_is_not_claimed_or_checked_until_it_returns(database_url):
    engine, now = open_database(database_url), Clock()()
    feeds = [("a", "http://127.0.0.1:9/a.xml"), ("b", "http://127.0.0.1:9/b.xml")]
    sync_feeds(engine, feeds, now)
    sync_feeds(engine, feeds[:1], now)
    assert [c.state.name for c in claim_feeds(engine, None, now, due_only=False)] == ["a"]
    assert [h.name for h in feed_health(engine)] == ["a"]
    sync_feeds(engine, feeds, now + timedelta(hours=1))
    assert [h.name for h in feed_health(engine)] == ["a", "b"]
    engine.dispose()


def test_the_health_check_reads_each_feeds_newest_items_in_a_fixed_number_of_queries(database_url):
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [(f"feed-{n:03}", f"http://127.0.0.1:9/{n}.xml") for n in range(300)], now)
    with session_scope(engine) as session:
        session.execute(insert(ItemRow), [
            dict(feed_id=feed_id, key=f"{feed_id}-{n}", url=None, title="t", text="",
                 published_at=now - timedelta(hours=n), fetched_at=now - timedelta(hours=n))
            for feed_id in range(1, 301) for n in range(5)])
    statements = _Statements(engine)
    healths = feed_health(engine)
    engine.dispose()
    assert len(healths) == 300 and all(h.last_new_item_at == now for h in healths)
    assert all(h.usual_gap == timedelta(hours=1) for h in healths)
    assert len([kind for kind, _ in statements.seen if kind == "SELECT"]) <= 3


def test_many_stored_items_refresh_the_postgresql_statistics(database_url, write_watchlist, make_runtime):
    """Without autovacuum, PostgreSQL has no statistics for a table the monitor filled and plans a
    dedupe lookup as a scan of every item; the monitor runs ANALYZE itself: every ANALYZE_AFTER
    new rows, and sooner while the table is small, each time it has doubled."""
    if not database_url.startswith("postgresql"):
        return
    runtime = make_runtime(write_watchlist())
    _store_items(runtime.engine, 0, ANALYZE_FIRST)
    runtime.count_stored(ANALYZE_FIRST - 1)
    assert _estimated_rows(runtime.engine, "item") <= 0
    runtime.count_stored(1)
    assert _estimated_rows(runtime.engine, "item") == ANALYZE_FIRST
    _store_items(runtime.engine, ANALYZE_FIRST, 2 * ANALYZE_AFTER)
    runtime.count_stored(ANALYZE_FIRST)  # the table has doubled since
    assert _estimated_rows(runtime.engine, "item") == 2 * ANALYZE_AFTER
    _store_items(runtime.engine, 2 * ANALYZE_AFTER, 3 * ANALYZE_AFTER)
    runtime.count_stored(ANALYZE_AFTER - 1)
    assert _estimated_rows(runtime.engine, "item") == 2 * ANALYZE_AFTER
    runtime.count_stored(1)  # ANALYZE_AFTER since, though the table has not doubled
    assert _estimated_rows(runtime.engine, "item") == 3 * ANALYZE_AFTER


def test_a_large_watchlist_added_refreshes_the_statistics_and_a_database_away_is_only_logged(
        database_url, write_watchlist, make_runtime, caplog):
    """The feeds a watchlist sync adds count as new rows; a statistics refresh that cannot reach
    the database is logged and raises nothing (what was stored stays stored)."""
    if not database_url.startswith("postgresql"):
        return
    runtime = make_runtime(write_watchlist(feeds=[{"name": f"f{n}", "url": f"http://127.0.0.1:9/{n}.xml"}
                                                  for n in range(ANALYZE_FIRST)]))
    runtime.sync_watchlist(Clock()())
    assert _estimated_rows(runtime.engine, "feed") == ANALYZE_FIRST
    away = Runtime(runtime.config, create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    away.count_stored(ANALYZE_AFTER)
    away.count_stored(ANALYZE_AFTER)
    assert "could not refresh the database's table statistics" in caplog.text


def test_a_lookup_planned_on_an_empty_table_is_planned_again_once_items_are_stored(database_url, write_watchlist,
                                                                                   make_runtime):
    """The server keeps the plan of a prepared statement (psycopg prepares what a connection has
    run five times) until the table's statistics change: the dedupe lookup, planned when the item
    table was empty, scanned every stored item for each entry until ANALYZE_AFTER items were
    stored. A first poll's few hundred items now refresh the statistics, and the plan with them."""
    if not database_url.startswith("postgresql"):
        return
    runtime = make_runtime(write_watchlist())
    runtime.sync_watchlist(Clock()())
    split, by_json = (str(_LOOKUPS["postgresql", how, False]) for how in ("split", "json"))
    for number, name in enumerate(("feed_ids", "keys", "urls"), 1):
        split = split.replace(f":{name}", f"${number}")
    lookups = {"split": ("text, text, text", split, "'1', 'k1', 'http://x.example/1'"),
               "json": ("text", by_json.replace(":items", "$1"), """'[[1, "k1", "http://x.example/1"]]'""")}
    with runtime.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")  # as a poll's lookups run (read_scope)
        for how, (types, lookup, wanted) in lookups.items():
            connection.exec_driver_sql(f"PREPARE lookup_{how}({types}) AS {lookup}")
            for _ in range(6):  # the server's plan cache settles on one plan for all values
                connection.exec_driver_sql(f"EXECUTE lookup_{how}({wanted})").all()
        _store_items(runtime.engine, 0, ANALYZE_FIRST)
        runtime.count_stored(ANALYZE_FIRST)
        plans = [connection.exec_driver_sql(f"EXPLAIN EXECUTE lookup_{how}({values})").scalars().all()
                 for how, (_, _, values) in lookups.items()]
    for plan in map("\n".join, plans):
        assert "Seq Scan on item" not in plan and "Index Scan using uq_item_feed_key" in plan, plan


def test_the_server_plans_the_lookup_once_whatever_the_entries(database_url):
    """A statement psycopg has prepared is planned anew for each run while the server expects a
    plan made for the values to be cheaper than its generic one: the lookup, given its arrays,
    was planned for every feed (0.1 ms, as much as looking up a feed's entries). Lookups of 1 to
    3 entries (a poll's usual: a feed's few new ones) now run on one generic plan."""
    if not database_url.startswith("postgresql"):
        return
    from monitor.store.items import seen_items
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [("a", "http://127.0.0.1:9/a.xml")], now)
    _store_items(engine, 0, ANALYZE_FIRST)
    engine.dispose()  # the lookups, one after the other, then open one connection and take it each time
    for run in range(30):  # psycopg prepares the statement at its sixth run: 25 runs prepared
        seen_items(engine, 1, [Item("a", str(n), f"http://x.example/{n}", "t", "", None)
                               for n in range(1 + run % 3)])
    with engine.connect() as connection:
        plans = connection.execute(text("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                                        "WHERE statement LIKE '%string_to_array%'")).all()
    engine.dispose()
    # (generic, custom): the server plans the first five runs for their values, then compares
    [(generic, custom)] = plans
    assert custom <= 5 and generic >= 20, plans


def _store_items(engine, start: int, end: int) -> None:
    """Items as a feed's are, with a paragraph of text: a table of a few rows to the page would
    be read whole, index or not."""
    with session_scope(engine) as session:
        if session.get(Feed, 1) is None:
            session.add(Feed(id=1, name="a", url="http://127.0.0.1:9/a.xml", next_due_at=Clock()()))
            session.flush()
        session.execute(insert(ItemRow), [dict(feed_id=1, key=str(n), url=f"http://x.example/{n}", title="t",
                                               text="x" * 600, fetched_at=Clock()()) for n in range(start, end)])


def _estimated_rows(engine, table: str) -> float:
    with engine.connect() as connection:
        return connection.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar()


def test_a_limited_claim_leaves_the_rest_of_the_due_feeds_to_other_workers(database_url):
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [(f"feed-{n}", f"http://127.0.0.1:9/{n}.xml") for n in range(10)], now)
    with session_scope(engine) as session:  # feed-9 has waited longest, feed-0 the least
        for n in range(10):
            session.execute(update(Feed.__table__).where(Feed.__table__.c.name == f"feed-{n}")
                            .values(next_due_at=now - timedelta(minutes=n)))
    first = claim_feeds(engine, None, now, due_only=True, worker="one:1", limit=4)
    second = claim_feeds(engine, None, now, due_only=True, worker="two:2", limit=100)
    engine.dispose()
    assert [c.state.name for c in first] == ["feed-9", "feed-8", "feed-7", "feed-6"]
    assert len(second) == 6
    assert not {c.id for c in first} & {c.id for c in second}


def test_workers_claiming_at_the_same_moment_never_share_a_feed(database_url):
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [(f"feed-{n}", f"http://127.0.0.1:9/{n}.xml") for n in range(300)], now)
    start = threading.Barrier(4)

    def claim(worker: str) -> list[int]:
        start.wait()
        return [c.id for c in claim_feeds(engine, None, now, due_only=True, worker=worker, limit=100)]

    with ThreadPoolExecutor(4) as pool:
        claims = list(pool.map(claim, ["a:1", "b:2", "c:3", "d:4"]))
    engine.dispose()
    every = [feed_id for claimed in claims for feed_id in claimed]
    assert len(every) == len(set(every)) == 300


def test_feeds_that_bring_nothing_new_are_written_together(feed_server, write_watchlist, make_runtime):
    """Most polls of a large watchlist are 304s: their feeds' new state is written in a few
    statements for the whole poll, not a transaction per feed, and is the same as one by one."""
    names = [f"f{n:02}" for n in range(40)]
    for name in names:
        feed_server.routes[f"/{name}.xml"] = Route(rss([dict(ORDINARY, guid=name)]), etag=f'"{name}"')
    runtime = make_runtime(write_watchlist(feeds=[{"name": name, "url": feed_server.url(f"/{name}.xml")}
                                                  for name in names]))
    poll(runtime)
    statements = _Statements(runtime.engine)
    outcomes = poll(runtime)
    assert {o.status for o in outcomes} == {"not-modified"}
    assert len([verb for verb, _ in statements.seen if verb == "UPDATE"]) <= 3
    with session_scope(runtime.engine) as session:
        feeds = session.exec(select(Feed)).all()
    assert all(f.last_status == "not-modified" and f.claimed_by is None and f.etag == f'"{f.name}"'
               and f.next_due_at > runtime.clock() for f in feeds)


def test_a_feed_without_etag_looks_up_only_the_entries_its_last_poll_did_not_serve(
        feed_server, write_watchlist, make_runtime):
    """A feed that answers 200 every time (no ETag, no Last-Modified) with one new entry among 30:
    the store is asked about that one; the others are known from the feed row's digests."""
    entries = [dict(ORDINARY, guid=f"g{n}", title=f"{ORDINARY['title']} {n}",
                    link=f"https://news.example/{n}") for n in range(30)]
    feed_server.routes["/a.xml"] = Route(rss(entries))
    runtime = make_runtime(write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")}]))
    assert [o.new_items for o in poll(runtime)] == [30]
    fresh = dict(ORDINARY, guid="g30", title="Council backs the new bus lanes", link="https://news.example/30")
    feed_server.routes["/a.xml"] = Route(rss([fresh] + entries))
    statements = _Statements(runtime.engine)
    assert [o.new_items for o in poll(runtime)] == [1]
    keys_bound = [value for value in statements.values if isinstance(value, str) and value.startswith("id:g")]
    assert keys_bound == ["id:g30"], statements.values  # looked up: the new entry's key alone
    digest_reads = [text for text in statements.texts if "feed_entries" in text and text.startswith("SELECT")]
    assert digest_reads == []  # what the last poll served came with the claim (UPDATE ... RETURNING)
    statements = _Statements(runtime.engine)
    assert [o.new_items for o in poll(runtime)] == [0]
    lookups = [text for text in statements.texts if "UNION ALL" in text]
    assert lookups == []  # every entry served last time: no lookup at all
    with session_scope(runtime.engine) as session:
        assert len(session.exec(select(ItemRow)).all()) == 31


def test_a_feeds_first_poll_looks_up_its_links_alone(database_url):
    """A feed never polled has no digests and no items of its own (both are written with its first
    success): one statement, by link, which still finds a story another feed stored."""
    from monitor.model import Item
    from monitor.store.items import seen_items
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [("old", "http://127.0.0.1:9/old.xml"), ("new", "http://127.0.0.1:9/new.xml")], now)
    with session_scope(engine) as session:
        session.execute(insert(ItemRow), [dict(feed_id=1, key="k0", url="https://news.example/0", title="t",
                                               text="", fetched_at=now)])
    items = [Item("new", f"k{n}", f"https://news.example/{n}", "t", "", None) for n in range(3)]
    statements = _Statements(engine)
    seen = seen_items(engine, 2, items, first_poll=True)
    engine.dispose()
    # no as_of: the write re-checks every item, keys included (a moved feed has items of its own)
    assert (seen.keys, seen.urls, seen.as_of) == (frozenset(), {"https://news.example/0"}, None)
    assert len(statements.texts) == 1 and "feed_entries" not in statements.texts[0]
    assert not {"k0", "k1", "k2"} & set(statements.values)


def test_a_claim_tells_a_feed_with_no_digests_from_one_not_read(database_url):
    """The claim reads what each feed's last poll served: "" when nothing is stored, so the
    dedupe does not read it again; None is left for a feed no claim read."""
    from monitor.model import Item
    from monitor.store.items import seen_items
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [("a", "http://127.0.0.1:9/a.xml")], now)
    with session_scope(engine) as session:  # polled before digests were kept
        session.execute(update(Feed).values(last_success_at=now))
    [claim] = claim_feeds(engine, ["a"], now, due_only=False)
    statements = _Statements(engine)
    seen = seen_items(engine, claim.id, [Item("a", "k", "https://news.example/k", "t", "", None)],
                      claim.first_poll, claim.served)
    engine.dispose()
    assert (claim.first_poll, claim.served, seen.keys) == (False, "", frozenset())
    assert not any("feed_entries" in text for text in statements.texts)


def test_keys_and_links_that_need_quoting_are_found(database_url):
    """Keys and links go as text parameters: commas, braces, quotes, backslashes, the word NULL,
    an empty key and the separator itself are values like any other, found by this feed's key or
    by link from another."""
    from monitor.model import Item
    from monitor.store.items import SEPARATOR, seen_items
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [(name, f"http://127.0.0.1:9/{name}.xml") for name in ("odd", "other")], now)
    odd = ["a,b", "{x}", '"q"', "back\\slash", "NULL", "", "é ü 中", "tab\there", "[1, 2]", f"x{SEPARATOR}y"]
    with session_scope(engine) as session:
        session.execute(insert(ItemRow), [dict(feed_id=1, key=key, url=f"https://news.example/{key}",
                                               title="t", text="", fetched_at=now) for key in odd])
    items = [Item("odd", key, f"https://news.example/{key}", "t", "", None) for key in odd + ["new"]]
    own, others = seen_items(engine, 1, items), seen_items(engine, 2, items)
    # PostgreSQL: the keys go as one text split at a separator, unless a key holds it or is a lone ""
    split = seen_items(engine, 1, [item for item in items if SEPARATOR not in item.key])
    lone = [seen_items(engine, 1, [item]).keys for item in items if item.key in ("", "a,b")]
    engine.dispose()
    assert own.keys == set(odd) and own.urls == frozenset() and own.new(items) == items[-1:]
    assert others.keys == frozenset() and others.urls == {f"https://news.example/{key}" for key in odd}
    assert split.keys == set(odd[:-1]) and lone == [{"a,b"}, {""}]


def test_a_pooled_postgresql_connection_the_server_dropped_is_replaced(database_url, monkeypatch):
    """pool_pre_ping pinged at every checkout (a round trip per transaction); now a connection is
    pinged when it sat idle, and one the server dropped meanwhile (a restart) is replaced."""
    if not database_url.startswith("postgresql"):
        return
    from monitor.store import database
    engine = open_database(database_url, migrate=False)
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with open_database(database_url, migrate=False).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # as if it had sat idle for long
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    engine.dispose()


def test_a_pinged_postgresql_connection_serves_reads_writes_and_vacuum(database_url, monkeypatch):
    """The ping of a connection that sat idle left it in a transaction: a read (read_scope) or a
    VACUUM could then not switch it to autocommit, and failed."""
    if not database_url.startswith("postgresql"):
        return
    from monitor.store import database
    engine = open_database(database_url)
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # every checkout pings, as after a long idle
    with database.read_scope(engine) as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    sync_feeds(engine, [("desk", "http://127.0.0.1:9/desk.xml")], Clock()())
    assert len(database.vacuum_if_unattended(engine)) in (0, 7)  # autovacuum on or off: no error either way
    with database.read_scope(engine) as connection:
        assert connection.execute(text("SELECT count(*) FROM feed")).scalar() == 1
    engine.dispose()


def test_a_poll_after_the_pooled_connections_sat_idle_stores_what_is_new(
        database_url, feed_server, write_watchlist, make_runtime, monkeypatch):
    """The poll's lookups read on a pinged connection: the whole poll failed there (ProgrammingError),
    as in a daemon whose connections sit idle between ticks, until the ping ended its transaction."""
    if not database_url.startswith("postgresql"):
        return
    from monitor.store import database
    entries = [dict(ORDINARY, guid=f"g{n}", link=f"https://news.example/{n}", title=f"Story {n}")
               for n in range(3)]
    feed_server.routes["/a.xml"] = Route(rss(entries))
    runtime = make_runtime(write_watchlist(feeds=[{"name": "a", "url": feed_server.url("/a.xml")}]))
    poll(runtime)
    with runtime.engine.connect(), runtime.engine.connect():
        pass  # two pooled connections, as the daemon's threads leave them
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # as if they had sat idle since
    feed_server.routes["/a.xml"] = Route(rss(entries + [dict(entries[0], guid="g3", title="Story 3",
                                                             link="https://news.example/3")]))

    [outcome] = poll(runtime)

    assert (outcome.status, outcome.new_items) == ("ok", 1)


def test_a_lookup_of_more_entries_than_sqlite_binds_parameters_finds_them_all(database_url):
    """More keys and links than SQLite's 32,766 parameters: they are one parameter each way."""
    from monitor.model import Item
    from monitor.store.items import seen_items
    engine, now = open_database(database_url), Clock()()
    sync_feeds(engine, [("big", "http://127.0.0.1:9/big.xml")], now)
    count = 70_000
    with session_scope(engine) as session:
        session.execute(insert(ItemRow), [dict(feed_id=1, key=f"k{n}", url=f"https://news.example/{n}", title="t",
                                               text="", fetched_at=now) for n in range(count)])
    # even: this feed's keys; odd: new keys under links stored (found by link); then three new items
    items = [Item("big", f"k{n}" if n % 2 == 0 else f"new{n}", f"https://news.example/{n}", "t", "", None)
             for n in range(count + 3)]
    seen = seen_items(engine, 1, items)
    engine.dispose()
    assert seen.keys == {f"k{n}" for n in range(0, count, 2)}
    assert seen.urls == {f"https://news.example/{n}" for n in range(1, count, 2)}
    assert seen.new(items) == items[count:]
    assert seen.as_of == count


def test_upgrading_moves_each_feeds_digests_to_their_own_table(tmp_path):
    """0009: the digests a feed row kept (0008's feed.in_feed) move to feed_entries; the feeds,
    their items and the references between them stay as they were."""
    from monitor.store.database import _sqlite_pragmas, upgrade
    from monitor.store.tables import FeedEntries

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_pragmas)
    upgrade(engine, "0008")
    marks = {"keys": ["k1"], "links": ["l1"], "titled": ["t1"]}
    with engine.begin() as connection:
        for feed_id, digests in ((1, json.dumps(marks)), (2, None), (3, "null")):  # polled; never; JSON null
            connection.execute(text("INSERT INTO feed (id, name, url, next_due_at, error_count, items_seen, "
                                    "watched, in_feed) VALUES (:id, :name, 'https://x.example/rss', "
                                    "'2026-11-30 00:00:00', 0, 0, 1, :marks)"),
                               {"id": feed_id, "name": f"f{feed_id}", "marks": digests})
            connection.execute(text("INSERT INTO item (feed_id, key, title, text, fetched_at) VALUES "
                                    "(:id, 'k', 't', '', '2026-11-30 00:00:00')"), {"id": feed_id})
    engine.dispose()
    migrated = open_database(url)
    with session_scope(migrated) as session:
        assert [(row.feed_id, row.marks, row.titled) for row in session.exec(select(FeedEntries))] == \
            [(1, {"keys": ["k1"], "links": ["l1"]}, '["t1"]')]  # 0010 moves the titled marks out
        assert sorted(f.name for f in session.exec(select(Feed))) == ["f1", "f2", "f3"]
        assert sorted(i.feed_id for i in session.exec(select(ItemRow))) == [1, 2, 3]
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []


def test_upgrading_moves_the_titled_marks_to_a_text_column_the_claim_reads(database_url):
    """0010: the digests of keys with titles leave feed_entries.marks for a text column; a claim
    reads them as before, and a downgrade puts them back."""
    from monitor.store.database import upgrade
    from monitor.store.retention import entry_marks, served_again

    served = [("k1", "https://x.example/1", "First"), ("k2", None, "Second")]
    old_marks = dict(entry_marks(served), titled=json.loads(titled_marks(served)))
    engine = open_database(database_url, migrate=False)
    upgrade(engine, "0009")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO feed (id, name, url, next_due_at, error_count, items_seen, "
                                "watched) VALUES (1, 'f1', 'https://x.example/rss', '2026-11-30 00:00:00', "
                                "0, 0, true)"))
        connection.execute(text("INSERT INTO feed (id, name, url, next_due_at, error_count, items_seen, "
                                "watched) VALUES (2, 'f2', 'https://x.example/rss2', '2026-11-30 00:00:00', "
                                "0, 0, true)"))
        for feed_id, marks in ((1, old_marks), (2, entry_marks(served))):  # 2: written before titled marks
            connection.execute(text("INSERT INTO feed_entries (feed_id, marks) VALUES (:id, :marks)"),
                               {"id": feed_id, "marks": json.dumps(marks)})
    upgrade(engine)
    claim, unmarked = claim_feeds(engine, ["f1", "f2"], Clock()(), due_only=False)
    assert unmarked.served == ""
    entries = [Item("f1", key, link, title, "", None) for key, link, title in served]
    assert served_again(json.loads(claim.served), entries) == {"k1", "k2"}
    assert served_again(json.loads(claim.served), [Item("f1", "k1", None, "Changed", "", None)]) == set()
    assert _marks(engine) == [entry_marks(served), entry_marks(served)]
    _downgrade(engine, "0009")
    assert _marks(engine) == [old_marks, entry_marks(served)]
    with engine.connect() as connection:
        assert "titled" not in [column["name"] for column in inspect(connection).get_columns("feed_entries")]
    upgrade(engine)
    assert _marks(engine) == [entry_marks(served), entry_marks(served)]
    engine.dispose()


def _marks(engine) -> list:
    with engine.connect() as connection:
        return [_decoded(marks) for marks in
                connection.execute(text("SELECT marks FROM feed_entries ORDER BY feed_id")).scalars()]


def _downgrade(engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from monitor.store.database import MIGRATIONS

    settings = AlembicConfig()
    settings.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        settings.attributes["connection"] = connection
        command.downgrade(settings, revision)


def _decoded(value):
    """A JSON column read with a plain SELECT: psycopg decodes it, sqlite3 gives the text."""
    return json.loads(value) if isinstance(value, str) else value
