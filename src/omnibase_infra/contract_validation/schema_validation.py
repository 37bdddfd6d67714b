"""Checks a document against its packaged JSON Schema and its typed model, collecting every error.

JSON Schema errors become problems with precise key paths: an unknown key is
reported at the key itself (``topics.consume``), a missing key at the place it is
missing (``environment_config.postgres_pool``). Problems from the typed model (cross-field
rules such as min <= max that JSON Schema cannot say) are added unless the schema
already reported something at or below the same path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cache

from jsonschema import Draft202012Validator, ValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from omnibase_infra.contract_validation.problems import (
    ModelContractProblem,
    PathPart,
    format_key_path,
    is_within,
)
from omnibase_infra.contract_validation.schema_builder import SCHEMA_DIR, SCHEMA_FILES
from omnibase_infra.contract_validation.yaml_loader import YamlDocument
from omnibase_infra.json_types import JsonValue

_MAX_REASON = 240


@cache
def validator_for(kind: str) -> Draft202012Validator:
    """The validator of the packaged schema for ``kind`` (node, operations, composition).

    The schemas are generated and checked against the 2020-12 metaschema by the unit
    tests; checking them again here would cost a third of a second per run.
    """
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _short(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve(root: object, path: Sequence[object]) -> object:
    node = root
    for step in path:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
            continue
        if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
            continue
        return None
    return node


def _allowed(keys: Sequence[str]) -> str:
    listed = ", ".join(keys[:20])
    return f" (allowed: {listed}{', ...' if len(keys) > 20 else ''})" if keys else ""


def _expand(
    error: ValidationError, document: JsonValue, schema: object
) -> Iterator[tuple[list[PathPart], str]]:
    path: list[PathPart] = list(error.absolute_path)
    instance = error.instance
    match error.validator:
        case "additionalProperties" if isinstance(instance, dict) and isinstance(error.schema, dict):
            known = list(error.schema.get("properties", {}))
            for key in instance:
                if key not in known:
                    yield [*path, key], f"unknown key {key!r}{_allowed(known)}"
        case "required" if isinstance(instance, dict) and isinstance(error.validator_value, list):
            for key in error.validator_value:
                if isinstance(key, str) and key not in instance:
                    yield [*path, key], "missing required key"
        case "propertyNames":
            yield [*path, str(instance)], f"key {instance!r} is not allowed here"
        case "enum" if error.relative_schema_path and "propertyNames" in error.relative_schema_path:
            sections = (
                [str(v) for v in error.validator_value] if isinstance(error.validator_value, list) else []
            )
            yield [*path, str(instance)], f"section {instance!r} is not used by this node{_allowed(sections)}"
        case None:  # a ``false`` subschema: the key is not allowed in this context
            properties = _resolve(schema, list(error.absolute_schema_path))
            parent = _resolve(document, path)
            keys = [
                k
                for k, sub in (properties.items() if isinstance(properties, dict) else [])
                if sub is False and isinstance(parent, dict) and k in parent
            ]
            for key in keys or [""]:
                yield ([*path, key] if key else path), "key not allowed for this kind of node"
        case "type":
            yield path, f"expected {error.validator_value}, got {_short(instance)}"
        case "minimum" | "exclusiveMinimum":
            yield path, f"{_short(instance)} is below the minimum {error.validator_value}"
        case "maximum" | "exclusiveMaximum":
            yield path, f"{_short(instance)} is above the maximum {error.validator_value}"
        case "const":
            yield path, f"must be {_short(error.validator_value)}, got {_short(instance)}"
        case "enum":
            options = (
                ", ".join(_short(v) for v in error.validator_value)
                if isinstance(error.validator_value, list)
                else ""
            )
            yield path, f"{_short(instance)} is not one of: {options}"
        case "pattern":
            yield path, f"{_short(instance)} does not match {error.validator_value}"
        case _:
            message = error.message
            yield path, message if len(message) <= _MAX_REASON else message[: _MAX_REASON - 3] + "..."


def schema_problems(kind: str, document: YamlDocument, file: str) -> list[ModelContractProblem]:
    """Every JSON Schema violation of ``document`` against the schema for ``kind``."""
    validator = validator_for(kind)
    problems: list[ModelContractProblem] = []
    for error in validator.iter_errors(document.data):
        for parts, reason in _expand(error, document.data, validator.schema):
            key_path = format_key_path(parts)
            problems.append(
                ModelContractProblem(
                    file=file,
                    key_path=key_path,
                    reason=reason,
                    stage="schema",
                    line=document.line_of(key_path),
                )
            )
    return problems


def model_problems[M: BaseModel](
    model: type[M], data: JsonValue, document: YamlDocument, file: str, prefix: Sequence[PathPart] = ()
) -> tuple[M | None, list[ModelContractProblem]]:
    """Validate ``data`` into ``model``; on failure return the problems (paths under ``prefix``)."""
    try:
        return model.model_validate(data), []
    except PydanticValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            parts: list[PathPart] = [*prefix, *(p for p in err["loc"] if isinstance(p, str | int))]
            key_path = format_key_path(parts)
            reason = err["msg"].removeprefix("Value error, ")
            problems.append(
                ModelContractProblem(
                    file=file,
                    key_path=key_path,
                    reason=reason,
                    stage="schema",
                    line=document.line_of(key_path),
                )
            )
        return None, problems


def without_overlaps(
    earlier: Sequence[ModelContractProblem], later: Sequence[ModelContractProblem]
) -> list[ModelContractProblem]:
    """``later`` minus problems on the same branch (at, above or below) as one ``earlier`` reported.

    A typed-model error above a schema error is a consequence of it (pydantic, for
    example, adds "too short" to a list whose only item failed).
    """
    anchors = [e.key_path for e in earlier if e.key_path]
    return [
        p for p in later if not any(is_within(p.key_path, a) or is_within(a, p.key_path) for a in anchors)
    ]


__all__ = ["model_problems", "schema_problems", "validator_for", "without_overlaps"]
