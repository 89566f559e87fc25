"""YAML loading that remembers the line of every key, so errors can point at it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

FieldPath = tuple[str | int, ...]


def field_name(path: FieldPath) -> str:
    """('test', 'rounds', 0, 'label') -> 'test.rounds[0].label'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[FieldPath, int]
    key_texts: dict[FieldPath, str]
    """Mapping keys as written, before YAML typed them (`001` would otherwise become 1)."""

    def line(self, path: FieldPath) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: FieldPath, message: str) -> ConfigError:
        return ConfigError(self.path, field_name(path), message, self.line(path))


def load_yaml(path: Path | str, what: str = "file") -> YamlDocument:
    path = Path(path)
    if not path.exists():
        raise ConfigError(path, "", f"{what} not found")
    if not path.is_file():
        raise ConfigError(path, "", f"{what} is not a file")
    text = path.read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[FieldPath, int] = {}
        key_texts: dict[FieldPath, str] = {}
        data = _convert(loader, root, (), lines, key_texts) if root is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(path, "", f"not valid YAML: {getattr(error, 'problem', error)}",
                          mark.line + 1 if mark else None) from error
    finally:
        loader.dispose()
    return YamlDocument(path, data, lines, key_texts)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int],
             key_texts: dict[FieldPath, str]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            child = (*path, key if isinstance(key, (str, int)) else str(key))
            lines[child] = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode):
                key_texts[child] = key_node.value
            result[key] = _convert(loader, value_node, child, lines, key_texts)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, index), lines, key_texts) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
