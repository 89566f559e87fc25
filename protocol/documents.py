"""YAML documents read with the line of every key, and checked field by field.

One way to check every file the parts read: a benchmark (the controller), a policy (the
controller before anything starts, then the control node), a node's configuration (its agent).
A mistake is a :class:`protocol.errors.ConfigError` that names the file, the line, the field and,
for a misspelt key or value, the nearest valid one: ``bench.yaml:9: test.rounds[0].rateControl.type:
unknown rate controller 'fixed-rte' (did you mean 'fixed-rate'?)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from protocol.errors import ConfigError, did_you_mean

FieldPath = tuple[str | int, ...]


def field_name(path: FieldPath) -> str:
    """('test', 'rounds', 0, 'label') -> 'test.rounds[0].label'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class Document:
    path: Path
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)
    key_texts: dict[FieldPath, str] = field(default_factory=dict)
    """Mapping keys as written, before YAML typed them (`001` would otherwise become 1)."""
    prefix: FieldPath = ()
    """Where this document sits in the file it came from (see :meth:`part`)."""
    anchored: set[FieldPath] = field(default_factory=set)
    """Values that define a YAML anchor (``key: &name``): Caliper files keep shared arguments in
    top-level keys of their own that only anchors refer to."""

    def part(self, where: FieldPath) -> Document:
        """The value at ``where`` as a document of its own whose errors still name the whole
        field and its line: a policy written inline in a campaign file is checked by the policy's
        own checks."""
        size = len(where)
        value: Any = self.data
        for key in where:
            value = value[key]
        return Document(self.path, value, {p[size:]: n for p, n in self.lines.items() if p[:size] == where},
                        {p[size:]: t for p, t in self.key_texts.items() if p[:size] == where},
                        (*self.prefix, *where))

    def line(self, path: FieldPath) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: FieldPath, message: str) -> ConfigError:
        return ConfigError(self.path, field_name((*self.prefix, *path)), message, self.line(path))

    # -- checks: each returns the value it checked, or raises the error that names it --------

    def mapping(self, where: FieldPath, value: Any, allowed: Iterable[str]) -> dict[str, Any]:
        allowed = tuple(allowed)
        if not isinstance(value, dict):
            raise self.error(where, f"must be a mapping with keys {', '.join(allowed)}")
        for key in value:
            if key not in allowed:
                raise self.error((*where, key), f"unknown key {key!r}{did_you_mean(str(key), allowed)}; "
                                                f"allowed here: {', '.join(allowed)}")
        return value

    def need(self, where: FieldPath, body: dict[str, Any], key: str) -> Any:
        if key not in body:
            raise self.error(where, f"'{key}' is missing")
        return body[key]

    def integer(self, where: FieldPath, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
        if not is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(where, f"must be an integer{_bounds(minimum, maximum)}, got {value!r}")
        return int(value)

    def number(self, where: FieldPath, value: Any, minimum: float | None = None, maximum: float | None = None,
               above: float | None = None) -> float:
        """A number in [minimum, maximum], and > ``above`` when given."""
        if not is_number(value):
            raise self.error(where, f"must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(where, f"must be >= {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.error(where, f"must be <= {maximum:g}, got {value!r}")
        if above is not None and value <= above:
            raise self.error(where, f"must be > {above:g}, got {value!r}")
        return float(value)

    def choice(self, where: FieldPath, value: Any, choices: Iterable[Any]) -> Any:
        choices = tuple(choices)
        if value not in choices:
            raise self.error(where, f"must be one of {', '.join(map(str, choices))}, got {value!r}"
                                    f"{did_you_mean(str(value), map(str, choices))}")
        return value

    def boolean(self, where: FieldPath, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"must be true or false, got {value!r}")
        return value

    def text(self, where: FieldPath, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(where, f"must be a non-empty string, got {value!r}")
        return value


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def load_yaml(path: Path | str, what: str = "file") -> Document:
    path = Path(path)
    if not path.exists():
        raise ConfigError(path, "", f"{what} not found")
    if not path.is_file():
        raise ConfigError(path, "", f"{what} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(path, "", f"cannot read the {what}: {error}") from error
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[FieldPath, int] = {}
        key_texts: dict[FieldPath, str] = {}
        anchored: set[FieldPath] = set()
        data = _convert(loader, root, (), lines, key_texts, anchored) if root is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(path, "", f"not valid YAML: {getattr(error, 'problem', error)}",
                          mark.line + 1 if mark else None) from error
    finally:
        loader.dispose()
    return Document(path, data, lines, key_texts, anchored=anchored)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int],
             key_texts: dict[FieldPath, str], anchored: set[FieldPath]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    mark = node.start_mark
    if mark.buffer is not None and mark.buffer[mark.pointer:mark.pointer + 1] == "&":
        anchored.add(path)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            lines[child] = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode):
                key_texts[child] = key_node.value
            result[key] = _convert(loader, value_node, child, lines, key_texts, anchored)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, index), lines, key_texts, anchored)
                for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
