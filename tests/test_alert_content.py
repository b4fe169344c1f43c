"""Alert content: scores that spread below 1, a "why" a reader understands, and structured fields
for JSON webhooks (apprise json://), sent for real to an endpoint on 127.0.0.1."""

import logging
from pathlib import Path

import pytest
import yaml
from conftest import INCIDENT_2, PROFILES
from incident_items import INCIDENTS, feed_items
from peers import JsonEndpoint, Route, rss
from sqlmodel import Session, select

from monitor.alerts.deliver import dispatch, send_digest
from monitor.alerts.routing import due_digests, route_channels
from monitor.alerts.why import casualty_counts, reason
from monitor.classify.rules import LINEAR_UP_TO, Classifier, spread
from monitor.errors import ConfigError
from monitor.pipeline import poll
from monitor.settings.config import load_config
from monitor.settings.profile import load_profile
from monitor.store import OutboxRow

PROFILE = "iraq-syria-militia-attacks"


@pytest.fixture(scope="module")
def profile():
    return load_profile(PROFILES / f"{PROFILE}.yaml")


@pytest.fixture(scope="module")
def classifier(profile):
    return Classifier(profile)


# ---- scores ----------------------------------------------------------------------------------

def test_the_score_is_the_sum_up_to_the_knee_then_grows_without_reaching_one():
    assert [spread(x) for x in (0.0, 0.35, LINEAR_UP_TO)] == [0.0, 0.35, LINEAR_UP_TO]
    above = [spread(x) for x in (0.61, 0.9, 1.15, 1.5, 2.0, 3.0)]
    assert above == sorted(above) and len(set(above)) == len(above)
    assert LINEAR_UP_TO < above[0] and above[-1] < 1.0


def test_a_report_with_more_details_scores_higher_and_a_route_min_score_tells_them_apart(
        classifier, tmp_path):
    detailed = classifier.score("Rocket attack on US base in Syria wounds two US soldiers")
    sparse = classifier.score("US forces attacked")
    assert {"place", "weapon", "us_target", "casualty"} <= set(detailed.evidence())
    assert set(sparse.evidence()) == {"us_target", "attack"}
    assert sparse.score < detailed.score < 1.0

    # two incidents that both scored 1.00 before: a min_score between them routes only one
    bare = classifier.score("Drone attack on US base in Syria")
    rich = classifier.score("Drone attack on US base in Syria wounds two US soldiers; "
                            "Kataib Hezbollah claims it")
    assert bare.label == rich.label == "incident"
    assert bare.score < 0.9 < rich.score < 1.0
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({
        "profiles_dir": str(PROFILES), "channels": [{"name": "hook", "url": "json://127.0.0.1/x"}],
        "routes": [{"profile": PROFILE, "min_score": 0.9, "channels": ["hook"]}]}))
    config = load_config(path, environ={})
    assert route_channels(config, rich) == ["hook"] and route_channels(config, bare) == []


# ---- the why ---------------------------------------------------------------------------------

@pytest.mark.parametrize("title, text, why", [
    ("Rocket attack on Ain al-Asad air base in Iraq wounds two US soldiers",
     "Kataib Hezbollah claimed responsibility for the attack on Tuesday.",
     "rocket attack on Ain al-Asad and US forces (Anbar, Iraq), 2 wounded, claimed by Kataib Hezbollah"),
    ("Drone attack on US base in Syria kills one US contractor, wounds five US service members", "",
     "drone attack on US base and US forces (Syria), 1 killed, 5 wounded"),
    (INCIDENT_2["title"], INCIDENT_2["text"],
     "drone and explosive attack on Ain al-Asad and US forces (Anbar, Iraq), 2 wounded"),
    ("Rockets target coalition base near Rumalyn in north-east Syria", "No one was hurt.",
     "rocket targeted on coalition and Rumalyn (Hasakah, region of the theatre, Syria), no casualties"),
    ("Iraqi militia Nujaba vows to step up pressure on US troops",
     "The Iran-backed group said it would continue operations against American forces in Iraq.",
     "threat — US forces (Iraq), Harakat al-Nujaba named"),
    ("Drone attack on US base in eastern Syria wounds two service members",  # the group, not its description
     "An Iran-backed militia group, the Islamic Resistance in Iraq, claimed responsibility.",
     "drone attack on US base (region of the theatre, Syria, Iraq), 2 wounded, "
     "claimed by Islamic Resistance in Iraq"),
    ("Rocket attack on Ain al-Asad air base in Iraq",  # two groups named: both
     "Kataib Hezbollah and Iran's Revolutionary Guards claimed the attack.",
     "rocket attack on Ain al-Asad (Anbar, Iraq), claimed by Kataib Hezbollah and IRGC"),
])
def test_the_why_reads_as_a_sentence_from_the_profile_roles(profile, classifier, title, text, why):
    verdict = classifier.score(title, text)
    line = reason(profile, verdict.evidence(), title, text)
    assert line == why
    assert not any(f"{group}:" in line or group in line.split() for group in profile.groups
                   if "_" in group or group in ("when", "tally", "generic", "harmed"))


def test_internal_groups_are_not_shown_and_a_profile_without_roles_gets_a_list(profile, classifier):
    title = "Rocket attack hits US base in eastern Syria on Monday"
    evidence = classifier.score(title).evidence()
    assert evidence["when"] == ["day"] and "day" not in reason(profile, evidence, title)
    unroled = profile.model_copy(update={"groups": {name: group.model_copy(update={"role": None})
                                                    for name, group in profile.groups.items()}})
    listed = reason(unroled, evidence, title)
    assert listed == "rocket, attack, strike, US base, region of the theatre, Syria, day"
    assert reason(None, {"hazard": ["wildfire"], "place": ["town"], "negative": ["drill"]}) == "wildfire, town"


@pytest.mark.parametrize("text, counts", [
    ("Trio of suicide drones strike US base in Syria, wounding 2", {"wounded": "2"}),
    ("killing three US soldiers and wounding 34.", {"killed": "3", "wounded": "34"}),
    ("a US contractor was killed and five US service members were wounded", {"killed": "1", "wounded": "5"}),
    ("US revealed 11 of its troops had been injured in the attack", {"wounded": "11"}),
    ("no one was hurt", {}),
    ("Two rockets hit the base; none of the troops were injured", {}),
    ("two rockets landed, killed nobody", {}),
])
def test_casualty_counts_need_a_number_next_to_people_and_harm(text, counts):
    assert casualty_counts(text) == counts


def test_an_unknown_role_is_refused_with_where_and_what_is_allowed(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ngroups:\n  hazard:\n    weight: 0.5\n    role: weapons\n"
                    "    terms: [wildfire]\nrules:\n  - {name: r, class: incident, groups: [hazard]}\n")
    with pytest.raises(ConfigError) as error:
        load_profile(path)
    assert "groups.hazard.role" in str(error.value) and "'weapon'" in str(error.value)


# ---- structured fields for JSON webhooks --------------------------------------------------------

ASAD = {"title": "Drone attack on Ain al-Asad air base in Iraq, no US troops hurt",
        "text": "An explosive-laden drone struck Ain al-Asad air base in Anbar province on Wednesday."}
ASAD_WOUNDED = {"title": "Two US troops wounded in drone attack on Ain al-Asad air base",
                "text": "The drone struck Ain al-Asad air base in Anbar on Wednesday; two were hurt."}


def _watchlist(write_watchlist, feed_server, reports, channel_url, **route):
    feed_server.routes["/a.xml"] = Route(rss(feed_items(reports)))
    return write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}],
                           channels=[{"name": "hook", "url": channel_url}],
                           routes=[{"profile": PROFILE, "channels": ["hook"], **route}], first_poll_alerts=True)


def test_an_update_carries_its_incident_and_why(feed_server, json_endpoint, write_watchlist, make_runtime):
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, [ASAD, ASAD_WOUNDED], json_endpoint.url))
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    alert, update = json_endpoint.posts
    assert (alert["kind"], update["kind"]) == ("alert", "update")
    assert alert["incident_id"] == update["incident_id"] is not None
    assert update["headline"] == ASAD_WOUNDED["title"] and update["link"] == "https://news.example/i1"
    assert update["why"] == "drone attack on US forces and Ain al-Asad (Anbar), 2 wounded"
    assert update["evidence"]["casualty"] == ["wounded"] and update["source"] == "wire"


def test_a_digest_lists_its_alerts_and_the_urls_own_payload_arguments_win(
        feed_server, json_endpoint, write_watchlist, make_runtime, clock):
    url = json_endpoint.url + "?:kind=monitor&:title=subject"  # a field renamed, one overridden
    runtime = make_runtime(_watchlist(write_watchlist, feed_server, INCIDENTS[:2], url, digest="0 8 * * *"))
    poll(runtime)
    [digest] = due_digests(runtime.config)
    send_digest(runtime, digest, clock())
    assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"sent": 1}
    [post] = json_endpoint.posts
    assert post["kind"] == "monitor" and post["subject"] == "[DIGEST] 2 alerts since the last digest"
    assert [entry["title"] for entry in post["entries"]] == ["[INCIDENT] " + r["title"] for r in INCIDENTS[:2]]
    assert "headline" not in post


def test_webhook_secrets_stay_out_of_logs_errors_and_the_database(feed_server, write_watchlist,
                                                                  make_runtime, caplog):
    password, token = "hook-Pa55-s3cret", "t0ken-s3cret-value"
    failing = JsonEndpoint(status=500)
    try:
        url = (f"json://monitor:${{HOOK_PASSWORD}}@127.0.0.1:{failing.port}/alerts"
               f"?+X-Token=${{HOOK_TOKEN}}&:auth=${{HOOK_TOKEN}}")
        runtime = make_runtime(_watchlist(write_watchlist, feed_server, INCIDENTS[:1], url),
                               environ={"HOOK_PASSWORD": password, "HOOK_TOKEN": token})
        with caplog.at_level(logging.DEBUG):
            poll(runtime)
            assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 1}
    finally:
        failing.stop()
    with Session(runtime.engine) as session:
        [row] = session.exec(select(OutboxRow)).all()
    assert "500" in row.last_error or "error" in row.last_error.lower()
    for secret in (password, token):
        assert secret not in row.last_error and secret not in caplog.text
        assert secret not in row.body and secret not in row.title


def test_the_shipped_profile_gives_every_group_a_role(profile):
    assert all(group.role for group in profile.groups.values())
    assert Path(PROFILES / f"{PROFILE}.yaml").resolve() == \
        (Path(__file__).resolve().parents[1] / "monitor" / "profiles" / f"{PROFILE}.yaml").resolve()
