"""JSON Feed 1.0 and 1.1 parsed into the same Items as RSS and Atom, over the real poll path too;
JSON that is broken or no JSON Feed is refused with a clear NotAFeed."""

import json
from datetime import datetime, timezone

import pytest
from conftest import INCIDENT, ORDINARY
from peers import Route, rss
from sqlmodel import Session, select

from monitor.errors import NotAFeed
from monitor.ingest.parse import parse_feed
from monitor.pipeline import poll
from monitor.store import ItemRow

FEED_URL = "https://news.example/feeds/world.json"

VERSION_1_1 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "World desk",
    "home_page_url": "https://news.example/",
    "authors": [{"name": "Desk"}],
    "language": "en",
    "items": [
        {"id": "w-1", "url": "https://News.Example/2024/01/17/drone?utm_source=json&id=7#top",
         "title": "Drone <b>hits</b> base", "authors": [{"name": "A. Writer"}],
         "content_html": "<p>Two US troops were <em>wounded</em>.</p><script>alert(1)</script>",
         "content_text": "Two US troops were wounded.",
         "date_published": "2024-01-17T06:30:00+02:00", "date_modified": "2024-01-18T00:00:00Z"},
        {"id": "w-2", "external_url": "https://other.example/story", "title": "Linked story",
         "summary": "A <i>summary</i> only.", "date_modified": "2024-01-17T05:00:00Z"},
        {"id": "w-3", "url": "/2024/01/17/relative", "title": "Relative link",
         "content_html": "<p>Resolved against the feed</p>", "date_published": "not a date"},
        {"id": "w-1", "title": "The same id again", "content_text": "dropped"},
        {"id": "w-4", "url": "https://news.example/empty"},
        "not an object",
    ],
}

VERSION_1 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Microblog",
    "author": {"name": "me", "url": "https://me.example/"},
    "items": [
        {"id": 1234, "url": "https://me.example/1234", "content_text": "A post without a title.",
         "date_published": "2024-01-17T04:12:00Z"},
        {"id": "", "url": "https://me.example/no-id", "title": "No id",
         "content_html": "Caf&eacute; &amp; bar"},
    ],
}


def _body(document: dict) -> bytes:
    return json.dumps(document).encode()


def test_a_json_feed_1_1_is_normalised_like_an_rss_feed():
    first, linked, relative = parse_feed(_body(VERSION_1_1), "world", FEED_URL, "application/feed+json")
    assert (first.feed_name, first.key) == ("world", "id:w-1")
    assert first.title == "Drone hits base"
    assert first.text == "Two US troops were wounded."  # content_text before content_html
    assert first.url == "https://news.example/2024/01/17/drone?id=7"  # canonical, no tracking
    assert first.published == datetime(2024, 1, 17, 4, 30, tzinfo=timezone.utc)  # date_published, UTC
    assert (linked.url, linked.text) == ("https://other.example/story", "A summary only.")
    assert linked.published == datetime(2024, 1, 17, 5, 0, tzinfo=timezone.utc)  # date_modified
    assert relative.url == "https://news.example/2024/01/17/relative"
    assert relative.text == "Resolved against the feed" and relative.published is None
    # the repeated id, the item with neither title nor text and the non-object are left out


def test_a_json_feed_1_0_with_numeric_ids_and_untitled_posts():
    untitled, no_id = parse_feed(_body(VERSION_1), "micro", "https://me.example/feed.json")
    assert untitled.key == "id:1234"  # a numeric id is read as a string, as the spec asks
    assert (untitled.title, untitled.text) == ("", "A post without a title.")  # as an RSS item without one
    assert untitled.published == datetime(2024, 1, 17, 4, 12, tzinfo=timezone.utc)
    assert no_id.key == "url:https://me.example/no-id"  # no id: the link, as for RSS
    assert no_id.text == "Caf\u00e9 & bar"


def test_the_same_story_gives_the_same_item_as_rss_or_json_feed():
    story = dict(INCIDENT, guid="story-1", link="https://news.example/story-1?utm_medium=rss",
                 published=datetime(2024, 1, 17, 6, 0, tzinfo=timezone.utc))
    [from_rss] = parse_feed(rss([story]), "f", FEED_URL)
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "t",
                "items": [{"id": "story-1", "url": story["link"], "title": INCIDENT["title"],
                           "content_text": INCIDENT["text"], "date_published": "2024-01-17T06:00:00Z"}]}
    [from_json] = parse_feed(_body(document), "f", FEED_URL)
    assert from_json == from_rss


@pytest.mark.parametrize("body, content_type", [
    (b"\xef\xbb\xbf \n" + _body(VERSION_1), None),  # BOM and blank space before the "{"
    (_body(VERSION_1), "application/json; charset=utf-8"),
    (_body(VERSION_1), "text/plain"),  # a wrong type does not hide JSON
    (json.dumps(VERSION_1).encode("utf-16"), "application/feed+json"),  # found by its type alone
])
def test_json_feed_is_recognised_by_content_type_or_first_character(body, content_type):
    assert len(parse_feed(body, "f", content_type=content_type)) == 2


def test_rss_served_as_json_is_still_read_as_rss():
    [item] = parse_feed(rss([ORDINARY]), "f", content_type="application/json")
    assert item.title == ORDINARY["title"]


@pytest.mark.parametrize("body, message", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not a readable feed: invalid JSON"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": []} trailing', "invalid JSON"),
    (b"[" * 200_000, "not a readable feed: invalid JSON (nested too deeply)"),
    (b'{"title": "caf\xe9"}', "invalid JSON"),  # not UTF-8
    (b'{"data": [{"id": 1}]}', "not a feed: JSON, but no JSON Feed"),
    (b"[1, 2, 3]", "not a feed: JSON, but no JSON Feed"),
    (b'{"version": 1.1, "items": []}', "not a feed: JSON, but no JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/2", "items": []}',
     "version 'https://jsonfeed.org/version/2' is not supported (1 and 1.1 are)"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "title": "no items"}', 'has no "items" list'),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": {"id": "1"}}', 'has no "items" list'),
])
def test_broken_json_or_json_that_is_no_feed_is_refused_clearly(body, message):
    with pytest.raises(NotAFeed) as refused:
        parse_feed(body, "f", content_type="application/json")
    assert message in str(refused.value)


def test_a_json_feed_served_locally_goes_through_the_poll_path(feed_server, write_watchlist, make_runtime):
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Local",
                "items": [{"id": f"local-{n}", "url": feed_server.url(f"/story/{n}"), "title": story["title"],
                           "content_text": story["text"], "date_published": "2024-01-17T06:00:00Z"}
                          for n, story in enumerate((INCIDENT, ORDINARY))]}
    feed_server.routes["/feed.json"] = Route(_body(document), content_type="application/feed+json")
    runtime = make_runtime(write_watchlist(feeds=[{"name": "local", "url": feed_server.url("/feed.json")}]))

    [outcome] = poll(runtime)
    assert (outcome.status, outcome.new_items, outcome.matches) == ("ok", 2, 1), outcome
    with Session(runtime.engine) as session:
        stored = sorted(session.exec(select(ItemRow)), key=lambda row: row.key)
    assert [(row.key, row.title) for row in stored] == [("id:local-0", INCIDENT["title"]),
                                                         ("id:local-1", ORDINARY["title"])]
    assert stored[0].url == feed_server.url("/story/0")
    assert "application/feed+json" in feed_server.requests[0][1]["Accept"]


def test_nul_and_lone_surrogates_in_a_json_feed_are_stored_as_text_can_be(feed_server, write_watchlist,
                                                                           make_runtime):
    """JSON can carry NUL (\\u0000) and lone surrogates (\\ud800); XML cannot. PostgreSQL refuses
    NUL in text, and no database takes a surrogate (it is not UTF-8): such an item failed its feed
    at every poll, and a surrogate in a link or a long id failed the whole poll. NULs are dropped,
    surrogates become U+FFFD, in the id, link, title and text alike."""
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "Odd",
                "items": [{"id": "nul\u0000-1", "url": feed_server.url("/story/\u0000"),
                           "title": "Rocket\u0000 attack", "content_html": "<p>Two\u0000 words</p>"},
                          {"id": "sur\ud800-2", "url": feed_server.url("/story/\udc00"),
                           "title": "Drone \ud83d attack", "content_text": "One \udfff word"}]}
    body = json.dumps(document).encode()  # json.dumps escapes both: the wire has \\u0000 and \\ud800
    feed_server.routes["/feed.json"] = Route(body, content_type="application/feed+json")
    feed_server.routes["/ok.xml"] = Route(rss([dict(ORDINARY, guid="ok")]))
    runtime = make_runtime(write_watchlist(feeds=[{"name": "odd", "url": feed_server.url("/feed.json")},
                                                  {"name": "ok", "url": feed_server.url("/ok.xml")}]))

    first, second = poll(runtime), poll(runtime)
    with Session(runtime.engine) as session:
        stored = sorted(session.exec(select(ItemRow).where(ItemRow.key != "id:ok")), key=lambda row: row.key)
    outcomes = [sorted((o.feed_name, o.status, o.new_items) for o in polled) for polled in (first, second)]
    assert outcomes == [[("odd", "ok", 2), ("ok", "ok", 1)], [("odd", "ok", 0), ("ok", "ok", 0)]], outcomes
    assert [(row.key, row.title, row.text) for row in stored] == [
        ("id:nul-1", "Rocket attack", "Two words"),
        ("id:sur\ufffd-2", "Drone \ufffd attack", "One \ufffd word")]
    assert [row.url for row in stored] == [feed_server.url("/story/"), feed_server.url("/story/\ufffd")]
