"""The shipped templates escape every value they insert, per format (issue 10, item 8b).

Markdown is checked as a channel shows it: converted to HTML by apprise (Python-Markdown), the way
apprise converts a Markdown body for an HTML service. Links reach the templates from the parser
and from digest entries, so the templates must hold on their own, whatever a link looks like."""

import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from apprise import NotifyFormat
from apprise.conversion.format import convert_between

from monitor.alerts.render import render

INJECTED_LINK = "https://x/a)[Re-login](https://evil.example/"
HOSTILE_TITLE = 'Rockets hit base [Re-login](https://evil.example/) <b>"now"</b> & more'
HOSTILE_FEED = "wire](https://evil.example/)<script>alert(1)</script>"


def _values(kind: str, title: str = HOSTILE_TITLE, feed: str = HOSTILE_FEED,
            link: str = INJECTED_LINK) -> dict:
    """The values a template of `kind` gets, with a hostile title, feed name and link."""
    # the why carries the hostile title too: alert bodies no longer repeat the title
    item = dict(title=title, feed=feed, link=link, evidence={"attack": ["rocket"]}, why=title,
                text=f"{title} said {feed}")
    if kind == "alert":
        return dict(item, published=None, label="incident", score=1.0, profile="p", rule="r", layer="rules")
    if kind == "update":
        return dict(item, incident_title=title, incident_id=7, sources=2, opened="2026-01-01 12:00 UTC",
                    changes=("casualties",))
    entries = [dict(title=title, link=link, feed=feed), dict(title="second", link="https://x/2", feed=None)]
    return dict(reason="quiet", entries=entries, count=len(entries))


class _Tags(HTMLParser):
    """The (tag, attributes) of every start tag of an HTML text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def links(self) -> list[str]:
        return [attrs.get("href") for tag, attrs in self.tags if tag == "a"]


def _links_as_shown(markdown: str) -> list[str]:
    return _Tags(convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, markdown)).links()


@pytest.mark.parametrize("kind, links", [("alert", 1), ("update", 1), ("digest", 2)])
def test_markdown_link_title_and_feed_cannot_add_a_link(kind, links):
    _, body = render(kind, _values(kind), "markdown")
    shown = _links_as_shown(body)
    assert len(shown) == links and {urlsplit(href).hostname for href in shown} == {"x"}, body
    assert "%29" in body and "%28" in body  # the link's parentheses are percent-encoded


@pytest.mark.parametrize("kind", ["alert", "update", "digest"])
@pytest.mark.parametrize("link", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
                                  " https://x/leading-space", "//evil.example/no-scheme"])
def test_only_http_links_become_links(kind, link):
    for body_format in ("markdown", "html"):
        _, body = render(kind, _values(kind, link=link), body_format)
        shown = _links_as_shown(body) if body_format == "markdown" else _Tags(body).links()
        assert all(urlsplit(href).hostname == "x" and href.startswith("https://x/2") for href in shown), body


def test_markdown_escapes_characters_that_would_format_or_open_html():
    title = "*bold* _it_ `code` # head ==== <img src=x> | table |"
    _, body = render("alert", _values("alert", title=title), "markdown")
    html = convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, body)
    tags = {tag for tag, _ in _Tags(html).tags}
    assert not tags & {"em", "code", "h1", "img", "table", "script"}, html
    assert "*bold* _it_ `code` # head ==== &lt;img src=x&gt; | table |" in html  # shown as written


@pytest.mark.parametrize("kind", ["alert", "update", "digest"])
def test_html_escapes_text_and_attribute_values(kind):
    values = _values(kind, title='"><script>alert(1)</script>', feed="<img src=x onerror=alert(1)>",
                     link='https://x/a" onmouseover="alert(1)')
    _, body = render(kind, values, "html")
    tags = _Tags(body).tags
    assert {tag for tag, _ in tags} <= {"p", "strong", "br", "ul", "ol", "li", "blockquote", "a"}, body
    for tag, attributes in tags:
        assert set(attributes) <= ({"href"} if tag == "a" else set()), body
    assert 'https://x/a" onmouseover="alert(1)' in _Tags(body).links()  # one attribute, quote escaped


CONTROL_TITLE = "Rocket\x1b[31m attack\x00 on\u202e base\r\nLink:      https://evil.example/\x85end"


@pytest.mark.parametrize("kind", ["alert", "update", "digest"])
@pytest.mark.parametrize("body_format", ["text", "markdown", "html"])
def test_no_raw_control_characters_and_no_forged_lines(kind, body_format):
    values = _values(kind, title=CONTROL_TITLE, feed="wi\x07re\nSource:    forged", link="https://x/1\n2")
    title, body = render(kind, values, body_format)
    assert not [c for c in title if unicodedata.category(c) == "Cc"], repr(title)
    assert not [c for c in body if unicodedata.category(c) == "Cc" and c != "\n"], repr(body)
    assert "\u202e" not in title + body
    for line in body.splitlines():
        assert not line.lstrip("> ").startswith(("Link:      https://evil", "Source:    forged")), repr(body)
