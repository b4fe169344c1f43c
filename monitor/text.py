"""Text helpers shared by parsing and classifying: HTML to plain text, folding, sentences.

Folding makes spelling variants meet: accents stripped, case lowered, possessive 's dropped,
apostrophes removed (Kata'ib -> kataib), hyphens and punctuation turned into spaces, and the
Arabic article "al-"/"el-" dropped (al-Asad -> asad). `fold_cased` keeps case so that acronyms
("US", "PMF") can be told from ordinary words ("us"); `fold` is its lower-case twin of the same
length, so offsets agree between the two.
"""

import html
import re
import unicodedata
from html.parser import HTMLParser

_APOSTROPHES = "'\u2019\u2018\u02bc\u02bb`\u00b4"
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s\b")
_APOSTROPHE = re.compile(rf"[{_APOSTROPHES}]")
# applied after punctuation became spaces: "al-Asad" -> "al Asad" -> "Asad"
_ARTICLE = re.compile(r" [aAeE][lL] (?=[A-Za-z])")
# bytes that are not ASCII letters or digits become spaces
_WORD_BYTES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))
# A sentence ends at . ! ? followed by space and an upper-case letter or quote, or at a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019]?\s+(?=[\"'\u201c\u2018(A-Z0-9])|\n\s*")
_NOT_AN_END = re.compile(r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Gen|Col|Lt|Sgt|Capt|Maj|Adm|St|Jr|Sr|"
                         r"No|Jan|Feb|Mar|Apr|Aug|Sept|Sep|Oct|Nov|Dec|Gov|Sen|Rep)|\b[ap]\.m)\.$")


def fold_cased(text: str) -> str:
    """ASCII, punctuation-free, single-spaced text with case kept."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
    if _APOSTROPHE.search(text):
        text = _APOSTROPHE.sub("", _POSSESSIVE.sub("", text))
    words = text.encode("ascii", "ignore").translate(_WORD_BYTES).decode("ascii").split()
    spaced = " " + " ".join(words) + " "
    lower = spaced.lower()
    if " al " in lower or " el " in lower:
        spaced = _ARTICLE.sub(" ", spaced)
    return spaced.strip()


def fold(text: str) -> str:
    return fold_cased(text).lower()


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences; abbreviations like "U.S." or "Col." do not end one."""
    sentences, start = [], 0
    for boundary in _SENTENCE_END.finditer(text):
        candidate = text[start:boundary.start()].rstrip()
        if _NOT_AN_END.search(candidate):
            continue
        if candidate.strip():
            sentences.append(candidate.strip())
        start = boundary.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


_SIMPLE_TAG = re.compile(r"<(?:([A-Za-z][A-Za-z0-9]*)(?:\s+[A-Za-z_][-A-Za-z0-9_:.]*"
                         r"(?:\s*=\s*(?:\"[^\"<>&]*\"|'[^'<>&]*'))?)*\s*/?|/([A-Za-z][A-Za-z0-9]*)\s*)>")
class _TextExtractor(HTMLParser):
    _SKIPPED = {"script", "style", "noscript", "template"}
    _BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
               "section", "article", "figcaption", "ul", "ol", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIPPED and self._skip_depth:
            self._skip_depth -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip_depth:
            self.parts.append(data)


# the skipped elements and those whose content the parser reads raw, in some Python version or other
_RAW_CONTENT = frozenset(_TextExtractor._SKIPPED | {"textarea", "title", "xmp", "iframe", "noembed",
                                                    "noframes", "plaintext"})


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags and scripts dropped, entities decoded, spaces tidied."""
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    simple = _simple_markup_text(markup)
    if simple is not None:
        return simple
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return _tidy(html.unescape("".join(extractor.parts)))


def _simple_markup_text(markup: str) -> str | None:
    """html_to_text's result for the usual feed markup, without the (pure-Python) HTML parser:
    no entity, every "<" opening a plain tag (quoted attribute values without <, > or &), no
    element whose content the parser reads raw. None for anything else."""
    if "&" in markup or "<!" in markup or "<?" in markup:
        return None
    parts = _SIMPLE_TAG.split(markup)  # text, start tag's name, end tag's name, text, ...
    texts = parts[::3]
    names = [(start or end).lower() for start, end in zip(parts[1::3], parts[2::3])]
    if any("<" in text for text in texts) or not _RAW_CONTENT.isdisjoint(names):
        return None
    blocks, current = [], [texts[0]]  # the text between block tags, each tidied alone
    for name, text in zip(names, texts[1:]):
        if name in _TextExtractor._BLOCKS:
            blocks.append("".join(current))
            current = [text]
        else:
            current.append(text)
    blocks.append("".join(current))
    return "\n".join(filter(None, map(_tidy, blocks)))


def _tidy(text: str) -> str:
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # one line, single spaces (isprintable: no other space or line break)
    lines = (" ".join(line.split()) for line in text.splitlines())  # split(): what \s+ matches
    return "\n".join(filter(None, lines))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """The text as a database and UTF-8 can hold it: NUL dropped (PostgreSQL refuses it in text;
    JSON can carry it), a lone surrogate (JSON's "\\ud800", a header byte aiohttp could not
    decode) as U+FFFD."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda found: "" if found[0] == "\x00" else "\ufffd", text)


# An item whose article page was read keeps the page's text after its feed text, behind this
# break (a "dinkus": it folds to nothing, so no term can match it), so that the stored text is
# the text that was scored and the two parts can be told apart again.
ARTICLE_BREAK = "\n\n* * *\n"


def with_article(text: str, article: str) -> str:
    return f"{text}{ARTICLE_BREAK}{article}" if article else text


def split_article(text: str) -> tuple[str, str]:
    """(the feed's text, the article page's text or "") of an item's text."""
    feed_text, _, article = text.partition(ARTICLE_BREAK)
    return feed_text, article


def lede(text: str, limit: int = 400) -> str:
    """The feed's text and, of the article page, the first sentences up to `limit` characters:
    what a feed's summary would say. Incident grouping reads this rather than the whole page,
    whose later paragraphs recall other attacks, other places and other days."""
    feed_text, article = split_article(text)
    if not article:
        return text
    kept, size = [], 0
    for sentence in split_sentences(article):
        if kept and size + len(sentence) > limit:
            break
        kept.append(sentence[:limit])
        size += len(kept[-1]) + 1
    return "\n".join(part for part in (feed_text, " ".join(kept)) if part)
