"""html_to_text's shortcut for plain feed markup gives what the HTML parser gives."""

import html
import random
import re
from pathlib import Path

from monitor import text
from monitor.text import html_to_text

REAL_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-feeds"
PIECES = ["<p>", "</p>", "<br>", "<br/>", "<BR />", '<a href="https://x.example/a?b=1">', "</a>", "<b>",
          "</b>", "A rocket hit the base. ", " Officials said", "<div class='c'>", "</div>", "<", ">",
          "<script>", "x</script>", "<!-- c -->", "&amp;", '<img src="a.png" alt=""/>', "\n", "  ",
          '<p\nclass="x">', "<li>", "<title>", "</title>", "< p>", "</p >", "<a href=x>", "<x-y>",
          "</ br>", '<p a="1" b>', "\u00a0", "\t", "<style>p{}</style>", "<em>", "</EM>"]


def parsed(markup: str) -> str:
    """html_to_text by way of the HTML parser alone."""
    extractor = text._TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return text._tidy(html.unescape("".join(extractor.parts)))


def test_the_shortcut_gives_the_parsers_text():
    rng = random.Random(20261130)
    markups = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12))) for _ in range(20000)]
    for path in sorted(REAL_FEEDS.glob("*")) if REAL_FEEDS.exists() else ():
        markups += re.findall(r"<description>(.*?)</description>", path.read_text("utf-8", "ignore"), re.S)
    short = 0
    for markup in markups:
        assert html_to_text(markup) == parsed(markup), repr(markup)
        short += text._simple_markup_text(markup) is not None
    assert short > 2000  # the shortcut is taken, not only the parser


def test_what_the_shortcut_leaves_to_the_parser():
    for markup in ["a &amp; b", "<p>1 < 2</p>", "<script>x</script>", "<!-- c --><p>x", "<title>t</title>",
                   "<p a=\"x>y\">z</p>"]:
        assert text._simple_markup_text(markup) is None, markup
    assert text._simple_markup_text("<p>Rockets hit <b>a base</b>.</p><p>No one was hurt.</p>") == \
        "Rockets hit a base.\nNo one was hurt."
