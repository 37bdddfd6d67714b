"""Reads a YAML contract into JSON values, remembering the line of every key.

Guarantees: only JSON-compatible values come out (strings, numbers, booleans, null,
lists, string-keyed mappings); duplicate keys, non-string keys, dates, binary and
non-finite numbers are problems, not silent conversions. Every problem carries the
key path and the 1-based line. Nothing is executed (safe loader only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from omnibase_infra.contract_validation.problems import (
    ModelContractProblem,
    PathPart,
    format_key_path,
)
from omnibase_infra.json_types import JsonValue

# libyaml's parser when PyYAML was built with it (about ten times faster); same nodes and marks.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed document and the line of each key path in it."""

    data: JsonValue
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, key_path: str) -> int | None:
        """The line of ``key_path``, or of its nearest ancestor that has one."""
        path = key_path
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[str, int] = {}
        self.problems: list[ModelContractProblem] = []
        self._active: set[int] = set()

    def problem(self, parts: list[PathPart], line: int, reason: str) -> None:
        self.problems.append(
            ModelContractProblem(
                file=self.file, key_path=format_key_path(parts), reason=reason, stage="yaml", line=line
            )
        )

    def convert(self, node: yaml.Node, parts: list[PathPart]) -> JsonValue:
        line = node.start_mark.line + 1
        self.lines.setdefault(format_key_path(parts), line)
        if id(node) in self._active:
            self.problem(parts, line, "recursive alias")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, parts)
            if isinstance(node, yaml.SequenceNode):
                return [self.convert(item, [*parts, i]) for i, item in enumerate(node.value)]
            return self._scalar(node, parts, line)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, parts: list[PathPart]) -> JsonValue:
        self.loader.flatten_mapping(node)
        result: dict[str, JsonValue] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                self.problem(parts, key_line, f"keys must be strings, got {key!r} (quote it)")
                continue
            if key in result:
                self.problem([*parts, key], key_line, f"duplicate key {key!r}")
                continue
            self.lines[format_key_path([*parts, key])] = key_line
            result[key] = self.convert(value_node, [*parts, key])
        return result

    def _scalar(self, node: yaml.Node, parts: list[PathPart], line: int) -> JsonValue:
        value = self.loader.construct_object(node)
        if value is None or isinstance(value, str | bool | int):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            self.problem(parts, line, f"{node.value!r} is not a finite number")
            return None
        self.problem(parts, line, f"{node.value!r} is a {type(value).__name__}, not a JSON value (quote it)")
        return None


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[ModelContractProblem]]:
    """Parse one YAML document; return it (or None when unusable) and its problems."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [ModelContractProblem(file=file, key_path="", reason="empty document", stage="yaml")]
        converter = _Converter(loader, file)
        data = converter.convert(node, [])
        return YamlDocument(data=data, lines=converter.lines), converter.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = f"invalid YAML: {exc.problem or exc.context or 'unparsable'}"
        if exc.context and exc.problem:
            reason += f" ({exc.context})"
        line = mark.line + 1 if mark is not None else None
        return None, [ModelContractProblem(file=file, key_path="", reason=reason, stage="yaml", line=line)]
    except yaml.YAMLError as exc:
        return None, [
            ModelContractProblem(file=file, key_path="", reason=f"invalid YAML: {exc}", stage="yaml")
        ]
    finally:
        loader.dispose()


def read_yaml_file(path: Path, file: str) -> tuple[YamlDocument | None, list[ModelContractProblem]]:
    """Read ``path`` (UTF-8) and parse it; an unreadable file is a ``read`` problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [
            ModelContractProblem(file=file, key_path="", reason=f"cannot read: {reason}", stage="read")
        ]
    return parse_yaml(text, file)


__all__ = ["YamlDocument", "parse_yaml", "read_yaml_file"]
