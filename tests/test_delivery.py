"""Delivery that can be trusted, and the alert policy, with real peers: SMTP (aiosmtpd) and a
JSON webhook. The clock is the only thing faked."""

import email
import json
import subprocess
import sys
import time
from datetime import datetime, timezone

from sqlmodel import Session, select
from typer.testing import CliRunner

from incident_items import INCIDENTS, feed_items
from monitor.cli import app
from monitor.alerts.deliver import dispatch
from monitor.pipeline import poll
from monitor.alerts.routing import due_digests
from monitor.alerts.deliver import send_digest
from monitor.store import OutboxRow
from monitor.store.outbox import CLAIM_OUTBOX_LEASE, claim_outbox, start_send
from monitor.store.workers import worker_id
from peers import JsonEndpoint, Route, SmtpSink, rss

PROFILE = "iraq-syria-militia-attacks"
RELATED = {"title": "Iraqi militia Nujaba vows to step up pressure on US troops",
           "text": "The Iran-backed group said it would continue operations against American forces "
                   "in Iraq and Syria."}
runner = CliRunner()


def _watchlist(write_watchlist, feed_server, reports, channels, routes, **settings):
    feed_server.routes["/a.xml"] = Route(rss(feed_items(reports)))
    return write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}],
                           channels=channels, routes=routes, first_poll_alerts=True, **settings)


def _rows(runtime) -> list[OutboxRow]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(OutboxRow).order_by(OutboxRow.id)))


def _statuses(runtime) -> list[str]:
    return [row.status for row in _rows(runtime)]


def _part(message, content_type: str) -> str:
    parsed = email.message_from_bytes(message.content)
    part = next(p for p in parsed.walk() if p.get_content_type() == content_type)
    return part.get_payload(decode=True).decode()


def _subject(message) -> str:
    return str(email.header.make_header(email.header.decode_header(
        email.message_from_bytes(message.content)["Subject"])))


def test_smtp_down_then_up_each_alert_is_delivered_exactly_once(feed_server, write_watchlist,
                                                                make_runtime, clock):
    sink = SmtpSink()  # not started: connection refused
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, INCIDENTS[:3], [{"name": "mail", "url": sink.url()}],
        [{"profile": PROFILE, "channels": ["mail"]}], dispatch={"retry_base": "30s"}))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 3}
    assert all(r.attempts == 1 and r.last_error and r.claimed_by for r in _rows(runtime))
    clock.advance(seconds=31)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 3}
    sink.start()
    try:
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}  # backing off: 60s
        clock.advance(seconds=61)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 3}
        clock.advance(hours=2)
        poll(runtime)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    finally:
        sink.stop()
    assert sorted(_subject(m) for m in sink.messages) == sorted(f"[INCIDENT] {r['title']}" for r in INCIDENTS[:3])
    assert [(r.status, r.attempts) for r in _rows(runtime)] == [("sent", 3)] * 3


def test_a_claim_left_by_a_dead_dispatcher_is_sent_once_and_a_send_in_flight_is_uncertain(
        feed_server, json_endpoint, write_watchlist, make_runtime, clock):
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, INCIDENTS[:3], [{"name": "hook", "url": json_endpoint.url}],
        [{"profile": PROFILE, "channels": ["hook"]}]))
    poll(runtime)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    dead_worker = worker_id().replace(f":{__import__('os').getpid()}:", f":{gone}:", 1)
    first, second, third = claim_outbox(runtime.engine, clock(), dead_worker, {})
    assert start_send(runtime.engine, first.id, dead_worker, clock())  # died during this call
    live_worker = "elsewhere.example:1:abcd:ef01"  # another host: only its lease can end its claim
    assert start_send(runtime.engine, second.id, live_worker, clock()) is False
    assert _statuses(runtime) == ["sending", "claimed", "claimed"]

    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 2}
    assert _statuses(runtime) == ["uncertain", "sent", "sent"]
    assert len(json_endpoint.posts) == 2 and first.title not in [p["title"] for p in json_endpoint.posts]
    clock.advance(hours=1)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}  # uncertain: never resent


def test_a_message_sent_without_an_answer_is_uncertain_and_not_sent_again(feed_server, write_watchlist,
                                                                          make_runtime, clock):
    """A webhook that takes the message and answers after apprise stopped waiting (a read
    timeout): retried, it got the alert once per attempt."""
    slow = JsonEndpoint(delay=1.0)
    try:
        runtime = make_runtime(_watchlist(
            write_watchlist, feed_server, INCIDENTS[:1], [{"name": "hook", "url": f"{slow.url}?rto=0.3"}],
            [{"profile": PROFILE, "channels": ["hook"]}], dispatch={"retry_base": "30s"}))
        poll(runtime)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"uncertain": 1}
        clock.advance(hours=1)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
        time.sleep(1.0)  # the endpoint answers the request it took
    finally:
        slow.stop()
    [row] = _rows(runtime)
    assert (row.status, row.attempts) == ("uncertain", 1) and "Read timed out" in row.last_error
    assert [post["title"] for post in slow.posts] == [row.title]


def test_an_answer_that_quotes_a_timeout_is_an_answer_and_is_retried(feed_server, write_watchlist,
                                                                     make_runtime, clock):
    """Only the exception of the request says that no answer came: a 503 whose body (or an alert
    whose text) says 'Read timed out' was answered, so nothing was taken and a retry is safe."""
    down = JsonEndpoint(status=503, answer=b"upstream: Read timed out; "
                                           b"Remote end closed connection without response")
    try:
        runtime = make_runtime(_watchlist(
            write_watchlist, feed_server, [dict(INCIDENTS[0], text="The feed said: Read timed out.")],
            [{"name": "hook", "url": down.url}], [{"profile": PROFILE, "channels": ["hook"]}]))
        poll(runtime)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 1}
    finally:
        down.stop()


def test_claims_of_a_worker_on_another_host_return_after_the_lease(feed_server, json_endpoint,
                                                                   write_watchlist, make_runtime, clock):
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, INCIDENTS[:2], [{"name": "hook", "url": json_endpoint.url}],
        [{"profile": PROFILE, "channels": ["hook"]}]))
    poll(runtime)
    other = "elsewhere.example:4242:abcd:ef01"
    claimed, sending = claim_outbox(runtime.engine, clock(), other, {})
    start_send(runtime.engine, sending.id, other, clock())
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}  # maybe still working
    clock.advance(seconds=CLAIM_OUTBOX_LEASE.total_seconds() + 1)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    assert _statuses(runtime) == ["sent", "sending"]
    clock.advance(minutes=5)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    assert _statuses(runtime) == ["sent", "uncertain"] and len(json_endpoint.posts) == 1


def test_quiet_hours_hold_alerts_and_send_one_digest_at_their_end(feed_server, json_endpoint, smtp,
                                                                  write_watchlist, make_runtime, clock):
    clock.now = datetime(2026, 1, 1, 22, 30, tzinfo=timezone.utc)  # 23:30 in Berlin
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, INCIDENTS[:3],
        [{"name": "hook", "url": json_endpoint.url}, {"name": "mail", "url": smtp.url()}],
        [{"profile": PROFILE, "channels": ["hook"],
          "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}},
         {"profile": PROFILE, "channels": ["mail"]}]))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 3}  # mail: not quiet
    assert len(smtp.messages) == 3 and json_endpoint.posts == []
    clock.now = datetime(2026, 1, 2, 5, 59, tzinfo=timezone.utc)  # 06:59 in Berlin
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    clock.now = datetime(2026, 1, 2, 6, 0, 30, tzinfo=timezone.utc)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    [post] = json_endpoint.posts
    assert post["title"] == "[DIGEST] 3 alerts during quiet hours"
    for report in INCIDENTS[:3]:
        assert report["title"] in post["message"]
    assert "https://news.example/i0" in post["message"]
    hook = [r for r in _rows(runtime) if r.channel == "hook"]
    assert [r.status for r in hook] == ["merged"] * 3 + ["sent"]
    assert {r.merged_into for r in hook[:3]} == {hook[3].id} and hook[3].kind == "digest"
    clock.advance(days=1)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}


def test_digest_route_sends_one_scheduled_summary(feed_server, json_endpoint, write_watchlist,
                                                  make_runtime, clock):
    path = _watchlist(
        write_watchlist, feed_server, INCIDENTS[:2] + [RELATED], [{"name": "hook", "url": json_endpoint.url}],
        [{"profile": PROFILE, "min_class": "related", "channels": ["hook"], "digest": "0 8 * * *",
          "timezone": "Europe/Berlin"}])
    runtime = make_runtime(path)
    [digest] = due_digests(runtime.config)
    assert (digest.route_index, digest.cron, digest.timezone) == (0, "0 8 * * *", "Europe/Berlin")
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    assert set(_statuses(runtime)) == {"held"} and len(_rows(runtime)) == 3
    listed = runner.invoke(app, ["outbox", "--config", str(path)]).output
    held = f"held for the {PROFILE} digest (0 8 * * * Europe/Berlin)"  # not a time long past
    assert listed.count(held) == 3, listed
    assert "next attempt" not in listed

    [row_id] = send_digest(runtime, digest, clock())
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    [post] = json_endpoint.posts
    assert post["title"] == "[DIGEST] 3 alerts since the last digest"
    for report in INCIDENTS[:2] + [RELATED]:
        assert report["title"] in post["message"]
    assert send_digest(runtime, digest, clock()) == []  # nothing new: no message
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    assert len(json_endpoint.posts) == 1


def test_rate_limit_merges_the_excess_into_one_message(feed_server, json_endpoint, write_watchlist,
                                                       make_runtime, clock):
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, INCIDENTS,
        [{"name": "hook", "url": json_endpoint.url, "rate_limit": {"count": 2, "per": "1m"}}],
        [{"profile": PROFILE, "channels": ["hook"]}]))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 2}
    clock.advance(seconds=30)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    clock.advance(seconds=31)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    titles = [post["title"] for post in json_endpoint.posts]
    assert titles[2] == "[ALERTS] 4 more alerts"
    sent = titles[:2] + [line for line in json_endpoint.posts[2]["message"].splitlines() if "[INCIDENT]" in line]
    for report in INCIDENTS:  # nothing dropped
        assert sum(report["title"] in line for line in sent) == 1
    clock.advance(minutes=5)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
    assert len(json_endpoint.posts) == 3


def test_html_email_escapes_item_text(feed_server, smtp, write_watchlist, make_runtime, clock):
    hostile = dict(INCIDENTS[0], title='Rockets hit US base in eastern Syria, <5 hurt, "Q&A" <i')
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, [hostile, INCIDENTS[1]],
        [{"name": "mail", "url": smtp.url(), "format": "html"}],
        [{"profile": PROFILE, "channels": ["mail"], "digest": "0 8 * * *"}]))
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    send_digest(runtime, due_digests(runtime.config)[0], clock())
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    html = _part(smtp.messages[0], "text/html")
    assert "&lt;5 hurt, &#34;Q&amp;A&#34; &lt;i" in html and "<i" not in html.replace("<li>", "")
    assert '<a href="https://news.example/i0">' in html


def test_outbox_command_lists_dead_and_retry_sends_again(feed_server, json_endpoint, write_watchlist,
                                                         make_runtime, clock):
    json_endpoint.status = 500
    path = _watchlist(write_watchlist, feed_server, INCIDENTS[:2], [{"name": "hook", "url": json_endpoint.url}],
                      [{"profile": PROFILE, "channels": ["hook"]}], dispatch={"max_attempts": 1})
    runtime = make_runtime(path)
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"dead": 2}

    result = runner.invoke(app, ["outbox", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["status"], r["channel"], r["attempts"]) for r in rows] == [("dead", "hook", 1)] * 2
    assert "500" in rows[0]["last_error"] or "Internal Server Error" in rows[0]["last_error"]
    result = runner.invoke(app, ["outbox", "--config", str(path)])
    assert f"#{rows[0]['id']} dead" in result.output and "last error:" in result.output

    json_endpoint.status = 200
    result = runner.invoke(app, ["outbox", "retry", str(rows[0]["id"]), "--config", str(path)])
    assert result.exit_code == 0, result.output
    clock.now = datetime.now(timezone.utc)  # the command stamps the retry with the real time
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    assert len(json_endpoint.posts) == 1
    result = runner.invoke(app, ["outbox", "retry", str(rows[0]["id"]), "--config", str(path)])
    assert result.exit_code == 2 and "already sent" in result.output
    result = runner.invoke(app, ["outbox", "retry", "999", "--config", str(path)])
    assert result.exit_code == 2 and "no outbox row with id 999" in result.output
    result = runner.invoke(app, ["outbox", "--status", "sent", "--json", "--config", str(path)])
    assert [r["id"] for r in json.loads(result.output)] == [rows[0]["id"]]


def test_each_channel_gets_the_alert_in_its_format(feed_server, smtp, json_endpoint, write_watchlist,
                                                   make_runtime):
    # the body shows the item's text (the headline is the title, not repeated in the body)
    hostile = dict(INCIDENTS[0], text=INCIDENTS[0]["text"] + ' Officials said <5 were hurt, "Q&A" <i')
    runtime = make_runtime(_watchlist(
        write_watchlist, feed_server, [hostile],
        [{"name": "mail", "url": smtp.url(), "format": "html"}, {"name": "hook", "url": json_endpoint.url}],
        [{"profile": PROFILE, "channels": ["mail", "hook"]}]))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 2}
    html = _part(smtp.messages[0], "text/html")
    assert "&lt;5 were hurt, &#34;Q&amp;A&#34; &lt;i" in html and '<a href="https://news.example/i0">' in html
    [post] = json_endpoint.posts
    assert 'Officials said <5 were hurt, "Q&A" <i' in post["message"]
    assert "Why:" in post["message"]
