"""Adding feeds to a watchlist file the way a person would: every comment and the layout stay
(ruamel.yaml round trip, with the indentation that gives the file back unchanged), the result is
checked as `monitor check` checks it, and the file is replaced at once (a temporary file beside
it, then os.replace), so a failure at any step leaves it as it was."""

import copy
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ..errors import ConfigError

# (mapping, sequence, offset) indentations tried in turn; the shipped watchlist uses the first
_LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 4, 0), (4, 6, 4), (2, 3, 1), (4, 2, 0))


@dataclass(frozen=True)
class Edited:
    text: str
    layout_kept: bool  # False: the YAML library could not give back the rest of the file unchanged


def with_feeds(text: str, feeds: list[dict], source: str) -> Edited:
    """The watchlist text with `feeds` ({name, url, tags}) appended to its `feeds:` list (made if
    missing), in the style of the entries before them."""
    yaml, layout_kept = _round_trip(text, source)
    data = yaml.load(text)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError("the watchlist is not a mapping of settings", file=source)
    entries = data.get("feeds")
    if entries is None or (isinstance(entries, CommentedSeq) and not entries):
        entries = data["feeds"] = CommentedSeq()  # `feeds: []` becomes a block list
    if not isinstance(entries, CommentedSeq):
        raise ConfigError("feeds: is not a list", file=source)
    flow = not entries or not isinstance(entries[-1], CommentedMap) or entries[-1].fa.flow_style()
    last = len(entries) - 1
    entries.extend(_entry(feed, flow) for feed in feeds)
    if last >= 0 and feeds:
        _move_trailing_comment(entries, last, len(entries) - 1)
    out = io.StringIO()
    yaml.dump(data, out)
    return Edited(out.getvalue(), layout_kept)


def _round_trip(text: str, source: str) -> tuple[YAML, bool]:
    """A round-trip YAML set up with the first indentation that reproduces `text` exactly."""
    for mapping, sequence, offset in _LAYOUTS:
        yaml = _yaml(text)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        out = io.StringIO()
        try:
            yaml.dump(yaml.load(text), out)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=source,
                              line=mark.line + 1 if mark else None) from None
        if out.getvalue() == text:
            return yaml, True
    yaml = _yaml(text)
    yaml.indent(*_LAYOUTS[0])
    return yaml, False


def _yaml(text: str) -> YAML:
    yaml = YAML()  # round trip: comments, key order, flow or block style kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _entry(feed: dict, flow: bool) -> CommentedMap:
    entry = CommentedMap(name=feed["name"], url=DoubleQuotedScalarString(feed["url"]))
    if feed.get("tags"):
        tags = CommentedSeq(feed["tags"])
        tags.fa.set_flow_style()
        entry["tags"] = tags
    if flow:
        entry.fa.set_flow_style()
    return entry


def _move_trailing_comment(entries: CommentedSeq, old_last: int, new_last: int) -> None:
    """Comment lines after the list (before the next key) stay after it: ruamel.yaml keeps them
    on the list's last entry, which is no longer the last one. Its end-of-line comment stays."""
    old, new = _comment_slot(entries, old_last), _comment_slot(entries, new_last)
    if old is None or new is None:
        return
    (comments, slot), (new_comments, new_slot) = old, new
    token = comments[slot] if comments else None
    if token is None:
        return
    end_of_line, _, following = token.value.partition("\n")
    if not following.strip():
        return
    moved = copy.copy(token)
    moved.value = "\n" + following
    token.value = end_of_line + "\n"
    if not end_of_line.strip():
        comments[slot] = None
    new_comments[new_slot] = moved


def _comment_slot(entries: CommentedSeq, index: int) -> tuple[list, int] | None:
    """Where ruamel.yaml keeps the comment after entry `index`: on the list for a flow-style or
    plain entry, on the last key of a block mapping (None: deeper, left alone)."""
    entry = entries[index]
    if isinstance(entry, CommentedMap) and entry and not entry.fa.flow_style():
        key = list(entry)[-1]
        value = entry[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and not value.fa.flow_style():
            return None
        return entry.ca.items.setdefault(key, [None, None, None, None]), 2
    return entries.ca.items.setdefault(index, [None, None, None, None]), 0


def replace_checked(path: Path, original: str, text: str, check: Callable[[Path], object]) -> None:
    """Write `text` to a temporary file beside `path`, `check` it (raises ConfigError), and put
    it in place of `path`, unless the file changed since `original` was read."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        shutil.copymode(path, temporary)
        try:
            check(temporary)
        except ConfigError as exc:
            raise ConfigError(f"the watchlist with the new feeds would not load, so {path} is left "
                              f"as it was: {str(exc).replace(str(temporary), str(path))}") from None
        if path.read_text(encoding="utf-8") != original:
            raise ConfigError("the file changed while the feeds were being added; it is left as it "
                              "is: run the import again", file=str(path))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
