"""Each stage after the HTTP exchange, from plain data: planning a poll, writing it, grouping,
routing, rendering and writing the outbox. No feed server: the poll's items are built here."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from sqlalchemy import event
from sqlmodel import Session, select

from conftest import INCIDENT, INCIDENT_2, ORDINARY
from monitor.alerts.render import alert_message, message_for, outbox_messages
from monitor.alerts.routing import LOG_CHANNEL, route_channels
from monitor.model import FeedState, FetchResult, Item, Label, PollStatus, Role, Seen
from monitor.ingest.parse import Entry
from monitor.pipeline import NewItemWrites, SeenLookups, group_pending, plan_poll
from monitor.store import ItemRow, MatchRow, OutboxRow
from monitor.store.feeds import ClaimedFeed, claim_feeds, sync_feeds
from monitor.store.items import SeenQuery, apply_poll, apply_polls, seen_in_feeds, seen_items

PROFILE = "iraq-syria-militia-attacks"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _item(n: int, entry: dict, feed: str = "a", url: str | None = None) -> Item:
    return Item(feed, f"key-{n}", url or f"https://news.example/{n}", entry["title"], entry["text"],
                NOW - timedelta(hours=1))


def _claim(runtime, name: str = "a") -> ClaimedFeed:
    sync_feeds(runtime.engine, [(name, f"http://127.0.0.1:9/{name}.xml")], NOW)
    [claim] = claim_feeds(runtime.engine, [name], NOW, due_only=False)
    return claim


def _ok(name: str = "a") -> FetchResult:
    return FetchResult(name, 200, b"", '"v1"', None, "application/rss+xml", f"http://127.0.0.1:9/{name}.xml")


def _rows(runtime, table):
    with Session(runtime.engine) as session:
        return list(session.exec(select(table).order_by(table.id)))


def _runtime(write_watchlist, make_runtime, **settings):
    return make_runtime(write_watchlist(**settings))


def test_plan_poll_keeps_unseen_items_once_and_classifies_them(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime)
    claim = ClaimedFeed(7, FeedState("a", "http://127.0.0.1:9/a.xml"), first_poll=False)
    items = [_item(0, INCIDENT), _item(1, ORDINARY), _item(2, INCIDENT_2, url="https://news.example/0"),
             _item(3, ORDINARY), _item(1, ORDINARY)]
    seen = Seen(keys=frozenset({"key-3"}))

    plan = plan_poll(claim, _ok(), items, seen, runtime.scorers, NOW, timedelta(minutes=10),
                     hold_alerts=False)

    assert [s.item.key for s in plan.new_items] == ["key-0", "key-1"]  # seen key, same link, repeat
    assert [[v.label for v in s.verdicts] for s in plan.new_items] == [[Label.INCIDENT], []]
    assert (plan.feed_id, plan.status, plan.etag) == (7, PollStatus.OK, '"v1"')
    assert plan.next_due_at == NOW + timedelta(minutes=10) and not plan.hold_alerts


def test_apply_poll_writes_items_and_pending_matches_once(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime)
    claim = _claim(runtime)
    items = [_item(0, INCIDENT), _item(1, ORDINARY)]
    plan = plan_poll(claim, _ok(), items, seen_items(runtime.engine, claim.id, items), runtime.scorers,
                     NOW, timedelta(minutes=10), hold_alerts=False)

    assert apply_poll(runtime.engine, plan) == (2, 1)
    assert apply_poll(runtime.engine, plan) == (0, 0)  # stored meanwhile: skipped, not doubled
    assert seen_items(runtime.engine, claim.id, items).keys == {"key-0", "key-1"}
    assert len(_rows(runtime, ItemRow)) == 2
    [match] = _rows(runtime, MatchRow)
    assert (match.profile, match.label, match.role) == (PROFILE, "incident", None)


def test_a_back_catalogue_is_stored_but_never_grouped(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime)
    claim = _claim(runtime)
    plan = plan_poll(claim, _ok(), [_item(0, INCIDENT)], Seen(), runtime.scorers, NOW,
                     timedelta(minutes=10), hold_alerts=True)
    apply_poll(runtime.engine, plan)
    assert group_pending(runtime) == {}
    assert [m.role for m in _rows(runtime, MatchRow)] == [Role.STORED]
    assert _rows(runtime, OutboxRow) == []


def test_grouping_opens_one_incident_per_attack_and_writes_its_page_per_channel(write_watchlist,
                                                                               make_runtime):
    runtime = _runtime(write_watchlist, make_runtime,
                       channels=[{"name": "mail", "url": "mailto://u:p@127.0.0.1", "format": "html"},
                                 {"name": "chat", "url": "json://127.0.0.1:9/hook"}],
                       routes=[{"profile": PROFILE, "channels": ["mail", "chat"]}])
    again = {"title": "Rockets hit US base near Deir ez-Zor in Syria",
             "text": "Rockets struck the base housing US troops near Deir ez-Zor on Wednesday."}
    for name, entry in (("a", INCIDENT), ("b", again)):
        claim = _claim(runtime, name)
        n = len(_rows(runtime, ItemRow))
        plan = plan_poll(claim, _ok(name), [_item(n, entry, feed=name)], Seen(), runtime.scorers, NOW,
                         timedelta(minutes=10), hold_alerts=False)
        apply_poll(runtime.engine, plan)
    incident_reads = []
    event.listen(runtime.engine, "before_cursor_execute",
                 lambda _c, _k, sql, *_: incident_reads.append(sql) if "\nFROM incident \n" in sql else None)

    assert group_pending(runtime) == {"a": 2}
    assert [m.role for m in _rows(runtime, MatchRow)] == [Role.OPENED, Role.JOINED]
    assert len(incident_reads) == 1  # the second report joins the incident the first opened, unread
    mail, chat = _rows(runtime, OutboxRow)
    assert (mail.channel, mail.format, chat.channel, chat.format) == ("mail", "html", "chat", "text")
    assert mail.title == chat.title and INCIDENT["title"] in chat.title
    assert mail.body.lstrip().startswith("<") and not chat.body.lstrip().startswith("<")
    assert group_pending(runtime) == {}  # grouped once


def test_routing_sends_incidents_of_an_unrouted_profile_to_the_log_only(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime)
    [scorer] = runtime.scorers.values()
    incident = scorer.score(INCIDENT["title"], INCIDENT["text"])
    related = scorer.score("Iraqi militia vows to step up pressure on US troops",
                           "The Iran-backed group said it would continue operations against American "
                           "forces in Iraq and Syria.")
    assert (incident.label, related.label) == (Label.INCIDENT, Label.RELATED)
    assert route_channels(runtime.config, incident) == [LOG_CHANNEL]
    assert route_channels(runtime.config, related) == []


def test_what_a_report_sends_depends_on_what_grouping_made_of_it(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime)
    [scorer] = runtime.scorers.values()
    item = _item(0, INCIDENT)
    verdict = scorer.score(item.title, item.text)
    assert message_for(item, verdict, None) is None  # context about an earlier attack: no page
    message = alert_message(item, verdict)
    [rendered] = outbox_messages(runtime.config, message, [LOG_CHANNEL])
    assert (rendered.channel, rendered.kind, rendered.format) == (LOG_CHANNEL, "alert", "text")
    assert INCIDENT["title"] in rendered.title and "https://news.example/0" in rendered.body


def test_items_too_old_or_dated_ahead_are_stored_but_never_page(write_watchlist, make_runtime):
    runtime = _runtime(write_watchlist, make_runtime, max_item_age="7d")
    claim = _claim(runtime)
    old = Item("a", "old", "https://news.example/old", INCIDENT["title"], INCIDENT["text"],
               NOW - timedelta(days=8))
    ahead = Item("a", "ahead", "https://news.example/ahead", INCIDENT_2["title"], INCIDENT_2["text"],
                 NOW + timedelta(hours=2))
    fresh = _item(0, INCIDENT)
    plan = plan_poll(claim, _ok(), [old, ahead, fresh], Seen(), runtime.scorers, NOW,
                     timedelta(minutes=10), hold_alerts=False, max_item_age=runtime.config.max_item_age)
    assert [s.stale for s in plan.new_items] == [True, True, False]
    apply_poll(runtime.engine, plan)
    runtime.clock = lambda: NOW
    group_pending(runtime)
    assert [m.role for m in _rows(runtime, MatchRow)] == [Role.STORED, Role.STORED, Role.OPENED]
    assert len(_rows(runtime, OutboxRow)) == 1  # the fresh report's page only


def test_an_id_reused_for_another_story_is_logged_not_dropped_silently(feed_server, write_watchlist,
                                                                      make_runtime, caplog):
    from monitor.pipeline import poll
    from peers import Route, rss
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="g1", link="https://n.example/1")]))
    runtime = _runtime(write_watchlist, make_runtime,
                       feeds=[{"name": "a", "url": feed_server.url("/a.xml")}])
    poll(runtime)
    feed_server.routes["/a.xml"] = Route(rss([dict(ORDINARY, guid="g1", link="https://n.example/2")]))
    with caplog.at_level(logging.INFO, logger="monitor.poll"):
        [outcome] = poll(runtime)
    assert outcome.new_items == 0 and len(_rows(runtime, ItemRow)) == 1  # the first version stays
    assert any("came again under a stored id with another title" in r.getMessage()
               and ORDINARY["title"] in r.getMessage() for r in caplog.records)


def test_an_item_another_feed_stored_after_the_plan_was_read_is_skipped(write_watchlist, make_runtime):
    """The re-check at write time looks only at items stored since the plan's read: it must still
    find the same story stored meanwhile by another feed (another worker)."""
    runtime = _runtime(write_watchlist, make_runtime)
    a, b = _claim(runtime, "a"), _claim(runtime, "b")

    def plan(claim, items):
        return plan_poll(claim, _ok(claim.state.name), items, seen_items(runtime.engine, claim.id, items),
                         runtime.scorers, NOW, timedelta(minutes=10), hold_alerts=False)

    assert apply_poll(runtime.engine, plan(a, [_item(0, ORDINARY)])) == (1, 0)  # the table is not empty
    late = plan(b, [_item(1, INCIDENT, feed="b", url="https://news.example/same")])
    assert late.seen_as_of is not None
    assert apply_poll(runtime.engine, plan(a, [_item(2, INCIDENT, url="https://news.example/same")])) == (1, 1)
    assert apply_poll(runtime.engine, late) == (0, 0)
    assert len(_rows(runtime, MatchRow)) == 1


def test_the_write_rechecks_the_feeds_planned_before_other_writes_in_one_lookup(write_watchlist,
                                                                                   make_runtime):
    """Plans read before other writes landed are re-checked together: one lookup statement for
    all of them, which still finds each feed's key and any feed's link stored meanwhile."""
    runtime = _runtime(write_watchlist, make_runtime)
    first = _plan(runtime, "a", [_item(0, ORDINARY)])
    assert apply_poll(runtime.engine, first) == (1, 0)
    late_b = _plan(runtime, "b", [_item(1, ORDINARY, "b"), _item(2, INCIDENT, "b")])
    late_c = _plan(runtime, "c", [_item(3, ORDINARY, "c"), _item(4, INCIDENT_2, "c")])
    same_key = _item(1, ORDINARY, "b", url="https://news.example/b1")  # b's key-1, another link
    same_link = _item(5, ORDINARY, url=late_c.new_items[0].item.url)  # c's key-3's link, from feed a
    assert apply_poll(runtime.engine, _plan(runtime, "b", [same_key])) == (1, 0)
    assert apply_poll(runtime.engine, _plan(runtime, "a", [same_link])) == (1, 0)
    lookups = _lookup_statements(runtime.engine)
    assert apply_polls(runtime.engine, [late_b, late_c]) == [(1, 1), (1, 1)]
    assert len(lookups) == 1
    assert sorted((row.feed_id, row.key) for row in _rows(runtime, ItemRow)) == [
        (first.feed_id, "key-0"), (first.feed_id, "key-5"), (late_b.feed_id, "key-1"),
        (late_b.feed_id, "key-2"), (late_c.feed_id, "key-4")]


def _plan(runtime, name: str, items: list[Item]):
    claim = _claim(runtime, name)
    return plan_poll(claim, _ok(name), items, seen_items(runtime.engine, claim.id, items), runtime.scorers,
                     NOW, timedelta(minutes=10), hold_alerts=False)


def test_several_feeds_polls_are_stored_together_each_item_once(write_watchlist, make_runtime):
    """apply_polls: three feeds in one transaction; an item whose link a plan before it in the
    batch stores (another feed carrying the same story) is skipped, as if stored before."""
    runtime = _runtime(write_watchlist, make_runtime)
    plans = [_plan(runtime, "a", [_item(0, INCIDENT, "a"), _item(1, ORDINARY, "a")]),
             _plan(runtime, "b", [_item(2, ORDINARY, "b", url="https://news.example/1")]),  # a's link
             _plan(runtime, "c", [_item(3, INCIDENT_2, "c")])]

    assert apply_polls(runtime.engine, plans) == [(2, 1), (0, 0), (1, 1)]
    assert sorted((row.feed_id, row.key) for row in _rows(runtime, ItemRow)) == [
        (plans[0].feed_id, "key-0"), (plans[0].feed_id, "key-1"), (plans[2].feed_id, "key-3")]
    assert apply_polls(runtime.engine, plans) == [(0, 0), (0, 0), (0, 0)]  # stored already


def test_a_batch_the_database_refuses_is_stored_feed_by_feed(write_watchlist, make_runtime):
    """NewItemWrites: polls queued while the worker is busy are written in one transaction; when
    the database refuses one feed's row, that feed fails alone and the others are stored."""
    runtime = _runtime(write_watchlist, make_runtime)
    _refuse_titles_with(runtime.engine, "REFUSED")
    refused = dict(ORDINARY, title="REFUSED " + ORDINARY["title"])
    plans = [_plan(runtime, "a", [_item(0, ORDINARY, "a")]), _plan(runtime, "b", [_item(1, refused, "b")]),
             _plan(runtime, "c", [_item(2, INCIDENT, "c")])]
    worker, busy = ThreadPoolExecutor(1), threading.Event()
    worker.submit(busy.wait)  # the three queue up behind this, as behind other feeds' parsing
    writes = NewItemWrites(runtime, worker)
    written = [writes.add(plan) for plan in plans]
    busy.set()
    try:
        assert written[0].result(timeout=30) == (1, 0)
        assert "refused" in str(written[1].exception(timeout=30))
        assert written[2].result(timeout=30) == (1, 1)
    finally:
        worker.shutdown()
    assert sorted(row.key for row in _rows(runtime, ItemRow)) == ["key-0", "key-2"]


def test_feeds_waiting_for_the_worker_are_looked_up_in_one_statement(write_watchlist, make_runtime):
    """SeenLookups: feeds whose answers queue up while the worker is busy are looked up together,
    one statement for them all, and each gets what a lookup of its own gives: entries its last
    poll served under the same title are known without a lookup, a reused id is found by its key
    and told apart, a first poll sees links any feed stored, and only the first of two entries
    with one link is new. A feed that looked nothing up has no as_of (its write re-checks)."""
    runtime = _runtime(write_watchlist, make_runtime, feeds=_feeds("abcd"))
    batch = _batch(runtime)
    worker, busy = ThreadPoolExecutor(1), threading.Event()
    worker.submit(busy.wait)  # the feeds queue up behind this, as behind other feeds' parsing
    lookups = _lookup_statements(runtime.engine)
    batcher = SeenLookups(runtime, worker)
    reads = {claim.state.name: batcher.add(claim, entries) for claim, entries in batch}
    busy.set()
    try:
        reads = {name: read.result(timeout=30)[0] for name, read in reads.items()}
    finally:
        worker.shutdown()
    assert len(lookups) == 1
    entries = {claim.state.name: feed_entries for claim, feed_entries in batch}
    assert {name: [item.key for item in read.items] for name, read in reads.items()} == _NEW_IN_BATCH
    assert {name: [e.key for e in read.seen.changed(entries[name])] for name, read in reads.items()} == \
        {"a": ["key-1"], "b": [], "c": [], "d": []}
    assert {name: read.seen.as_of is not None for name, read in reads.items()} == \
        {"a": True, "b": False, "c": False, "d": True}


_NEW_IN_BATCH = {"a": ["key-2"], "b": [], "c": ["key-7", "key-8"], "d": ["key-11"]}


def test_a_lookup_reads_what_the_last_poll_served_when_the_claim_did_not(write_watchlist, make_runtime):
    """seen_in_feeds with no `served` (a claim that did not read it) reads it, and finds the same
    as with it."""
    runtime = _runtime(write_watchlist, make_runtime, feeds=_feeds("abcd"))
    batch = _batch(runtime)
    with_served = seen_in_feeds(runtime.engine,
                                [SeenQuery(c.id, e, c.first_poll, c.served) for c, e in batch])
    unread = seen_in_feeds(runtime.engine, [SeenQuery(c.id, e, c.first_poll) for c, e in batch])
    assert [[item.key for item in seen.new(e)] for seen, (_, e) in zip(unread, batch)] == \
        list(_NEW_IN_BATCH.values())
    assert [(seen.keys, seen.as_of is None) for seen in unread] == \
        [(seen.keys, seen.as_of is None) for seen in with_served]


def test_a_failed_lookup_fails_each_waiting_feed_and_a_cancelled_one_is_skipped(write_watchlist,
                                                                               make_runtime):
    runtime = _runtime(write_watchlist, make_runtime, feeds=_feeds("abcd"))
    batch = _batch(runtime)
    with runtime.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE item RENAME TO item_away")  # the lookup's table is gone
    worker, busy = ThreadPoolExecutor(1), threading.Event()
    worker.submit(busy.wait)
    batcher = SeenLookups(runtime, worker)
    reads = [batcher.add(claim, entries) for claim, entries in batch]
    assert reads[0].cancel()  # its feed's task was cancelled (a stopped poll) before the lookup ran
    busy.set()
    try:
        errors = [read.exception(timeout=30) for read in reads[1:]]
    finally:
        worker.shutdown()
        with runtime.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE item_away RENAME TO item")
    assert reads[0].cancelled()
    assert all(error is not None and "item" in str(error) for error in errors), errors


def _feeds(names: str) -> list[dict]:
    return [{"name": name, "url": f"http://127.0.0.1:9/{name}.xml"} for name in names]


def _batch(runtime) -> list[tuple[ClaimedFeed, list[Entry]]]:
    """Four feeds' claims and entries: a, b and d polled before, c new."""
    stored = {"a": [_entry("a", "key-0"), _entry("a", "key-1")], "b": [_entry("b", "key-5")],
              "d": [_entry("d", "key-10")]}
    for name, feed_entries in stored.items():
        items = [entry.item() for entry in feed_entries]
        assert apply_poll(runtime.engine, _plan(runtime, name, items)) == (len(items), 0)
    a, b, c, d = (_claim(runtime, name) for name in "abcd")
    assert not a.first_poll and c.first_poll
    return [(a, [_entry("a", "key-0"), _entry("a", "key-1", title="another story"), _entry("a", "key-2")]),
            (b, [_entry("b", "key-5")]),  # all served again: nothing to look up
            (c, [_entry("c", "key-6", "https://news.example/key-0"),  # a's link
                 _entry("c", "key-7", None), _entry("c", "key-8"),
                 _entry("c", "key-9", "https://news.example/key-8")]),  # key-8's link
            (d, [_entry("d", "key-10"), _entry("d", "key-11")])]


def _entry(feed: str, key: str, url: str | None = "", title: str | None = None) -> Entry:
    """An entry linking to news.example/<key> unless `url` is given; None: an entry with no link."""
    return Entry(feed, key, (url or f"https://news.example/{key}") if url is not None else None,
                 title or f"story {key}", text="text")


def _lookup_statements(engine) -> list[str]:
    lookups = []

    def record(_connection, _cursor, statement, *_):
        if "UNION ALL" in statement:
            lookups.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return lookups


def _refuse_titles_with(engine, word: str) -> None:
    """A database rule that refuses an item row (as a database refuses a value it cannot keep)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_title() RETURNS trigger AS $$ BEGIN IF strpos(NEW.title, "
                f"'{word}') > 0 THEN RAISE EXCEPTION 'title refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            connection.exec_driver_sql("CREATE TRIGGER refuse_title BEFORE INSERT ON item FOR EACH ROW "
                                       "EXECUTE FUNCTION refuse_title()")
        else:
            connection.exec_driver_sql(f"CREATE TRIGGER refuse_title BEFORE INSERT ON item WHEN "
                                       f"instr(NEW.title, '{word}') > 0 BEGIN SELECT RAISE(ABORT, 'title refused'); END")
