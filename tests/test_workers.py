"""Several workers on one database give exactly the pages one worker gives (hardening: two
PostgreSQL workers each polling one of two feeds that carry the same reports used to page one
attack twice)."""

import threading
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from monitor.pipeline import poll
from monitor.store import OutboxRow
from peers import Route, rss

BASES = [("Ain al-Asad air base", "Anbar"), ("Erbil air base", "Erbil"), ("Tower 22", "Jordan"),
         ("al-Tanf garrison", "Homs"), ("Harir air base", "Erbil"), ("Victory base", "Baghdad"),
         ("Conoco gas field base", "Deir ez-Zor"), ("Green Village base", "Deir ez-Zor"),
         ("Rumalyn Landing Zone", "Hasakah"), ("al-Shaddadi base", "Hasakah")]
START = datetime(2026, 1, 1, 6, 0, tzinfo=timezone.utc)
ATTACKS = 30  # each base three times, 20 days apart: 30 incidents
ROUNDS = 4


def _reports(outlet: str, start: datetime = START) -> list[dict]:
    """One report per attack, each attack two days after the one before, as one outlet tells it."""
    return [{"title": f"Rocket attack targets US forces at {base}",
             "text": f"Several rockets struck {base} in {province}, which houses US troops, "
                     f"overnight, officials told {outlet}.",
             "guid": f"{outlet}-{n}", "link": f"https://{outlet}.example/{n}",
             "published": start + timedelta(days=2 * n)}
            for n, (base, province) in ((n, BASES[n % len(BASES)]) for n in range(ATTACKS))]


def _alerts(runtime) -> int:
    with Session(runtime.engine) as session:
        return sum(1 for row in session.exec(select(OutboxRow)) if row.kind == "alert")


def _serve(feed_server, start: datetime) -> None:
    feed_server.routes["/a.xml"] = Route(rss(_reports(f"alpha{start:%Y%m%d}", start)))
    feed_server.routes["/b.xml"] = Route(rss(_reports(f"bravo{start:%Y%m%d}", start)))


def _watchlist(feed_server, write_watchlist):
    _serve(feed_server, START)
    return write_watchlist(feeds=[{"name": "alpha", "url": feed_server.url("/a.xml")},
                                  {"name": "bravo", "url": feed_server.url("/b.xml")}],
                           first_poll_alerts=True)


def test_one_worker_pages_each_attack_once(feed_server, write_watchlist, make_runtime, clock):
    clock.now = START + timedelta(days=2 * ATTACKS + 1)
    runtime = make_runtime(_watchlist(feed_server, write_watchlist))
    poll(runtime)
    assert _alerts(runtime) == ATTACKS


def test_two_workers_polling_one_feed_each_page_each_attack_once(feed_server, write_watchlist,
                                                                 make_runtime, clock):
    path = _watchlist(feed_server, write_watchlist)
    workers = [make_runtime(path), make_runtime(path)]  # two engines: two processes' worth
    for round_number in range(ROUNDS):  # each round, new attacks that both feeds report
        start = START + timedelta(days=100 * round_number)
        _serve(feed_server, start)
        clock.now = start + timedelta(days=2 * ATTACKS + 1)
        together = threading.Barrier(2)

        def work(runtime, feed):
            together.wait()
            poll(runtime, feed_names=[feed])

        threads = [threading.Thread(target=work, args=(runtime, feed))
                   for runtime, feed in zip(workers, ("alpha", "bravo"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        poll(workers[0])  # what a failed grouping left pending is grouped now
        assert _alerts(workers[0]) == ATTACKS * (round_number + 1), f"round {round_number}"
