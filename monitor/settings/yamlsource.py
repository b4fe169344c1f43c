"""Load YAML files into pydantic models, turning validation errors into file:line: field messages."""

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_model(path: Path, model: type[Model], context: dict | None = None) -> Model:
    """Read `path`, validate it as `model`; raise ConfigError naming file, line and field."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8",
                          file=str(path)) from None
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
        data = yaml.load(source, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML: {problem}", file=str(path), line=line) from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(first["loc"])
        raise ConfigError(_message(first), file=str(path), line=line_of(root, location),
                          field=dotted(location) or None) from None


def error_at(path: Path, location: tuple, message: str) -> ConfigError:
    """A ConfigError for a problem found after validation, pointing at `location` in the file."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        root = None
    return ConfigError(message, file=str(path), line=line_of(root, location), field=dotted(location))


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
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
            if child is None:  # a missing field: point at the mapping that lacks it
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        else:
            break
        node = child
        line = node.start_mark.line + 1
    return line
