"""The REST API and the pages, over HTTP to a real uvicorn on 127.0.0.1, after a real poll of local
feeds into a real database (SQLite; PostgreSQL too with MONITOR_TEST_DATABASE_URL)."""

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import INCIDENT, INCIDENT_2, ORDINARY, PROFILES, Clock, _database_params, fresh_database
from peers import FeedServer, JsonEndpoint, Route, free_port, rss

from monitor.alerts.deliver import dispatch
from monitor.pipeline import Runtime, poll
from monitor.settings.config import WebConfig, load_config
from monitor.store import open_database
from monitor.web.app import CSP, create_app
from monitor.web.server import WebServer, listen

PROFILE = "iraq-syria-militia-attacks"
SECRET = "Zq9xW7vK3pL2mN8r"  # the channel's ${HOOK_TOKEN}: must reach no page, no API answer
HOSTILE = "Drone attack on Ain al-Asad air base in Iraq wounds two US troops <img src=x onerror=alert(1)//"
TAG_ONLY = "<img src=x onerror=alert(1)>"  # the parser drops the tag; the item is kept by its text
SECOND_SOURCE = {"title": "Rockets strike base housing US troops near Deir ez-Zor in Syria",
                 "text": "A coalition spokesman said several rockets hit the base on Wednesday; "
                         "no one was hurt."}


def _day(day: int, hour: int = 6) -> datetime:
    return datetime(2024, 1, day, hour, 0, tzinfo=timezone.utc)


@dataclass
class Polled:
    runtime: Runtime
    hook: JsonEndpoint
    path: Path


@contextmanager
def polled_feeds(kind: str, folder: Path):
    """Three feeds polled once (one failing), their incidents grouped, and the alerts dead: the
    channel answered 500 and dispatch.max_attempts is 1."""
    feeds, hook = FeedServer().start(), JsonEndpoint(status=500)
    feeds.routes["/wire.xml"] = Route(rss([
        dict(INCIDENT, guid="w0", link="https://news.example/deir", published=_day(17)),
        dict(title=HOSTILE, text=INCIDENT_2["text"], guid="w1", link="javascript:alert(3)",
             published=_day(18)),
        dict(title=TAG_ONLY, text="Weather: rain over Baghdad on Thursday.", guid="w2",
             published=_day(18, 8)),
        dict(ORDINARY, guid="w3", link="https://sports.example/rockets", published=_day(18, 9))]))
    feeds.routes["/desk.xml"] = Route(rss([dict(SECOND_SOURCE, guid="d0", link="https://desk.example/1",
                                                published=_day(17, 9))]))
    feeds.routes["/broken.xml"] = Route(b"oops", status=500, content_type="text/plain")
    watchlist = {"database": fresh_database(kind, folder), "profiles_dir": str(PROFILES),
                 "max_item_age": "36500d", "first_poll_alerts": True, "dispatch": {"max_attempts": 1},
                 "feeds": [{"name": n, "url": feeds.url(f"/{n}.xml")} for n in ("wire", "desk", "broken")],
                 "channels": [{"name": "hook",
                               "url": hook.url.replace("/alerts", "/alerts?token=${HOOK_TOKEN}")}],
                 "routes": [{"profile": PROFILE, "channels": ["hook"]}]}
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(watchlist, sort_keys=False))
    try:
        with pytest.MonkeyPatch.context() as environment:
            environment.setenv("HOOK_TOKEN", SECRET)
            environment.delenv("MONITOR_DATABASE_URL", raising=False)
            config = load_config(path)
            runtime = Runtime(config, open_database(config.database), clock=Clock())
            poll(runtime)
            dispatch(runtime.config, runtime.engine, runtime.clock)
            yield Polled(runtime, hook, path)
            runtime.engine.dispose()
    finally:
        hook.stop()
        feeds.stop()


@pytest.fixture(scope="module", params=_database_params())
def polled(request, tmp_path_factory):
    """Shared by the module's tests (loading the profile takes a second); the test that retries
    comes last."""
    with polled_feeds(request.param, tmp_path_factory.mktemp("web")) as state:
        yield state


@contextmanager
def served(runtime: Runtime, web: WebConfig | None = None, **status):
    """The app on a real uvicorn bound to 127.0.0.1 (whatever `web` says it listens on: its token
    and open_metrics are what the app takes from it); yields the base URL."""
    local = WebConfig(listen=f"127.0.0.1:{free_port()}")
    server = WebServer(create_app(lambda: runtime, web or local, **status), local, listen(local)).start()
    try:
        yield server.url.rstrip("/")
    finally:
        server.stop()
        server.join(5)


@contextmanager
def serving(runtime: Runtime, web: WebConfig | None = None, **status):
    """`served`, with an httpx client for it."""
    with served(runtime, web, **status) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def test_incidents_come_newest_first_with_their_sources_and_pages(polled):
    with serving(polled.runtime) as client:
        answer = client.get("/api/v1/incidents")
    assert answer.status_code == 200 and answer.headers["content-security-policy"] == CSP
    incidents = answer.json()["incidents"]
    assert [i["title"] for i in incidents] == [HOSTILE, INCIDENT["title"]]
    assert answer.json()["next_cursor"] is None
    first = incidents[1]
    assert [(s["feed"], s["title"], s["link"], s["published"]) for s in first["sources"]] == [
        ("wire", INCIDENT["title"], "https://news.example/deir", "2024-01-17T06:00:00Z"),
        ("desk", SECOND_SOURCE["title"], "https://desk.example/1", "2024-01-17T09:00:00Z")]
    [page] = first["sources"][0]["pages"]
    assert (page["kind"], page["channel"], page["status"], page["attempts"]) == ("alert", "hook", "dead", 1)
    assert incidents[0]["sources"][0]["link"] is None  # javascript: is no link
    assert SECRET not in answer.text


def test_the_cursor_walks_every_incident_once_and_filters_narrow_the_list(polled):
    with serving(polled.runtime) as client:
        seen, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/incidents", params=params).json()
            seen += [i["id"] for i in page["incidents"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = [i["id"] for i in client.get("/api/v1/incidents").json()["incidents"]]
        assert seen == everything and len(seen) == 2

        def titles(**params):
            answer = client.get("/api/v1/incidents", params=params)
            assert answer.status_code == 200, answer.text
            return [i["title"] for i in answer.json()["incidents"]]

        assert titles(**{"from": "2024-01-18"}) == [HOSTILE]
        assert titles(to="2024-01-17") == [INCIDENT["title"]]
        assert titles(profile="no-such-profile") == []
        assert titles(profile=PROFILE, **{"class": "incident"}) == [HOSTILE, INCIDENT["title"]]
        for params, problem in (({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"), ({"from": "18.01.2024"}, "from:"),
                                ({"class": "urgent"}, "class:"), ({"limit": "0"}, "limit:")):
            answer = client.get("/api/v1/incidents", params=params)
            assert answer.status_code == 400 and problem in answer.json()["error"], answer.text


def test_one_incident_shows_each_reports_evidence_marked_and_hostile_text_as_text(polled):
    with serving(polled.runtime) as client:
        listed = client.get("/api/v1/incidents").json()["incidents"]
        hostile = client.get(f"/api/v1/incidents/{listed[0]['id']}").json()
        page = client.get(f"/incidents/{listed[0]['id']}").text
        other = client.get(f"/incidents/{listed[1]['id']}").text
        missing = client.get("/incidents/9999")
    assert hostile["sources"][0]["text"] == INCIDENT_2["text"]
    assert "onerror" in hostile["title"]  # the API gives the text as it is; pages escape it
    assert "&lt;img src=x onerror=alert(1)//" in page and "<img src" not in page
    assert "javascript:" not in page
    assert re.search(r'<mark class="term" title="us_target">Ain Asad<sub>us_target</sub></mark>', page)
    assert '<a href="https://news.example/deir" rel="noopener noreferrer nofollow"' in other
    assert "desk" in other and "dead after 1 attempt" in other
    assert missing.status_code == 404 and "no incident #9999" in missing.text


def test_feeds_show_failing_first_and_a_feeds_items_with_their_class(polled):
    with serving(polled.runtime) as client:
        feeds = client.get("/api/v1/feeds").json()["feeds"]
        items = client.get("/api/v1/feeds/wire/items").json()
        page = client.get("/feeds").text
        feed_page = client.get("/feeds/wire").text
        unknown = client.get("/api/v1/feeds/nope/items")
    assert [f["name"] for f in feeds] == ["broken", "desk", "wire"]
    broken = feeds[0]
    assert broken["failing"] and broken["error_count"] == 1 and "HTTP 500" in broken["last_error"]
    assert broken["backoff_seconds"] > 0 and broken["silent_for_seconds"] is None
    assert feeds[2]["items_seen"] == 4 and feeds[2]["silent_for_seconds"] == 0
    classes = {item["title"]: item["classes"] for item in items["items"]}
    assert classes[HOSTILE] == {PROFILE: "incident"} and classes[ORDINARY["title"]] == {}
    assert page.index("broken") < page.index("desk") and "HTTP 500" in page
    assert "&lt;img src=x onerror=alert(1)//" in feed_page and "<img src" not in feed_page
    assert unknown.status_code == 404


def test_scoring_a_text_gives_class_score_and_the_marked_evidence(polled):
    with serving(polled.runtime) as client:
        answer = client.post("/api/v1/score", json={"title": INCIDENT["title"], "text": INCIDENT["text"]})
        [result] = answer.json()["results"]
        assert (result["profile"], result["class"]) == (PROFILE, "incident") and result["score"] > 0.5
        headline = result["marked"][0]
        assert headline["label"] == "headline"
        assert {"text": "Rocket", "group": "attack"} in headline["segments"]
        assert "".join(s["text"] for s in headline["segments"]) == INCIDENT["title"].replace(",", "")
        for body, problem in (("[1]", "JSON object"), ('{"title": 3}', "title: must be a string"),
                              ('{"title": " "}', "nothing to score"), ("not json", "not JSON"),
                              ('{"title": "x", "profile": "nope"}', "unknown 'nope'")):
            answer = client.post("/api/v1/score", content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 400 and problem in answer.json()["error"], answer.text

        form = client.get("/try").text
        page = client.post("/try", data={"title": ORDINARY["title"], "text": ORDINARY["text"],
                                         "csrf_token": csrf_of(form)}).text
        assert f"{PROFILE}: <span class=\"verdict\">none</span>" in page


def test_matches_come_newest_first_with_their_incident(polled):
    with serving(polled.runtime) as client:
        matches = client.get("/api/v1/matches").json()["matches"]
        related = client.get("/api/v1/matches", params={"class": "related"}).json()["matches"]
        bad = client.get("/api/v1/matches", params={"since": "yesterday"})
    assert [m["id"] for m in matches] == sorted((m["id"] for m in matches), reverse=True)
    assert {m["title"] for m in matches} >= {INCIDENT["title"], HOSTILE}
    assert all(m["class"] == "related" for m in related)
    assert all(m["incident_id"] for m in matches if m["class"] == "incident")
    assert bad.status_code == 400 and "since:" in bad.json()["error"]


def test_every_page_renders_without_a_secret(polled):
    with serving(polled.runtime) as client:
        pages = {path: client.get(path, follow_redirects=True)
                 for path in ("/", "/incidents", "/feeds", "/feeds/wire", "/outbox", "/outbox?status=all",
                              "/try", "/watchlist")}
        api = [client.get(path).text
               for path in ("/api/v1/incidents", "/api/v1/outbox?status=all", "/api/v1/feeds")]
    for path, answer in pages.items():
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"] == CSP, path
        assert SECRET not in answer.text and SECRET not in answer.headers.get("set-cookie", ""), path
    assert all(SECRET not in text for text in api)
    watchlist = pages["/watchlist"].text
    assert "json://127.0.0.1" in watchlist and "They load without error" in watchlist
    assert "max_attempts: 1" in watchlist and "first_poll_alerts: true" in watchlist


def test_the_watchlist_page_shows_a_rejected_edit_with_its_line(polled):
    """Each problem of the edit on a line of its own (`monitor check` reports them all)."""
    good = polled.path.read_text()
    polled.path.write_text(good.replace("max_attempts: 1", "max_attempts: none")
                           .replace("first_poll_alerts: true", "first_poll_alerts: sometimes"))
    try:
        with serving(polled.runtime) as client:
            page = client.get("/watchlist").text
    finally:
        polled.path.write_text(good)
    problems = re.findall(r"<li>(\S*monitor.yaml:\d+: [^<]*)</li>", page)
    assert sorted(problem.split(": ")[1] for problem in problems) == [
        "dispatch.max_attempts", "first_poll_alerts"], page
    assert "max_attempts: 1" in page  # the running config is still the good one


def test_a_dead_alert_is_retried_by_the_rules_of_outbox_retry(polled):
    """Last in the module: it changes the outbox the other tests read."""
    with serving(polled.runtime) as client:
        dead = client.get("/api/v1/outbox").json()["outbox"]
        assert {(r["status"], r["attempts"]) for r in dead} == {("dead", 1)} and len(dead) == 2
        assert SECRET not in str(dead)
        headers = {"Content-Type": "application/json"}
        retried = client.post(f"/api/v1/outbox/{dead[0]['id']}/retry", headers=headers)
        assert retried.status_code == 200 and retried.json()["outbox"]["status"] == "pending"
        again = client.post(f"/api/v1/outbox/{dead[0]['id']}/retry", headers=headers)
        assert again.status_code == 409 and "still on its way" in again.json()["error"]
        assert client.post("/api/v1/outbox/999/retry", headers=headers).status_code == 404

        polled.hook.status = 200
        assert dispatch(polled.runtime.config, polled.runtime.engine, polled.runtime.clock) == {"sent": 1}
        sent = client.get("/api/v1/outbox", params={"status": "sent"}).json()["outbox"]
        assert [r["id"] for r in sent] == [dead[0]["id"]] and len(polled.hook.posts) == 1

        page = client.get("/outbox").text
        assert page.count(">Retry</button>") == 1  # the other row, still dead
        answer = client.post(f"/outbox/{dead[1]['id']}/retry", data={"csrf_token": csrf_of(page)},
                             follow_redirects=True)
        assert answer.status_code == 200 and f"Outbox row #{dead[1]['id']} is pending again" in answer.text
        sent_again = client.post(f"/outbox/{dead[0]['id']}/retry", data={"csrf_token": csrf_of(page)})
        assert sent_again.status_code == 409 and "already sent" in sent_again.text


def test_the_watchlist_page_shows_the_watchers_last_rejected_edit(polled):
    """The daemon's watcher remembers the last edit it rejected, with its file:line error, after
    the file is fixed again."""
    from monitor.daemon.watch import ConfigWatcher
    watcher = ConfigWatcher(polled.runtime.config)
    good = polled.path.read_text()
    polled.path.write_text(good.replace("max_attempts: 1", "max_attempts: none"))
    clock = polled.runtime.clock
    try:
        for _ in range(3):  # seen, stable for the watcher's window, then judged
            watcher.poll(polled.runtime)
            polled.runtime.clock = lambda now=polled.runtime.clock() + timedelta(seconds=2): now
    finally:
        polled.path.write_text(good)
        polled.runtime.clock = clock
    assert watcher.last_rejection is not None
    with serving(polled.runtime, last_rejection=lambda: watcher.last_rejection) as client:
        page = client.get("/watchlist").text
    assert "The last rejected edit" in page
    assert re.search(r"monitor.yaml:\d+: dispatch.max_attempts:", page.split("The last rejected edit")[1]), page
