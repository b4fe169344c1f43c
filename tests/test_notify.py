"""Alert delivery through apprise to real peers: SMTP (aiosmtpd) and a JSON webhook."""

import email
import logging

from sqlmodel import Session, select

from conftest import INCIDENT
from monitor.alerts.deliver import dispatch
from monitor.pipeline import poll
from monitor.store import OutboxRow
from peers import Route, SmtpSink, free_port, rss

PROFILE = "iraq-syria-militia-attacks"


def _watchlist(write_watchlist, feed_server, channel_url, **settings):
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="x1", link="https://news.example/x1")]))
    return write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}],
                           channels=[{"name": "mail", "url": channel_url}],
                           routes=[{"profile": PROFILE, "min_class": "incident", "channels": ["mail"]}],
                           first_poll_alerts=True, **settings)


def _outbox(runtime):
    with Session(runtime.engine) as session:
        return list(session.exec(select(OutboxRow)))


def _body(message) -> str:
    parsed = email.message_from_bytes(message.content)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def test_email_alert_reaches_a_real_smtp_server(smtp, feed_server, write_watchlist, make_runtime):
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, smtp.url()))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}

    [message] = smtp.messages
    assert message.rcpt_tos == ["ops@example.com"]
    subject = email.message_from_bytes(message.content)["Subject"]
    assert subject.startswith("[INCIDENT] Rocket attack hits US base in eastern Syria")
    body = _body(message)
    for expected in ("Why:       rocket attack on US base and a base (", "Deir ez-Zor, Syria), no casualties",
                     "Source:    wire, published 2024-01-17 06:00 UTC",
                     "Class:     incident (score 0.", "Link:      https://news.example/x1"):
        assert expected in body
    # the subject carries the headline; the body says why for a reader, without group names
    assert INCIDENT["title"] not in body
    assert not any(f"{group}:" in body for group in ("attack", "us_target", "site", "place", "when", "unharmed"))


def test_json_webhook_receives_the_alert_with_its_fields(json_endpoint, feed_server, write_watchlist,
                                                         make_runtime):
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, json_endpoint.url))
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    [post] = json_endpoint.posts
    assert post["title"].startswith("[INCIDENT]") and "Deir ez-Zor" in post["message"]
    assert post["kind"] == "alert" and isinstance(post["incident_id"], int)
    assert (post["headline"], post["link"], post["source"], post["published"]) == (
        INCIDENT["title"], "https://news.example/x1", "wire", "2024-01-17T06:00:00+00:00")
    assert post["class"] == "incident" and 0.6 <= post["score"] < 1
    assert post["why"].startswith("rocket attack on US base") and post["evidence"]["weapon"] == ["rocket"]


def test_alert_waits_while_smtp_is_down_then_is_delivered_once(feed_server, write_watchlist,
                                                               make_runtime, clock):
    sink = SmtpSink()  # not started: connection refused
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, sink.url(),
                                      dispatch={"retry_base": "30s"}))
    poll(runtime)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 1}
    [row] = _outbox(runtime)
    assert row.status == "pending" and row.attempts == 1 and row.last_error

    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}  # backing off
    sink.start()
    try:
        clock.advance(seconds=31)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
        clock.advance(hours=1)
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {}
        poll(runtime)
        dispatch(runtime.config, runtime.engine, runtime.clock)
    finally:
        sink.stop()
    assert len(sink.messages) == 1
    [row] = _outbox(runtime)
    assert row.status == "sent" and row.attempts == 2


def test_rows_are_given_up_after_the_last_attempt(feed_server, write_watchlist, make_runtime, clock):
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, SmtpSink().url(),
                                      dispatch={"max_attempts": 2, "retry_base": "1s"}))
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    clock.advance(seconds=5)
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"dead": 1}
    [row] = _outbox(runtime)
    assert row.status == "dead" and row.attempts == 2


def test_secrets_never_reach_logs_errors_or_the_database(feed_server, write_watchlist,
                                                         make_runtime, caplog):
    secret = "s3cr3t-Pa55word"
    port = free_port()  # nothing listens there
    url = f"mailto://monitor:${{SMTP_PASSWORD}}@127.0.0.1:{port}?from=monitor@example.com&to=ops@example.com"
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, url),
                           environ={"SMTP_PASSWORD": secret})
    with caplog.at_level(logging.DEBUG):
        poll(runtime)
        dispatch(runtime.config, runtime.engine, runtime.clock)
    [row] = _outbox(runtime)
    assert row.status == "pending" and row.last_error
    assert secret not in row.last_error and secret not in row.body and secret not in row.title
    assert secret not in caplog.text
    assert secret not in repr(runtime.config)
    with runtime.engine.connect() as connection:
        dump = "\n".join(str(line) for line in connection.connection.iterdump()) \
            if runtime.engine.dialect.name == "sqlite" else ""
    assert secret not in dump
