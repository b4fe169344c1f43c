"""`kill -9` of `monitor run` during polling and during dispatch, then restart: no alert lost,
none sent twice, no item half-stored, and only the send in flight at the kill is `uncertain`.
Real processes, a real feed server and a real SMTP server (aiosmtpd)."""

import asyncio
import email
import sqlite3
import time
from datetime import datetime, timezone
from email.header import decode_header, make_header

import pytest

from incident_items import INCIDENTS, feed_items
from peers import Route, SmtpSink, rss, wait_for, start_monitor_run


class SlowSmtp(SmtpSink):
    """Keeps each message, then waits `delay` seconds before answering 250 (a send in flight)."""

    delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        await asyncio.sleep(self.delay)
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(email.message_from_bytes(m.content)["Subject"])))
                for m in self.messages]


def _kill(process) -> None:
    process.kill()  # SIGKILL: no clean-up of any kind
    process.communicate(timeout=10)


def _query(database, sql: str) -> list[tuple]:
    if not database.exists():
        return []
    with sqlite3.connect(database, timeout=30) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # schema not created yet
            return []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kill_9_during_polling_and_during_dispatch_loses_and_doubles_nothing(feed_server, write_watchlist,
                                                                            tmp_path):
    smtp = SlowSmtp().start()
    fast, slow = INCIDENTS[:3], INCIDENTS[3:5]
    feed_server.routes["/fast.xml"] = Route(rss(feed_items(fast, "f")))
    feed_server.routes["/slow.xml"] = Route(rss(feed_items(slow, "s")), delay=30)
    path = write_watchlist(
        feeds=[{"name": "fast", "url": feed_server.url("/fast.xml"), "interval": "1h"},
               {"name": "slow", "url": feed_server.url("/slow.xml"), "interval": "1h"}],
        channels=[{"name": "mail", "url": smtp.url()}],
        routes=[{"profile": "iraq-syria-militia-attacks", "channels": ["mail"]}],
        first_poll_alerts=True, tick="1s", dispatch={"interval": "1s"})
    database = tmp_path / "monitor.db"
    sent = lambda: _query(database, "select count(*) from outbox where status = 'sent'")[0][0] \
        if _query(database, "select count(*) from outbox") else 0
    daemon = None
    try:
        # 1. Killed while polling: the slow feed's response is still on its way.
        daemon = start_monitor_run(path)
        assert wait_for(lambda: sent() == 3 and any(p == "/slow.xml" for p, _ in feed_server.requests))
        _kill(daemon)
        assert _query(database, "select count(*) from item") == [(3,)]  # the slow feed: nothing stored
        # The slow feed stays claimed for its lease (10 minutes); stand in for that time passing.
        feed_server.routes["/slow.xml"].delay = 0
        with sqlite3.connect(database) as connection:
            connection.execute("update feed set next_due_at = ? where name = 'slow'",
                               (datetime(2000, 1, 1, tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),))

        # 2. Killed while a send is in flight: the SMTP server has the message, the 250 not sent.
        smtp.delay = 30
        daemon = start_monitor_run(path)
        assert wait_for(lambda: len(smtp.messages) == 4)
        _kill(daemon)
        in_flight = smtp.subjects()[3]

        # 3. Restarted with the mail server answering again: everything else goes out, once.
        smtp.delay = 0
        daemon = start_monitor_run(path)
        assert wait_for(lambda: sent() == 4 and len(smtp.messages) == 5)
        time.sleep(2)  # a few more dispatch runs: nothing more may go out
    finally:
        if daemon is not None and daemon.poll() is None:
            _kill(daemon)
        smtp.stop()

    subjects = smtp.subjects()
    assert sorted(subjects) == sorted(f"[INCIDENT] {r['title']}" for r in fast + slow)  # each once
    outbox = _query(database, "select status, title, match_id from outbox order by id")
    assert sorted(status for status, _, _ in outbox) == ["sent"] * 4 + ["uncertain"]
    assert [title for status, title, _ in outbox if status == "uncertain"] == [in_flight]
    # No item half-stored: every item has its match, every match its outbox row.
    assert _query(database, "select count(*) from item") == [(5,)]
    assert _query(database, "select count(*) from item where id not in (select item_id from match)") == [(0,)]
    assert _query(database, "select count(*) from match where id not in "
                            "(select match_id from outbox where channel = 'mail')") == [(0,)]
