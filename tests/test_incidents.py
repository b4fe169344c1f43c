"""Incident grouping: one alert per real-world event, measured the way the daemon runs it."""

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from conftest import PROFILES
from monitor.cli import app
from monitor.incidents import Report, assign, bcubed, replay
from monitor.classify.scorer import ProfileScorer
from monitor.settings.profile import load_profile

PROFILE = load_profile(PROFILES / "iraq-syria-militia-attacks.yaml")
SCORER = ProfileScorer(PROFILE)
SETTINGS = PROFILE.incidents
START = datetime(2024, 1, 17, 6, 0, tzinfo=timezone.utc)


def _report(title, text="", hours=0.0):
    verdict = SCORER.score(title, text)
    return Report(title, PROFILE.name, verdict.label, START + timedelta(hours=hours), title, text,
                  verdict.evidence(), verdict.evidence(headline_only=True))


def _group(reports):
    """Run reports through assign in order; returns (incident index per report, alerts)."""
    incidents, indexes, alerts = [], [], []
    for report in reports:
        decision = assign(report, incidents, SETTINGS)
        if decision is None:
            indexes.append(None)
            continue
        if decision.opened:
            incidents.append(decision.incident)
            alerts.append(("open", report.title))
        if decision.changes:
            alerts.append(("update", decision.changes))
        indexes.append(incidents.index(decision.incident))
    return indexes, alerts


ASAD_1 = ("Drone attack on Ain al-Asad air base in Iraq, no US troops hurt",
          "An explosive-laden drone struck Ain al-Asad air base in Anbar province on Wednesday.")
ASAD_2 = ("Drone hits Ain al-Assad base housing US forces in western Iraq",
          "The one-way drone struck the air base in Anbar early Wednesday, officials said.")
ERBIL = ("Rockets fired at US base at Erbil airport in northern Iraq",
         "Three rockets were fired at the base at Erbil international airport on Wednesday.")


def test_reports_of_one_attack_form_one_incident_with_one_alert():
    indexes, alerts = _group([_report(*ASAD_1), _report(*ASAD_2, hours=3)])
    assert indexes == [0, 0] and alerts == [("open", ASAD_1[0])]


def test_different_places_on_the_same_day_stay_apart():
    indexes, alerts = _group([_report(*ASAD_1), _report(*ERBIL, hours=2)])
    assert indexes == [0, 1] and len(alerts) == 2


def test_the_same_base_attacked_a_week_apart_is_two_incidents():
    indexes, _ = _group([_report(*ASAD_1), _report(*ASAD_2, hours=24 * 7)])
    assert indexes == [0, 1]


def test_first_casualty_report_sends_one_update_then_no_more():
    wounded = ("Two US troops wounded in drone attack on Ain al-Asad air base",
               "The drone struck Ain al-Asad air base in Anbar province on Wednesday; two were hurt.")
    killed = ("US contractor killed in Ain al-Asad drone attack",
              "The drone hit Ain al-Asad air base in Anbar on Wednesday, killing a contractor.")
    indexes, alerts = _group([_report(*ASAD_1), _report(*wounded, hours=4), _report(*killed, hours=9)])
    assert indexes == [0, 0, 0]
    assert alerts == [("open", ASAD_1[0]), ("update", ("casualties",))]


def test_a_thin_report_joins_an_open_incident_but_never_opens_one():
    thin = ("Pentagon confirms drone attack at Ain al-Asad",
            "Officials said the drone attack at the Anbar air base on Wednesday is under review.")
    joined, _ = _group([_report(*ASAD_1), _report(*thin, hours=5)])
    assert joined == [0, 0]
    alone, alerts = _group([_related(thin)])
    assert alone == [None] and alerts == []


def _related(pair):
    report = _report(*pair)
    return Report(report.key, report.profile, "related", report.when, report.title, report.text,
                  report.evidence)


def test_bcubed_scores_against_true_events():
    gold = {"a": "e1", "b": "e1", "c": "e2"}
    assert bcubed({"a": 1, "b": 1, "c": 2}, gold) == (1.0, 1.0, 1.0)
    precision, recall, _ = bcubed({"a": 1, "b": 1, "c": 1}, gold)
    assert (precision, recall) == (round(5 / 9, 4), 1.0)
    precision, recall, _ = bcubed({"a": 1, "b": 2, "c": 3}, gold)
    assert (precision, recall) == (1.0, round(2 / 3, 4))


def test_eval_reports_incident_grouping(tmp_path):
    items = [
        {"id": "1", "title": ASAD_1[0], "text": ASAD_1[1], "label": "incident", "event": "asad",
         "published": "2024-01-17T06:00:00+00:00"},
        {"id": "2", "title": ASAD_2[0], "text": ASAD_2[1], "label": "incident", "event": "asad",
         "published": "2024-01-17T09:00:00+00:00"},
        {"id": "3", "title": ERBIL[0], "text": ERBIL[1], "label": "incident", "event": "erbil",
         "published": "2024-01-17T10:00:00+00:00"},
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    result = CliRunner().invoke(app, ["eval", str(path), "--json", "--config", str(tmp_path / "x.yaml")])
    grouping = json.loads(result.output)["incidents"]
    assert grouping == {"events": 2, "alerts": 2, "incidents": 2, "alerts_per_event": 1.0,
                        "bcubed_precision": 1.0, "bcubed_recall": 1.0, "bcubed_f1": 1.0,
                        "grouped_items": 3}


def test_an_incident_is_one_attack_a_new_attack_at_the_same_base_pages_again():
    new_attack = ("Three US troops wounded in new drone attack on Ain al-Asad air base",
                  "A drone struck Ain al-Asad air base in Anbar province on Saturday, wounding three.")
    indexes, alerts = _group([_report(*ASAD_1), _report(*ASAD_2, hours=3),
                              _report(*new_attack, hours=24 * 10)])
    assert indexes == [0, 0, 1]
    assert alerts == [("open", ASAD_1[0]), ("open", new_attack[0])]  # a page, not an [UPDATE]


def test_the_same_base_on_two_named_days_is_two_attacks():
    tuesday = ("Rockets fired at Ain al-Asad air base on Tuesday night",
               "Two rockets hit Ain al-Asad air base in Anbar late on Tuesday, officials said.")
    indexes, alerts = _group([_report(*tuesday), _report(*ASAD_1, hours=2)])
    assert indexes == [0, 1] and len(alerts) == 2


def test_an_incident_takes_follow_ups_for_a_bounded_time_from_its_opening():
    follow_up = ("Pentagon: troops diagnosed with brain injuries after Ain al-Asad drone attack",
                 "Several service members at Ain al-Asad air base were diagnosed with concussions.")
    joined, alerts = _group([_report(*ASAD_1), _report(*follow_up, hours=24 * 4)])
    assert joined == [0, 0] and alerts[0] == ("open", ASAD_1[0])
    late, alerts = _group([_report(*ASAD_1), _report(*follow_up, hours=24 * 8)])
    assert late == [0, None] and alerts == [("open", ASAD_1[0])]  # context: no page, no join


def test_a_follow_up_naming_no_place_joins_only_the_single_open_incident_it_can_be():
    follow_up = ("Pentagon: two troops diagnosed with brain injuries after drone attack",
                 "Two US service members in Iraq were diagnosed with concussions after the drone "
                 "attack on their base on Wednesday, officials said.")
    alone, _ = _group([_report(*ASAD_1), _report(*follow_up, hours=6)])
    assert alone == [0, 0]
    erbil_drone = ("Drone attack on Erbil air base in Iraq, no injuries",
                   "An explosive drone targeted the base at Erbil airport on Wednesday.")
    two_open, _ = _group([_report(*ASAD_1), _report(*erbil_drone, hours=1), _report(*follow_up, hours=6)])
    assert two_open == [0, 1, None]


def test_a_report_naming_another_base_never_joins():
    indexes, alerts = _group([_report(*ASAD_1), _report(*ERBIL, hours=1)])
    assert indexes == [0, 1] and len(alerts) == 2


def test_generic_news_never_opens_an_incident():
    for title, text in [
        ("US forces attacked 40 times since mid-October, Pentagon says",
         "US troops in Iraq and Syria have come under rocket and drone attack at least 40 times."),
        ("Iraq condemns attacks on bases hosting US forces",
         "The government condemned the recent attacks on bases hosting US troops in Iraq."),
        ("Analysis: why militias keep firing rockets at US bases in Iraq and Syria",
         "The attacks on US troops test the administration's deterrence strategy."),
    ]:
        report = _report(title, text)
        assert report.label != "incident", title
        assert assign(report, [], SETTINGS) is None, title


def test_negated_casualties_are_not_a_casualty_update():
    unhurt = ("Drone attack on Ain al-Asad: no American personnel were hurt",
              "The drone hit Ain al-Asad air base in Anbar on Wednesday; no US personnel were hurt.")
    _, alerts = _group([_report(*ASAD_1), _report(*unhurt, hours=2)])
    assert alerts == [("open", ASAD_1[0])]


def test_grouping_does_not_depend_on_the_order_reports_arrive_in():
    reports = [_report(*ASAD_1), _report(*ASAD_2, hours=3), _report(*ERBIL, hours=2)]
    forward = [(r.key, d.opened) for r, d in replay(reports, SETTINGS)]
    backward = [(r.key, d.opened) for r, d in replay(list(reversed(reports)), SETTINGS)]
    assert forward == backward
