"""The poll path against a real HTTP server on 127.0.0.1 and a real database."""

from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from conftest import INCIDENT, INCIDENT_2, ORDINARY
from monitor.alerts.deliver import dispatch
from monitor.pipeline import poll
from monitor.store import Feed, ItemRow, MatchRow, OutboxRow
from peers import Route, rss


def _items(*entries):
    return [dict(entry, guid=f"g{i}", link=f"https://news.example/{i}?utm_source=rss")
            for i, entry in enumerate(entries)]


def _feed(server, name, path):
    return {"name": name, "url": server.url(path)}


def _rows(runtime, table):
    with Session(runtime.engine) as session:
        return list(session.exec(select(table)))


def _feed_row(runtime, name):
    return next(f for f in _rows(runtime, Feed) if f.name == name)


def test_new_items_are_alerted_once(feed_server, json_endpoint, write_watchlist, make_runtime):
    feed_server.routes["/a.xml"] = Route(rss(_items(INCIDENT, ORDINARY)))
    path = write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}],
                           first_poll_alerts=True)
    runtime = make_runtime(path)

    [outcome] = poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    assert (outcome.status, outcome.new_items, outcome.alerts) == ("ok", 2, 1)
    assert len(json_endpoint.posts) == 1
    post = json_endpoint.posts[0]
    assert INCIDENT["title"] in post["title"] and "INCIDENT" in post["title"]
    for expected in ("Source:    a", "Why:       rocket attack on US base", "Syria", "https://news.example/0"):
        assert expected in post["message"]
    assert "utm_source" not in post["message"]

    [again] = poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    assert (again.new_items, again.alerts) == (0, 0)
    assert len(json_endpoint.posts) == 1
    assert [r.status for r in _rows(runtime, OutboxRow)] == ["sent"]


def test_first_poll_is_stored_but_not_alerted(feed_server, write_watchlist, make_runtime):
    feed_server.routes["/a.xml"] = Route(rss(_items(INCIDENT)))
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")]))

    [first] = poll(runtime)
    assert (first.new_items, first.matches, first.alerts) == (1, 1, 0)

    feed_server.routes["/a.xml"] = Route(rss(_items(INCIDENT, INCIDENT_2)))
    [second] = poll(runtime)
    assert (second.new_items, second.alerts) == (1, 1)
    [row] = _rows(runtime, OutboxRow)
    assert row.channel == "log" and "Ain al-Asad" in row.title  # no route: alerts go to the log


def test_not_modified_is_honoured(feed_server, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(rss(_items(ORDINARY)), etag='"v1"',
                                         headers={"Last-Modified": "Wed, 17 Jan 2024 06:00:00 GMT"})
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")]))
    poll(runtime)
    clock.advance(minutes=11)
    [outcome] = poll(runtime)
    assert outcome.status == "not-modified"
    _, headers = feed_server.requests[-1]
    assert headers.get("If-None-Match") == '"v1"'
    assert headers.get("If-Modified-Since") == "Wed, 17 Jan 2024 06:00:00 GMT"
    assert "news-incident-monitor" in headers.get("User-Agent", "")
    feed = _feed_row(runtime, "a")
    assert feed.last_status == "not-modified" and feed.error_count == 0 and feed.items_seen == 1


def test_each_failure_is_recorded_while_other_feeds_go_through(feed_server, write_watchlist,
                                                               make_runtime):
    routes = {
        "/good.xml": Route(rss(_items(INCIDENT))),
        "/500.xml": Route(b"oops", status=500, content_type="text/plain"),
        "/slow.xml": Route(rss(_items(ORDINARY)), delay=3),
        "/huge.xml": Route(stream_bytes=11 * 1024 * 1024),
        "/loop.xml": Route(redirect_to="/loop.xml"),
        "/broken.xml": Route(b"<html><body>this is not a feed</p>", content_type="text/html"),
    }
    feed_server.routes.update(routes)
    feeds = [_feed(feed_server, path.strip("/").replace(".xml", ""), path) for path in routes]
    runtime = make_runtime(write_watchlist(feeds=feeds, fetch={"read_timeout": 1, "total_timeout": 2}))

    outcomes = {o.feed_name: o for o in poll(runtime)}
    assert outcomes["good"].status == "ok" and outcomes["good"].new_items == 1
    expected_errors = {"500": "HTTP 500", "slow": "timed out", "huge": "byte cap",
                       "loop": "redirects", "broken": "not a readable feed"}
    for name, phrase in expected_errors.items():
        assert outcomes[name].status == "error", name
        feed = _feed_row(runtime, name)
        assert phrase in feed.last_error, (name, feed.last_error)
        assert feed.error_count == 1 and feed.last_error_at is not None
    assert len(_rows(runtime, ItemRow)) == 1


def test_a_slow_feed_does_not_hold_up_the_others(feed_server, write_watchlist, make_runtime):
    feed_server.routes["/slow.xml"] = Route(rss(_items(ORDINARY)), delay=1.5)
    for i in range(4):
        feed_server.routes[f"/f{i}.xml"] = Route(rss(_items(ORDINARY)))
    feeds = [_feed(feed_server, "slow", "/slow.xml")]
    feeds += [_feed(feed_server, f"f{i}", f"/f{i}.xml") for i in range(4)]
    runtime = make_runtime(write_watchlist(feeds=feeds, fetch={"concurrency": 2}))
    order = [o.feed_name for o in poll(runtime)]
    assert order[-1] == "slow" and sorted(order[:-1]) == ["f0", "f1", "f2", "f3"]


def test_backoff_grows_is_capped_and_recovers(feed_server, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(b"down", status=500)
    runtime = make_runtime(write_watchlist(feeds=[{**_feed(feed_server, "a", "/a.xml"), "interval": "10m"}],
                                           fetch={"max_backoff": "2h"}))
    delays = []
    for _ in range(6):
        poll(runtime)
        feed = _feed_row(runtime, "a")
        delays.append(feed.next_due_at - clock.now)
        clock.now = feed.next_due_at
    assert delays == [timedelta(minutes=m) for m in (20, 40, 80, 120, 120, 120)]

    feed_server.routes["/a.xml"] = Route(rss(_items(ORDINARY)))
    poll(runtime)
    feed = _feed_row(runtime, "a")
    assert feed.error_count == 0 and feed.next_due_at - clock.now == timedelta(minutes=10)


def test_retry_after_is_honoured(feed_server, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(b"slow down", status=429, headers={"Retry-After": "3600"})
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")]))
    poll(runtime)
    feed = _feed_row(runtime, "a")
    assert feed.next_due_at - clock.now == timedelta(hours=1)
    assert "429" in feed.last_error


def test_only_due_feeds_are_claimed_by_a_tick(feed_server, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(rss(_items(ORDINARY)))
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")]))
    assert len(poll(runtime, due_only=True)) == 1
    clock.advance(minutes=5)
    assert poll(runtime, due_only=True) == []
    clock.advance(minutes=6)
    assert len(poll(runtime, due_only=True)) == 1


def test_same_article_from_another_feed_is_not_alerted_again(feed_server, write_watchlist,
                                                             make_runtime):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="a-1",
                                                   link="https://news.example/story?utm_medium=x")]))
    feed_server.routes["/b.xml"] = Route(rss([dict(INCIDENT, guid="b-9",
                                                   link="https://NEWS.example/story#top")]))
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml"),
                                                  _feed(feed_server, "b", "/b.xml")],
                                           first_poll_alerts=True, fetch={"concurrency": 1}))
    outcomes = poll(runtime)
    assert sorted(o.new_items for o in outcomes) == [0, 1]
    assert len(_rows(runtime, MatchRow)) == 1 and len(_rows(runtime, OutboxRow)) == 1


def test_gzip_bodies_are_decoded_and_capped_after_decoding(feed_server, write_watchlist, make_runtime):
    import gzip
    feed_server.routes["/gz.xml"] = Route(gzip.compress(rss(_items(INCIDENT, ORDINARY))),
                                          headers={"Content-Encoding": "gzip"})
    bomb = gzip.compress(b"<rss>" + b" " * (3 * 1024 * 1024) + b"</rss>")  # 3 MB from a few KB
    feed_server.routes["/bomb.xml"] = Route(bomb, headers={"Content-Encoding": "gzip"})
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "gz", "/gz.xml"),
                                                  _feed(feed_server, "bomb", "/bomb.xml")],
                                           fetch={"max_bytes": 1024 * 1024}))
    outcomes = {o.feed_name: o for o in poll(runtime)}
    assert outcomes["gz"].new_items == 2
    assert "Accept-Encoding" in feed_server.requests[0][1]
    assert outcomes["bomb"].status == "error" and "byte cap" in outcomes["bomb"].error


ASAD = {"title": "Drone attack on Ain al-Asad air base in Iraq, no US troops hurt",
        "text": "An explosive-laden drone struck Ain al-Asad air base in Anbar province on Wednesday."}
ASAD_AGAIN = {"title": "Drone hits Ain al-Assad base housing US forces in western Iraq",
              "text": "The one-way drone struck the air base in Anbar early Wednesday, officials said."}
ASAD_WOUNDED = {"title": "Two US troops wounded in drone attack on Ain al-Asad air base",
                "text": "The drone struck Ain al-Asad air base in Anbar on Wednesday; two were hurt."}


def test_reports_of_one_incident_page_once_and_a_material_change_updates(
        feed_server, json_endpoint, write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(rss([dict(ASAD, guid="a1", link="https://a.example/1")]))
    feed_server.routes["/b.xml"] = Route(rss([]))
    path = write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml"), _feed(feed_server, "b", "/b.xml")],
                           channels=[{"name": "hook", "url": json_endpoint.url}],
                           routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}],
                           first_poll_alerts=True)
    runtime = make_runtime(path)
    poll(runtime)
    clock.advance(minutes=11)
    feed_server.routes["/b.xml"] = Route(rss([dict(ASAD_AGAIN, guid="b1", link="https://b.example/1"),
                                              dict(ASAD_WOUNDED, guid="b2", link="https://b.example/2")]))
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)

    titles = [post["title"] for post in json_endpoint.posts]
    assert titles == ["[INCIDENT] " + ASAD["title"], "[UPDATE] " + ASAD["title"]]
    assert "casualties" in json_endpoint.posts[1]["message"]
    roles = sorted(m.role for m in _rows(runtime, MatchRow))
    assert roles == ["joined", "opened", "update"]
    assert len({m.incident_id for m in _rows(runtime, MatchRow)}) == 1


def test_a_new_feeds_back_catalogue_does_not_swallow_a_later_report(feed_server, json_endpoint,
                                                                   write_watchlist, make_runtime, clock):
    feed_server.routes["/a.xml"] = Route(rss([]))
    feed_server.routes["/new.xml"] = Route(rss([dict(ASAD, guid="n1", link="https://new.example/1")]))
    channels = [{"name": "hook", "url": json_endpoint.url}]
    routes = [{"profile": "iraq-syria-militia-attacks", "channels": ["hook"]}]
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")],
                                           channels=channels, routes=routes))
    poll(runtime)  # feed a: first poll, nothing in it
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml"),
                                                  _feed(feed_server, "new", "/new.xml")],
                                           channels=channels, routes=routes))
    clock.advance(minutes=11)
    poll(runtime)  # the new feed's back catalogue: stored, not alerted
    feed_server.routes["/a.xml"] = Route(rss([dict(ASAD_AGAIN, guid="a1", link="https://a.example/1")]))
    clock.advance(minutes=11)
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    assert [post["title"] for post in json_endpoint.posts] == ["[INCIDENT] " + ASAD_AGAIN["title"]]


def test_a_feed_moved_to_a_new_url_starts_with_a_first_poll(feed_server, write_watchlist,
                                                             make_runtime, clock):
    feed_server.routes["/old.xml"] = Route(rss([dict(ORDINARY, guid="o1", link="https://o.example/1")]))
    feed_server.routes["/new.xml"] = Route(rss([dict(INCIDENT, guid="n1", link="https://n.example/1")]))
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/old.xml")]))
    poll(runtime)
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/new.xml")]))
    clock.advance(minutes=11)
    [outcome] = poll(runtime)
    assert (outcome.new_items, outcome.matches, outcome.alerts) == (1, 1, 0)


def test_a_moved_feed_serving_its_old_ids_under_new_links_stores_nothing_twice(feed_server, write_watchlist,
                                                                               make_runtime, clock):
    """A moved feed's poll is a first poll again, but its items stay: an entry it served before,
    under the same id and another link (http -> https), is known, not stored a second time."""
    feed_server.routes["/old.xml"] = Route(rss([dict(ORDINARY, guid="o1", link="http://o.example/1")]))
    feed_server.routes["/new.xml"] = Route(rss([dict(ORDINARY, guid="o1", link="https://o.example/one"),
                                                dict(INCIDENT, guid="n1", link="https://n.example/1")]))
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/old.xml")]))
    poll(runtime)
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/new.xml")]))
    clock.advance(minutes=11)
    [outcome] = poll(runtime)
    assert (outcome.status, outcome.new_items) == ("ok", 1)
    assert sorted(row.key for row in _rows(runtime, ItemRow)) == ["id:n1", "id:o1"]


def test_an_overlong_link_is_dropped_not_fatal(feed_server, write_watchlist, make_runtime):
    long_link = "https://n.example/" + "a" * 2100
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="l1", link=long_link)]),
                                         etag='"' + "e" * 600 + '"')
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")]))
    [outcome] = poll(runtime)
    assert outcome.status == "ok" and outcome.new_items == 1
    [item] = _rows(runtime, ItemRow)
    assert item.url is None and _feed_row(runtime, "a").etag is None


INCIDENT_PUBLISHED = datetime(2024, 1, 17, 6, 0, tzinfo=timezone.utc)  # a Wednesday
ASAD_EARLY = {"title": "Drone attack on Ain al-Asad air base in Iraq wounds two US troops",
              "text": "An explosive-laden drone hit the base in Anbar province on Wednesday.",
              "published": INCIDENT_PUBLISHED}
ASAD_LATE = {"title": "Drone hits Ain al-Assad base housing US forces in western Iraq",
             "text": "The one-way drone struck the air base in Anbar early Wednesday, officials said.",
             "published": INCIDENT_PUBLISHED + timedelta(hours=2)}


def test_pages_do_not_depend_on_which_feed_answers_first(feed_server, write_watchlist, make_runtime):
    """The earlier report opens the incident even when its feed answers last."""
    feed_server.routes["/slow.xml"] = Route(rss(_items(ASAD_EARLY)), delay=1.0)
    feed_server.routes["/fast.xml"] = Route(rss([dict(ASAD_LATE, guid="late",
                                                      link="https://other.example/late")]))
    path = write_watchlist(feeds=[_feed(feed_server, "slow", "/slow.xml"),
                                  _feed(feed_server, "fast", "/fast.xml")], first_poll_alerts=True)
    runtime = make_runtime(path)
    outcomes = {o.feed_name: o for o in poll(runtime)}
    assert (outcomes["slow"].alerts, outcomes["fast"].alerts) == (1, 0)
    [alert] = _rows(runtime, OutboxRow)
    assert ASAD_EARLY["title"] in alert.title
    roles = sorted(m.role for m in _rows(runtime, MatchRow))
    assert roles == ["joined", "opened"]


def test_matches_left_ungrouped_by_a_crash_are_grouped_by_the_next_poll(feed_server, write_watchlist,
                                                                        make_runtime):
    from monitor.pipeline import refresh_feed
    from monitor.store.feeds import claim_feeds, sync_feeds
    from monitor.model import FetchResult
    body = rss(_items(ASAD_EARLY))
    feed_server.routes["/a.xml"] = Route(body)
    runtime = make_runtime(write_watchlist(feeds=[_feed(feed_server, "a", "/a.xml")],
                                           first_poll_alerts=True))
    now = runtime.clock()
    sync_feeds(runtime.engine, [("a", feed_server.url("/a.xml"))], now)
    [claim] = claim_feeds(runtime.engine, ["a"], now, due_only=False)
    refresh_feed(runtime, claim, FetchResult("a", 200, body, None, None, "application/rss+xml",
                                              feed_server.url("/a.xml")))
    # the process dies here: the match is stored, not grouped, no outbox row yet
    assert [m.role for m in _rows(runtime, MatchRow)] == [None] and not _rows(runtime, OutboxRow)
    poll(runtime)  # nothing new in the feed; the pending match is grouped and alerts once
    assert [m.role for m in _rows(runtime, MatchRow)] == ["opened"]
    assert len(_rows(runtime, OutboxRow)) == 1
