"""Alert policy in the watchlist: quiet hours, digest schedules, rate limits, formats, templates."""

from datetime import datetime, timezone

import pytest

from conftest import PROFILES
from monitor.settings.config import load_config
from monitor.errors import ConfigError
from monitor.alerts.render import outbox_messages, render
from monitor.model import Message
from monitor.alerts.routing import due_digests, hold_for, quiet_until

PROFILE = "iraq-syria-militia-attacks"
HOSTILE = 'Rockets <b>hit</b> base & "more" [x](javascript:1)'
ALERT = dict(title=HOSTILE, feed="wire", published=None,
             label="incident", score=0.9, profile=PROFILE, rule=None, layer="rules",
             evidence={"attack": ["rocket"]}, why=HOSTILE,  # the body shows the why, not the title
             text="<script>alert(1)</script>", link="https://n.example/1")


def _load(tmp_path, **settings):
    import yaml
    watchlist = {"profiles_dir": str(PROFILES), "channels": [{"name": "hook", "url": "json://127.0.0.1/x"}],
                 **settings}
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(watchlist, sort_keys=False))
    return load_config(path, environ={})


def _utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_quiet_hours_overnight_in_a_timezone(tmp_path):
    config = _load(tmp_path, routes=[{"profile": PROFILE, "channels": ["hook"], "quiet_hours":
                                      {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}}])
    quiet = config.routes[0].quiet_hours
    assert quiet_until(quiet, _utc(2026, 1, 1, 20, 59)) is None  # 21:59 Berlin
    assert quiet_until(quiet, _utc(2026, 1, 1, 21, 0)) == _utc(2026, 1, 2, 6, 0)
    assert quiet_until(quiet, _utc(2026, 1, 2, 5, 59)) == _utc(2026, 1, 2, 6, 0)
    assert quiet_until(quiet, _utc(2026, 1, 2, 6, 0)) is None
    assert quiet_until(quiet, _utc(2026, 7, 1, 4, 30)) == _utc(2026, 7, 1, 5, 0)  # summer time
    night = _utc(2026, 1, 1, 23, 0)
    assert hold_for(config, "hook", PROFILE, "incident", 1.0, night) == ("quiet", _utc(2026, 1, 2, 6, 0))
    assert hold_for(config, "hook", PROFILE, "related", 1.0, night) is None  # the route does not take it


def test_an_immediate_route_wins_over_quiet_and_digest_routes(tmp_path):
    config = _load(tmp_path, routes=[
        {"profile": PROFILE, "channels": ["hook"], "digest": "0 8 * * *"},
        {"profile": PROFILE, "min_score": 0.9, "channels": ["hook"]}])
    assert hold_for(config, "hook", PROFILE, "incident", 0.95, _utc(2026, 1, 1)) is None
    key, until = hold_for(config, "hook", PROFILE, "incident", 0.5, _utc(2026, 1, 1))
    assert key == due_digests(config)[0].key and until is None


@pytest.mark.parametrize("route, message", [
    ({"digest": "every morning"}, "is not a cron schedule of 5 fields"),
    ({"digest": "0 8 * *"}, "is not a cron schedule of 5 fields"),
    ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
    ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "the quiet period would be empty"),
    ({"quiet_hours": {"start": 1320, "end": "07:00"}}, 'written "HH:MM" (in quotes)'),
])
def test_bad_policy_settings_name_the_field(tmp_path, route, message):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, routes=[{"profile": PROFILE, "channels": ["hook"], **route}])
    assert message in str(error.value) and "routes[0]" in str(error.value)


def test_rate_limit_and_format_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="format"):
        _load(tmp_path, channels=[{"name": "hook", "url": "json://x", "format": "pdf"}])
    config = _load(tmp_path, channels=[{"name": "hook", "url": "json://x", "format": "html",
                                        "rate_limit": {"count": 5, "per": "1m"}}])
    assert config.channels[0].rate_limit.per.total_seconds() == 60


def test_html_escapes_and_markdown_neutralises_item_text():
    _, html = render("alert", ALERT, "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Rockets &lt;b&gt;hit&lt;/b&gt; base &amp; &#34;more&#34;" in html
    assert '<a href="https://n.example/1">' in html
    _, markdown = render("alert", ALERT, "markdown")
    assert r"\[x\]\(javascript:1\)" in markdown and "[Read the source](https://n.example/1)" in markdown
    title, text = render("alert", ALERT, "text")
    assert title.startswith("[INCIDENT] Rockets <b>hit</b>") and "<script>alert(1)</script>" in text


def test_watchlist_templates_override_the_shipped_ones(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "alert_title.j2").write_text("ALERT: {{ title }}")
    (tmp_path / "mine" / "alert_body.html.j2").write_text("<h1>{{ title }}</h1>")
    config = _load(tmp_path, templates_dir="mine",
                   channels=[{"name": "mail", "url": "mailto://x@example.com", "format": "html"},
                             {"name": "hook", "url": "json://x"}])
    message = Message("alert", ALERT)
    mail, hook = outbox_messages(config, message, ["mail", "hook"])
    assert mail.format == "html" and mail.body.startswith("<h1>Rockets &lt;b&gt;hit")
    assert mail.title == hook.title == 'ALERT: Rockets <b>hit</b> base & "more" [x](javascript:1)'
    assert hook.format == "text" and "Why:" in hook.body
    with pytest.raises(ConfigError, match="templates_dir"):
        _load(tmp_path, templates_dir="missing")
