"""Who may use the dashboard and the API: the token, the login cookie, the CSRF guard, the host
check, and the headers every answer carries. A real uvicorn on 127.0.0.1 and a real database."""

import logging
import re

import pytest
from test_web_api import csrf_of, serving
from typer.testing import CliRunner

from monitor.cli import app as cli
from monitor.errors import ConfigError
from monitor.settings.config import WebConfig, load_config

TOKEN = "Qm8vT4wZ2yR6kN1pX5sJ"
runner = CliRunner()


@pytest.fixture
def runtime(tmp_path, write_watchlist, make_runtime):
    """A runtime without profiles (nothing to score: the guard is what these tests look at)."""
    (tmp_path / "profiles").mkdir()
    return make_runtime(write_watchlist(profiles_dir=str(tmp_path / "profiles")))


def exposed(**settings) -> WebConfig:
    """What the app is told when the daemon listens on every interface (the tests' socket stays on
    127.0.0.1: the app's rules come from the config, not from the socket)."""
    return WebConfig(listen="0.0.0.0:8080", token=TOKEN, **settings)


def test_listening_beyond_loopback_without_a_token_is_refused_at_load(tmp_path, write_watchlist, monkeypatch):
    path = write_watchlist(web={"listen": "0.0.0.0:8080"})
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert re.search(r"monitor.yaml:\d+: web: listen '0.0.0.0:8080' is reachable from other machines: set a "
                     r"token", str(refused.value))
    result = runner.invoke(cli, ["serve", "--config", str(path)])
    assert result.exit_code == 2 and "set a token" in result.output

    path = write_watchlist(web={"listen": "127.0.0.1:8080", "token": "${MONITOR_TOKEN}"})
    with pytest.raises(ConfigError, match=r"environment variable MONITOR_TOKEN is not set \(web.token\)"):
        load_config(path)
    monkeypatch.setenv("MONITOR_TOKEN", "short")
    with pytest.raises(ConfigError, match="5 characters long; use at least 16") as short:
        load_config(path)
    assert "short" not in str(short.value).replace("5 characters long", "")
    monkeypatch.setenv("MONITOR_TOKEN", TOKEN)
    config = load_config(path)
    assert config.web.token.get_secret_value() == TOKEN and TOKEN in config.secrets()
    assert load_config(write_watchlist(web=None)).web is None
    result = runner.invoke(cli, ["serve", "--config", str(write_watchlist()), "--listen", "0.0.0.0:9"])
    assert result.exit_code == 2 and "--listen: listen '0.0.0.0:9' is reachable" in result.output


def test_with_a_token_the_api_wants_the_bearer_and_every_answer_is_401_without(runtime):
    with serving(runtime, exposed()) as client:
        bare = client.get("/api/v1/incidents")
        wrong = client.get("/api/v1/incidents", headers={"Authorization": "Bearer not-the-token-at-all"})
        right = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {TOKEN}"})
        page = client.get("/incidents")
        open_metrics = [client.get(path).status_code for path in ("/metrics", "/healthz", "/readyz")]
        post = client.post("/api/v1/score", json={"title": "x"})
    assert (bare.status_code, bare.headers["www-authenticate"]) == (401, "Bearer")
    assert wrong.status_code == 401 and right.status_code == 200
    assert page.status_code == 401 and 'name="token"' in page.text and "Incidents</h1>" not in page.text
    assert open_metrics == [200, 200, 200]
    assert post.status_code == 401

    with serving(runtime, exposed(open_metrics=False)) as client:
        assert [client.get(p).status_code for p in ("/metrics", "/healthz", "/readyz")] == [401] * 3
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/metrics", headers=bearer).status_code == 200


def test_the_login_sets_a_signed_httponly_strict_cookie_and_forms_need_its_csrf_token(runtime, caplog):
    caplog.set_level(logging.INFO)
    with serving(runtime, exposed()) as client:
        login = client.get("/login")
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert client.post("/login", data={"token": TOKEN}).status_code == 403  # no CSRF token
        wrong = client.post("/login", data={"token": "guess-guess-guess", "csrf_token": csrf_of(login.text)})
        assert wrong.status_code == 401 and "That is not the token." in wrong.text
        signed_in = client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(login.text),
                                                "next": "/feeds"})
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/feeds")
        assert client.get("/incidents").status_code == 200
        assert client.get("/api/v1/outbox").status_code == 200  # the cookie works for reading the API

        form = client.get("/try").text
        assert client.post("/try", data={"title": "x"}).status_code == 403
        assert client.post("/try", data={"title": "x", "csrf_token": "0" * 64}).status_code == 403
        assert client.post("/try", data={"title": "x", "csrf_token": csrf_of(form)}).status_code == 200
        assert client.post("/api/v1/score", json={"title": "x"}).status_code == 403  # cookie, no CSRF header
        assert client.post("/api/v1/score", json={"title": "x"},
                           headers={"X-CSRF-Token": csrf_of(form)}).status_code == 200
        assert client.post("/outbox/1/retry", data={}).status_code == 403

        client.cookies.set("monitor_session", client.cookies["monitor_session"][:-2] + "xx")
        assert client.get("/incidents").status_code == 401  # a tampered cookie is no session
    bearer = serving(runtime, exposed())
    with bearer as other:
        answer = other.post("/api/v1/score", json={"title": "x"},
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200  # the bearer token needs no CSRF token
    assert TOKEN not in caplog.text and "guess-guess" not in caplog.text
    assert "failed sign-in from 127.0.0.1" in caplog.text


def test_signing_out_ends_the_session(runtime):
    with serving(runtime, exposed()) as client:
        login = client.get("/login")
        client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(login.text)})
        page = client.get("/incidents").text
        assert "Sign out" in page
        assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
        assert client.get("/incidents").status_code == 401


def test_without_a_token_only_loopback_names_are_answered_and_posts_still_need_csrf(runtime):
    with serving(runtime) as client:
        rebound = client.get("/incidents", headers={"Host": "attacker.example:8080"})
        assert rebound.status_code == 400 and "127.0.0.1 or localhost" in rebound.text
        assert client.get("/incidents", headers={"Host": "localhost:8080"}).status_code == 200
        assert client.post("/try", data={"title": "x"}).status_code == 403
        assert client.post("/api/v1/score", json={"title": "x"}).status_code == 200  # JSON, no foreign origin
        assert client.post("/api/v1/score", content='{"title": "x"}',
                           headers={"Content-Type": "text/plain"}).status_code == 403
        assert client.post("/api/v1/score", json={"title": "x"},
                           headers={"Origin": "https://attacker.example"}).status_code == 403
        huge = client.post("/api/v1/score", json={"title": "x", "text": "word " * 300_000})
        assert huge.status_code == 413 and "at most 1048576 bytes" in huge.text


def test_every_answer_carries_the_content_security_policy(runtime):
    policy = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
              "frame-ancestors 'none'")
    with serving(runtime, exposed()) as client:
        answers = [client.get("/incidents"), client.get("/api/v1/feeds"), client.get("/static/style.css"),
                   client.get("/nowhere"), client.post("/try"), client.get("/healthz")]
    assert [a.status_code for a in answers] == [401, 401, 200, 401, 401, 200]
    for answer in answers:
        assert answer.headers["content-security-policy"] == policy, answer.url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert TOKEN not in answer.text and TOKEN not in str(answer.headers)
