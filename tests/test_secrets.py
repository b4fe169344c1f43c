"""Secrets never leak, whole or in pieces: not to the log, the database, `monitor outbox`,
`monitor notify-test` or `monitor check`, and not as a host name looked up (issue 10, items 7 and 11e).

Passwords with URL separators in them used to be split by apprise: "xy@zK9vQ7SECRET" made it send
to a host "zK9vQ7SECRET" and say so in its error. The peers are real: a JSON endpoint answering 500,
an SMTP server that is not running, and a URL apprise rejects (it names the bad value)."""

import logging
import re
from urllib.parse import quote

import apprise
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from conftest import INCIDENT
from monitor.alerts.deliver import dispatch, send, url_problem
from monitor.cli import app
from monitor.errors import ChannelError
from monitor.logs import redact, setup_logging
from monitor.pipeline import poll
from monitor.settings.config import ChannelConfig
from monitor.store import OutboxRow
from peers import JsonEndpoint, Route, SmtpSink, rss

PROFILE = "rockets"
# A one-rule profile: the shipped one takes seconds to load, and every command here loads it.
TINY_PROFILE = """name: rockets
groups:
  attack: {weight: 1.0, terms: [rocket*]}
rules:
  - {name: rocket-attack, class: incident, groups: [attack]}
"""
SECRETS = ["xy@zK9vQ7SECRET", "p/qW4mT2SECRET", "r:s#t&u%vSECRET3"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_monitor_log_handler_left():
    """The commands install a stderr handler on the root logger; take it away after each test."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_monitor", False)]:
        root.removeHandler(handler)


def _fragments_in(text: str, secret: str) -> set[str]:
    """Every run of 4 characters of the secret (as written or percent-encoded) found in `text`."""
    forms = {secret, quote(secret, safe="")}
    runs = {form[i:i + 4] for form in forms for i in range(len(form) - 3)}
    return {run for run in runs if run.lower() in text.lower()}


@pytest.fixture
def watchlist(write_watchlist, feed_server, tmp_path):
    """A watchlist of one feed with one incident, routed to `channels`, with the tiny profile."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "rockets.yaml").write_text(TINY_PROFILE)
    feed_server.routes["/a.xml"] = Route(rss([dict(INCIDENT, guid="x1", link="https://news.example/x1")]))

    def write(channels, routed=True):
        names = [channel["name"] for channel in channels]
        return write_watchlist(feeds=[{"name": "wire", "url": feed_server.url("/a.xml")}], channels=channels,
                               routes=[{"profile": PROFILE, "channels": names}] if routed else [],
                               first_poll_alerts=True, profiles_dir=str(tmp_path / "profiles"))

    return write


@pytest.fixture(scope="module")
def peers():
    """apprise URLs with ${PW}, by peer, and what each error says when the peer on 127.0.0.1 was
    reached (so no host named after a piece of the secret was looked up)."""
    endpoint, sink = JsonEndpoint(status=500), SmtpSink()  # the SMTP server never starts: refused
    yield {"json-500": (f"json://monitor:${{PW}}@127.0.0.1:{endpoint.port}/alerts", "error=500"),
           "smtp-refused": ((f"mailto://monitor:${{PW}}@127.0.0.1:{sink.port}"
                             "?from=monitor@example.com&to=ops@example.com"), "Connection refused"),
           # apprise rejects the URL and names the bad value
           "rejected-url": ("json://127.0.0.1:9/alerts?method=${PW}", "apprise rejected the URL")}
    endpoint.stop()


def _channel(name: str, url: str, environ: dict) -> ChannelConfig:
    return ChannelConfig.model_validate({"name": name, "url": url}, context={"environ": environ})


@pytest.mark.parametrize("peer", ["json-500", "smtp-refused", "rejected-url"])
@pytest.mark.parametrize("secret", SECRETS)
def test_a_channel_error_names_no_fragment_of_the_secret(secret, peer, peers, caplog):
    url, reached = peers[peer]
    with caplog.at_level(logging.DEBUG), pytest.raises(ChannelError) as error:
        send(_channel("mail", url, {"PW": secret}), "[TEST] title", "body")
    assert reached in str(error.value)
    assert not _fragments_in(str(error.value), secret), str(error.value)
    assert not _fragments_in(caplog.text, secret), caplog.text


def test_no_fragment_of_a_secret_reaches_the_log_the_database_or_the_cli(
        peers, watchlist, make_runtime, monkeypatch, caplog):
    """One channel per peer, each with its own secret: the alert fails on all three."""
    channels = []
    for index, (peer, (url, _)) in enumerate(peers.items()):
        monkeypatch.setenv(f"PW{index}", SECRETS[index])
        channels.append({"name": peer, "url": url.replace("${PW}", f"${{PW{index}}}")})
    path = watchlist(channels)
    runtime = make_runtime(path)
    with caplog.at_level(logging.DEBUG):
        poll(runtime)
        # two will be retried; the URL apprise rejects can never send: dead at once
        assert dispatch(runtime.config, runtime.engine, runtime.clock) == {"pending": 2, "dead": 1}
    with Session(runtime.engine) as session:
        errors = {row.channel: row.last_error for row in session.exec(select(OutboxRow))}
    assert all(reached in errors[peer] for peer, (_, reached) in peers.items()), errors
    listed = runner.invoke(app, ["outbox", "--config", str(path)])
    assert all(error in listed.output for error in errors.values())
    database = runtime.config.database.removeprefix("sqlite:///")  # its tmp path names this test
    shown = {"log": caplog.text, "outbox.last_error": "\n".join(errors.values()),
             "monitor outbox": listed.output.replace(database, "DATABASE")}
    for peer in peers:
        tested = runner.invoke(app, ["notify-test", peer, "--config", str(path)])
        assert tested.exit_code == 1 and peers[peer][1] in tested.output
        shown[f"monitor notify-test {peer}"] = tested.output
    for where, text in shown.items():
        for secret in SECRETS:
            assert not _fragments_in(text, secret), (where, text)


@pytest.mark.parametrize("secret", ["abcd", "TopSecretPW77", *SECRETS])
def test_check_names_no_character_of_a_password_in_a_url_apprise_cannot_parse(secret):
    """apprise writes such a URL out with the password as its first and last characters ("T...7"):
    half of a four-character password."""
    problem = url_problem(_channel("bad", "foo://monitor:${PW}@host.example/x", {"PW": secret}))
    assert "foo://host.example/..." in problem, problem
    assert f"{secret[0]}...{secret[-1]}" not in problem and not _fragments_in(problem, secret), problem


@pytest.mark.parametrize("url", ["tgram://${PW}/12345", "json://127.0.0.1:9/x?method=${PW}"])
def test_a_url_apprise_masks_as_first_and_last_characters_shows_no_host(url):
    """apprise writes a token in the host's place, or a host, as "1...w"."""
    problem = url_problem(_channel("bad", url, {"PW": "bad1234567token"}))
    assert problem and not re.search(r"\w\.\.\.\w", problem), problem
    assert "://.../..." not in problem  # a public form is not made public again


@pytest.mark.parametrize("secret", SECRETS)
def test_a_password_with_url_separators_reaches_apprise_whole(secret):
    """${VAR} values in user:password@ and in the query are percent-encoded; apprise decodes them."""
    environ = {"USER": "ops@example.com", "PW": secret, "HOOK": "json://127.0.0.1:9/alerts"}
    for url in ("mailto://${USER}:${PW}@127.0.0.1:25?from=monitor@example.com",
                "mailto://127.0.0.1:25?user=${USER}&pass=${PW}&from=monitor@example.com"):
        parsed = apprise.Apprise.instantiate(_channel("mail", url, environ).url.get_secret_value())
        assert (parsed.host, parsed.user, parsed.password) == ("127.0.0.1", "ops@example.com", secret)
    hook = apprise.Apprise.instantiate(_channel("hook", "${HOOK}", environ).url.get_secret_value())
    assert (hook.host, hook.port) == ("127.0.0.1", 9)  # a whole URL in a variable is used as written


def test_redact_masks_every_fragment_of_four_characters_and_the_encoded_forms():
    secret = "xy@zK9/qW4:r#s&t%uSECRET"
    text = ("to host zk9; topic (qW4:r) invalid; url /api/webhooks/zK9/qW4:r; privacy xy@z...T; "
            "encoded xy%40zK9%2FqW4%3Ar%23s%26t%25usecret; plain r#s&t%uSECRET; error=500")
    redacted = redact(text, [secret])
    assert not _fragments_in(redacted, secret), redacted
    assert "to host zk9;" in redacted  # a run of 3 characters is not masked: it would blank ordinary text
    assert redacted.endswith("; error=500") and "topic (***) invalid" in redacted


def test_a_password_that_is_a_word_is_masked_in_urls_and_channel_errors_not_in_alert_titles(
        capsys, watchlist, make_runtime, monkeypatch):
    """Alerts go to the log (no route); the log filter must not blank "attack" in their title."""
    monkeypatch.setenv("PW", "attack")
    url = f"mailto://ops:${{PW}}@127.0.0.1:{SmtpSink().port}?to=ops@example.com"
    runtime = make_runtime(watchlist([{"name": "mail", "url": url}], routed=False))
    setup_logging(runtime.config.secrets())
    poll(runtime)
    dispatch(runtime.config, runtime.engine, runtime.clock)
    log = logging.getLogger("monitor.test")
    log.warning("posting to %s", runtime.config.channel("mail").url.get_secret_value())
    log.warning("alert id=1 channel=mail status=pending error=channel 'mail': login attack refused")
    logged = capsys.readouterr().err
    assert "ALERT (no channel configured) [INCIDENT] Rocket attack hits US base" in logged
    assert "posting to mailto://ops:***@127.0.0.1:" in logged
    assert "error=channel 'mail': login *** refused" in logged


def test_check_masks_feed_passwords_and_secret_query_parameters(write_watchlist, tmp_path):
    (tmp_path / "profiles").mkdir()
    feed = "https://reader:pw-Zq81x@127.0.0.1:8443/feed.xml?q=iraq&api_key=key-7Hd2&token=tok-9Jd2"
    path = write_watchlist(feeds=[{"name": "paid", "url": feed}], profiles_dir=str(tmp_path / "profiles"))
    result = runner.invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "paid: https://reader:***@127.0.0.1:8443/feed.xml?q=iraq&api_key=***&token=***" in result.output
    for secret in ("pw-Zq81x", "key-7Hd2", "tok-9Jd2"):
        assert secret not in result.output
