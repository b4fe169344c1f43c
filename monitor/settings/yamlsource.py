"""Load YAML files into pydantic models, turning validation errors into file:line: field messages.

Every problem of a file is reported, not only the first: each place validation found wrong, then
what the file's `checks` find in the data as read (references between its parts, which pydantic
cannot see field by field). Checks read the data as written, so they run even when validation
failed, and an entry that failed validation still counts as there (no "unknown channel" for a
channel whose URL is wrong). Validation errors that follow from another are left out: pydantic's
one-per-member errors for a union value (`groups[0].str`, `groups[0].tuple[str, ...]`) become one,
a list or mapping holding a reported error gets no "too short after validation" of its own, and a
validator may stop with `not_checked` (e.g. every term after a profile's spelling budget is spent).
"""

import gc
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from ..errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
Check = Callable[[Any], list[tuple[tuple, str]]]  # the data as read -> [(location, problem)]
NOT_CHECKED = "not_checked"


# libyaml's parser when PyYAML was built with it (its wheels are): a watchlist of 50,000 feeds
# reads in about a second instead of twenty.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else \
                self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def not_checked(reason: str) -> PydanticCustomError:
    """An error that stops a validator without being reported: another one already says why."""
    return PydanticCustomError(NOT_CHECKED, reason)


def read_yaml(path: Path) -> tuple[yaml.Node | None, Any]:
    """The file's node tree (for line numbers) and its data ({} when empty); ConfigError when the
    file cannot be read or is not YAML (then nothing else in it can be checked)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                          file=str(path)) from None
    try:
        root, data = _parse(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=str(path), line=line) from None
    return root, {} if data is None else data


def _parse(source: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (kept for line numbers) and the data built from it."""
    loader = _UniqueKeyLoader(source)
    try:
        with _collector_paused():
            root = loader.get_single_node()
            return root, None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


@contextmanager
def _collector_paused():
    """A large watchlist is a million new objects, and each pass of the cyclic garbage collector
    rescans those made so far: 50,000 feeds read in 7 s with it and 1.5 s without. Nothing made
    here holds a cycle that must be freed before the end."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def validate(path: Path, root: yaml.Node | None, data: Any, model: type[Model], context: dict | None = None,
             checks: Check | None = None) -> tuple[Model | None, list[ConfigError]]:
    """`data` validated as `model` (None if invalid), and every problem found in it, by line."""
    problems: list[ConfigError] = []
    try:
        with _collector_paused():
            validated = model.model_validate(data, context=context)
    except ValidationError as exc:
        validated, problems = None, _places(path, root, exc)
    if checks is not None:
        with _collector_paused():
            found = checks(data)
        problems += [located(path, root, location, message) for location, message in found]
    return validated, by_line(problems)


def load_model(path: Path, model: type[Model], context: dict | None = None,
               checks: Check | None = None) -> Model:
    """Read `path`, validate it as `model`; raise ConfigError naming file, line and field of every
    problem."""
    root, data = read_yaml(path)
    validated, problems = validate(path, root, data, model, context, checks)
    if problems:
        raise ConfigError.of(problems)
    return validated


def by_line(problems: list[ConfigError]) -> list[ConfigError]:
    return sorted(problems, key=lambda problem: problem.line or 0)


def _places(path: Path, root: yaml.Node | None, exc: ValidationError) -> list[ConfigError]:
    """One problem per place validation found wrong (see the module docstring for those left out)."""
    found: dict[tuple, str] = {}
    for error in exc.errors():
        if error["type"] == NOT_CHECKED:
            continue
        location = tuple(error["loc"])
        if error["type"] != "missing":  # a missing field is named; a union member's name is cut off
            location = reached(root, location)[0]
        found.setdefault(location, _message(error))
    inside = {other[:depth] for other in found for depth in range(len(other))}
    return [located(path, root, location, message) for location, message in found.items()
            if location not in inside]


def located(path: Path, root: yaml.Node | None, location: tuple, message: str) -> ConfigError:
    return ConfigError(message, file=str(path), line=line_of(root, location), field=dotted(location) or None)


def error_at(path: Path, location: tuple, message: str) -> ConfigError:
    """A ConfigError for a problem found after validation, pointing at `location` in the file."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        root = None
    return located(path, root, location, message)


def _message(error: dict) -> str:
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    return message


def dotted(location: tuple) -> str:
    """('feeds', 2, 'url') -> 'feeds[2].url'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def line_of(node: yaml.Node | None, location: tuple) -> int | None:
    """1-based line of the deepest YAML node that `location` reaches."""
    return reached(node, location)[1]


def reached(node: yaml.Node | None, location: tuple) -> tuple[tuple, int | None]:
    """How much of `location` is in the YAML tree (all of it without a tree), and the 1-based
    line of the deepest node it reaches: for a missing field, of the mapping that lacks it."""
    if node is None:
        return location, None
    line = node.start_mark.line + 1
    for depth, part in enumerate(location):
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            return location[:depth], line
        node, line = child, child.start_mark.line + 1
    return location, line
