"""Article pages for items whose feed gives only a headline or a teaser (`full_text`): fetched
from a real HTTP server on 127.0.0.1, main text extracted, scored with the feed's text."""

import logging
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import INCIDENT, PROFILES
from peers import FeedServer, Route, rss
from sqlmodel import Session, select

from monitor.classify.scorer import load_scorers
from monitor.ingest.article import CONCURRENCY, main_text
from monitor.model import ARTICLE, Item, Score
from monitor.pipeline import poll, wants_article
from monitor.settings.profile import load_profiles
from monitor.store import ItemRow, MatchRow, OutboxRow
from monitor.text import ARTICLE_BREAK, html_to_text, split_article, with_article
from monitor.tools.backtest import backtest

PAGES = Path(__file__).parent / "data" / "articles"
HTML = "text/html; charset=utf-8"
PROFILE = "iraq-syria-militia-attacks"
ATTACK = {"title": "Drones target base housing US troops"}  # no place: not an incident by itself
FESTIVAL = {"title": "Hundreds of drones light up the Baghdad night"}  # a term, nothing more
RELATED = {"title": "Pentagon weighs response to attacks on US forces in Iraq",
           "text": "Officials discussed the string of attacks on American troops in the country."}


class CountingServer(FeedServer):
    """A FeedServer that also keeps the most requests it served at once, per Host header. A
    request counts from its arrival until its answer starts: a client that asks again as soon as
    an answer is in must not overlap with the thread still finishing that answer."""

    def __init__(self):
        super().__init__()
        self.most_at_once: Counter = Counter()
        at_once, lock, server = Counter(), threading.Lock(), self

        class Counting(self._httpd.RequestHandlerClass):
            def do_GET(self):
                self.counted = self.headers.get("Host", "")
                with lock:
                    at_once[self.counted] += 1
                    server.most_at_once[self.counted] = max(server.most_at_once[self.counted],
                                                            at_once[self.counted])
                try:
                    super().do_GET()
                finally:
                    self.answering()

            def answering(self):
                with lock:
                    if self.counted is not None:
                        at_once[self.counted] -= 1
                        self.counted = None

            def _send(self, *args, **kwargs):
                self.answering()
                return super()._send(*args, **kwargs)

            def _stream(self, *args, **kwargs):
                self.answering()
                return super()._stream(*args, **kwargs)

        self._httpd.RequestHandlerClass = Counting


@pytest.fixture
def site():
    server = CountingServer().start()
    yield server
    server.stop()


def _serve(site, entries, pages=None, robots: Route | None = None):
    """The feed at /feed.xml, each entry linking to /news/<name>; `pages` {name: Route}."""
    items = [dict(entry, guid=f"g-{name}", link=site.url(f"/news/{name}")) for name, entry in entries.items()]
    site.routes["/feed.xml"] = Route(rss(items))
    for name, route in (pages or {}).items():
        site.routes[f"/news/{name}"] = route
    if robots is not None:
        site.routes["/robots.txt"] = robots


def _page(name: str, **settings) -> Route:
    return Route((PAGES / f"{name}.html").read_bytes(), content_type=HTML, **settings)


def _runtime(site, write_watchlist, make_runtime, full_text="auto", **settings):
    settings.setdefault("first_poll_alerts", True)
    feed = {"name": "desk", "url": site.url("/feed.xml"), "full_text": full_text}
    return make_runtime(write_watchlist(feeds=[feed], **settings))


def _rows(runtime, table):
    with Session(runtime.engine) as session:
        return list(session.exec(select(table)))


def _asked(site, path: str) -> int:
    return sum(1 for requested, _ in site.requests if requested == path)


@pytest.mark.parametrize("full_text", ["never", "auto", "always"])
def test_a_headline_only_item_is_an_incident_only_with_its_article_page(
        full_text, site, write_watchlist, make_runtime):
    _serve(site, {"drones": ATTACK}, {"drones": _page("drone-attack")})
    runtime = _runtime(site, write_watchlist, make_runtime, full_text)

    [outcome] = poll(runtime)

    matches = _rows(runtime, MatchRow)
    if full_text == "never":
        assert outcome.matches == 0 and matches == []
        assert _asked(site, "/news/drones") == 0 and _asked(site, "/robots.txt") == 0
        return
    [match] = matches
    assert (match.label, outcome.alerts) == ("incident", 1)
    assert "Syria" in match.evidence["place"] and "Syria" in match.evidence[ARTICLE]
    assert "drone" not in match.evidence[ARTICLE]  # the headline said it already
    [page] = _rows(runtime, OutboxRow)
    why = next(line for line in page.body.splitlines() if line.startswith("Why:"))
    said_by_the_page = why.partition("; from the article page: ")[2].split(", ")
    assert "Syria" in said_by_the_page and "drone" not in said_by_the_page, why
    assert "Recommended" not in page.body and "cookies" not in page.body
    [item] = _rows(runtime, ItemRow)  # the text scored is the text stored: a re-score agrees
    feed_text, article = split_article(item.text)
    assert feed_text == "" and article.startswith("Drones target base housing US troops in eastern Syria")
    [replayed] = backtest(runtime.engine, runtime.scorers[PROFILE], datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert (replayed.label, replayed.alert, replayed.stored_label) == ("incident", "alert", "incident")
    assert _asked(site, "/robots.txt") == 1  # none there (404): everything allowed


def test_page_junk_does_not_make_a_match(site, write_watchlist, make_runtime):
    """A harmless story whose page lists attack headlines of other stories (recommended, most
    read) and a cookie notice: read, and still no match."""
    _serve(site, {"festival": FESTIVAL}, {"festival": _page("drone-festival")})
    runtime = _runtime(site, write_watchlist, make_runtime)

    [outcome] = poll(runtime)

    assert _asked(site, "/news/festival") == 1
    assert (outcome.new_items, outcome.matches) == (1, 0)
    [item] = _rows(runtime, ItemRow)
    assert "six hundred small drones" in item.text
    for junk in ("Recommended", "Drone strike on base in Syria", "Tower 22", "cookies", "Privacy"):
        assert junk not in item.text


def test_the_junk_would_match_if_it_were_read():
    """What the previous test guards against: the whole page's text is an incident."""
    scorer = load_scorers(load_profiles(PROFILES), None)[PROFILE]
    whole_page = html_to_text((PAGES / "drone-festival.html").read_text())
    assert scorer.score(FESTIVAL["title"], with_article("", whole_page)).label == "incident"
    assert main_text((PAGES / "drone-festival.html").read_bytes(), HTML, "http://x/") is not None


@pytest.mark.parametrize("robots", [
    Route(b"User-agent: *\nDisallow: /private/\n\nUser-agent: news-incident-monitor\nDisallow: /news/\n",
          content_type="text/plain"),
    Route(b"oops", status=503, content_type="text/plain"),  # unreadable: keep off the site
], ids=["disallowed", "robots-unreachable"])
def test_robots_txt_is_respected(robots, site, write_watchlist, make_runtime):
    _serve(site, {"drones": ATTACK}, {"drones": _page("drone-attack")}, robots=robots)
    runtime = _runtime(site, write_watchlist, make_runtime)

    [outcome] = poll(runtime)
    _serve(site, {"drones": ATTACK, "more": dict(ATTACK, title=ATTACK["title"] + " again")},
           {"more": _page("drone-attack")}, robots=robots)
    [again] = poll(runtime)

    assert _asked(site, "/news/drones") == _asked(site, "/news/more") == 0
    assert _asked(site, "/robots.txt") == 1  # kept for the next poll
    assert (outcome.matches, again.new_items, again.matches) == (0, 1, 0)


@pytest.mark.parametrize("disallowed", ["/story", "/private/"])
def test_the_robots_txt_of_the_site_a_link_redirects_to_is_respected(
        disallowed, site, write_watchlist, make_runtime):
    publisher = FeedServer().start()  # another site: the link's own site only redirects
    try:
        publisher.routes["/story"] = _page("drone-attack")
        publisher.routes["/robots.txt"] = Route(f"User-agent: *\nDisallow: {disallowed}\n".encode(),
                                                content_type="text/plain")
        _serve(site, {"drones": ATTACK}, {"drones": Route(redirect_to=publisher.url("/story"))})
        runtime = _runtime(site, write_watchlist, make_runtime)

        [outcome] = poll(runtime)
    finally:
        publisher.stop()

    read = disallowed != "/story"
    assert _asked(site, "/news/drones") == 1 and _asked(publisher, "/robots.txt") == 1
    assert _asked(publisher, "/story") == int(read)
    assert outcome.matches == int(read)  # the headline alone is no incident (first test)


def test_pages_that_all_redirect_to_sites_not_yet_known_are_read(site, write_watchlist, make_runtime):
    """As many links as pages may be read at once, each on a site of its own, each redirecting to
    a publisher whose robots.txt is not read yet: its reading took a page slot while every slot
    was held by a page waiting for it, so no page was read (until the feed gave up waiting)."""
    publisher, links = FeedServer().start(), [FeedServer().start() for _ in range(CONCURRENCY)]
    try:
        publisher.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n",
                                                content_type="text/plain", delay=0.2)
        entries = []
        for n, link in enumerate(links):
            publisher.routes[f"/story{n}"] = _page("drone-attack")
            link.routes[f"/news/{n}"] = Route(redirect_to=publisher.url(f"/story{n}"))
            entries.append(dict(ATTACK, title=f"{ATTACK['title']} ({n})", guid=f"g{n}",
                                link=link.url(f"/news/{n}")))
        site.routes["/feed.xml"] = Route(rss(entries))
        runtime = _runtime(site, write_watchlist, make_runtime, fetch={"total_timeout": 5})

        [outcome] = poll(runtime)
    finally:
        for server in (publisher, *links):
            server.stop()

    assert outcome.matches == CONCURRENCY
    assert _asked(publisher, "/robots.txt") == 1  # read once for all the pages that wait for it


def test_a_robots_txt_slower_than_the_page_is_kept_as_unreadable(site, write_watchlist, make_runtime):
    """The page gives up waiting, but the robots.txt read goes on and its outcome is kept: the
    next poll does not ask again (and wait the page's whole timeout again)."""
    publisher = FeedServer().start()
    try:
        publisher.routes["/robots.txt"] = Route(b"User-agent: *\n", content_type="text/plain", delay=3)
        publisher.routes["/story"] = _page("drone-attack")
        _serve(site, {"drones": ATTACK}, {"drones": Route(redirect_to=publisher.url("/story"))})
        runtime = _runtime(site, write_watchlist, make_runtime, fetch={"total_timeout": 1})
        [first] = poll(runtime)
        _serve(site, {"drones": ATTACK, "more": dict(ATTACK, title=ATTACK["title"] + " again")},
               {"more": Route(redirect_to=publisher.url("/story"))})
        [again] = poll(runtime)
    finally:
        publisher.stop()

    assert _asked(publisher, "/robots.txt") == 1 and _asked(publisher, "/story") == 0
    assert (first.matches, again.new_items, again.matches) == (0, 1, 0)


def test_one_request_at_a_time_per_site(site, write_watchlist, make_runtime):
    names = ["one", "two", "three"]
    _serve(site, {name: dict(ATTACK, title=f"{ATTACK['title']} ({name})") for name in names},
           {name: _page("drone-attack", delay=0.3) for name in names})
    runtime = _runtime(site, write_watchlist, make_runtime)

    [outcome] = poll(runtime)

    assert all(_asked(site, f"/news/{name}") == 1 for name in names)
    assert site.most_at_once[f"127.0.0.1:{site.port}"] == 1
    assert outcome.matches == 3


def test_a_feed_waits_for_its_pages_only_so_long(site, write_watchlist, make_runtime, caplog):
    """Pages of one slow site come one at a time: the feed goes on after three page timeouts (3 s
    here), its other items scored on their feed text."""
    names = [f"n{number}" for number in range(5)]
    _serve(site, {name: dict(ATTACK, title=f"{ATTACK['title']} ({name})") for name in names},
           {name: _page("drone-attack", delay=0.8) for name in names})
    runtime = _runtime(site, write_watchlist, make_runtime, fetch={"total_timeout": 1})

    with caplog.at_level(logging.INFO, logger="monitor.article"):
        [outcome] = poll(runtime)

    assert outcome.new_items == 5 and 1 <= outcome.matches < 5
    assert "not read in time" in caplog.text


@pytest.mark.parametrize("page", [
    Route(b"<html><body><p>" + b"x" * (3 * 1024 * 1024) + b"</p></body></html>", content_type=HTML),
    Route(b"<html><body>Internal error</body></html>", status=500, content_type=HTML),
    Route(b"%PDF-1.7 ...", content_type="application/pdf"),
    Route(b"", status=200, content_type=HTML, delay=2.0),
], ids=["oversize", "failing", "not-html", "too-slow"])
def test_an_unreadable_page_leaves_the_item_scored_on_its_feed_text(
        page, site, write_watchlist, make_runtime, caplog):
    site.routes["/feed.xml"] = Route(rss([dict(RELATED, guid="g1",
                                               link=site.url("/news/pentagon?token=s3cr3t-t0ken"))]))
    site.routes["/news/pentagon?token=s3cr3t-t0ken"] = page
    runtime = _runtime(site, write_watchlist, make_runtime, fetch={"total_timeout": 1})

    with caplog.at_level(logging.DEBUG, logger="monitor"):
        [outcome] = poll(runtime)

    assert _asked(site, "/news/pentagon?token=s3cr3t-t0ken") == 1
    [match] = _rows(runtime, MatchRow)
    assert (outcome.status, match.label, ARTICLE in match.evidence) == ("ok", "related", False)
    [item] = _rows(runtime, ItemRow)
    assert item.text == RELATED["text"]
    logged = caplog.text
    assert "article 127.0.0.1/news/pentagon" in logged and "s3cr3t" not in logged


def test_a_new_feeds_back_catalogue_reads_no_page(site, write_watchlist, make_runtime):
    _serve(site, {"drones": ATTACK}, {"drones": _page("drone-attack")})
    runtime = _runtime(site, write_watchlist, make_runtime, first_poll_alerts=False)

    poll(runtime)
    assert _asked(site, "/news/drones") == 0
    _serve(site, {"drones": ATTACK, "later": dict(ATTACK, title="Drones target another base housing US troops")},
           {"later": _page("drone-attack")})
    [second] = poll(runtime)

    assert (_asked(site, "/news/drones"), _asked(site, "/news/later")) == (0, 1)
    assert (second.new_items, second.matches, second.alerts) == (1, 1, 1)


def _item(title: str, text: str = "", url: str | None = "https://news.example/a") -> Item:
    return Item("desk", "k", url, title, text, None)


def test_which_items_ask_for_their_page(write_watchlist, make_runtime):
    scorers = make_runtime(write_watchlist()).scorers
    teaser = _item(ATTACK["title"], "Officials gave no details.")
    long_text = _item(ATTACK["title"], "Officials gave no details. " * 20)
    assert [wants_article(teaser, mode, scorers) for mode in ("never", "auto", "always")] == [False, True, True]
    assert [wants_article(long_text, mode, scorers) for mode in ("auto", "always")] == [False, True]
    assert not wants_article(_item(ATTACK["title"], url=None), "always", scorers)  # no link
    assert not wants_article(_item("Houston wins in overtime"), "always", scorers)  # no term
    # a place and a day, but no attack word, weapon or target: the pre-filter lets it be
    assert not wants_article(_item("Iraq's parliament meets on Monday"), "always", scorers)
    assert not wants_article(_item(INCIDENT["title"], INCIDENT["text"]), "always", scorers)  # paged anyway


def test_a_feed_without_full_text_takes_the_fetch_default(write_watchlist, make_runtime):
    runtime = make_runtime(write_watchlist(feeds=[{"name": "a", "url": "http://127.0.0.1:9/a"},
                                                  {"name": "b", "url": "http://127.0.0.1:9/b", "full_text": "always"}],
                                           fetch={"full_text": "never"}))
    assert (runtime.full_text("a"), runtime.full_text("b")) == ("never", "always")


def test_the_article_terms_survive_the_database():
    stored = Score.stored(PROFILE, "incident", 0.9, "r", {"weapon": ["drone"], "place": ["Syria"],
                                                          ARTICLE: ["Syria"], "negative": ["drill"]})
    assert stored.evidence() == {"weapon": ["drone"], "place": ["Syria"], ARTICLE: ["Syria"],
                                 "negative": ["drill"]}
    assert stored.shown_evidence() == {"weapon": ["drone"], "place": ["Syria (article)"], "negative": ["drill"]}


def test_main_text_drops_navigation_cookies_and_recommendations():
    text = main_text((PAGES / "drone-attack.html").read_bytes(), HTML, "http://x/")
    assert main_text((PAGES / "drone-attack.html").read_bytes(), HTML, "http://y/") == text  # again
    assert text.startswith("Drones target base housing US troops in eastern Syria")
    assert "Deir ez-Zor province" in text and ARTICLE_BREAK not in text
    for junk in ("cookies", "Middle East", "Typhoon", "Cup final", "Sign up", "All rights reserved"):
        assert junk not in text
    assert main_text(b"<html><body></body></html>", HTML, "http://x/") is None
    assert "\u00e9t\u00e9" in (main_text(_latin1_page(), "text/html", "http://x/") or "")


def _latin1_page() -> bytes:
    paragraph = "<p>" + "Un long paragraphe sur un \u00e9t\u00e9 tranquille au bord de la mer. " * 6 + "</p>"
    return (f'<html><head><meta charset="iso-8859-1"></head><body><article><h1>Titre</h1>'
            f"{paragraph * 3}</article></body></html>").encode("latin-1")
