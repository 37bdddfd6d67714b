"""Builds the JSON Schemas (draft 2020-12) of the contracts and the overlay from the models.

The models are the source; the ``schemas/*.schema.json`` files shipped in the package
(and copied to ``contracts/schemas/`` at the repository root) are generated from them
and checked for drift by the unit tests. Regenerate after changing a model with::

    python -m omnibase_infra.contract_validation.schema_builder contracts/schemas

Every object in the schemas is closed (``additionalProperties: false``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel

from omnibase_infra.contract_validation.model_node_document import ModelNodeContractDocument
from omnibase_infra.contract_validation.model_operations import ModelOperationsDocument
from omnibase_infra.contract_validation.model_workflows import ModelCompositionDocument
from omnibase_infra.contract_validation.node_rules import (
    BREAKER_POLICY_KEYS,
    BREAKER_THRESHOLD_KEYS,
    CORE_KEYS_FORBIDDEN_BY_TYPE,
    CORE_KEYS_REQUIRED_BY_TYPE,
    SHIPPED_NODE_RULES,
)
from omnibase_infra.json_types import JsonObject, JsonValue

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_FILES: dict[str, str] = {
    "node": "node_contract.schema.json",
    "operations": "operations.schema.json",
    "composition": "composition.schema.json",
    "overlay": "config_overlay.schema.json",
}


def _without_null(node: JsonValue) -> JsonValue:
    """Optional keys may be omitted but never null: ``anyOf: [X, null]`` with default null becomes X."""
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: JsonObject = {key: _without_null(value) for key, value in node.items()}
    options = result.get("anyOf")
    nullable = isinstance(options, list) and {"type": "null"} in options
    if nullable and isinstance(options, list) and result.get("default", 0) is None:
        kept = [option for option in options if option != {"type": "null"}]
        del result["anyOf"], result["default"]
        if len(kept) > 1:
            result = {"anyOf": kept, **result}
        elif isinstance(kept[0], dict):
            result = {**kept[0], **result}
    return result


def _base(model: type[BaseModel], schema_id: str, title: str) -> JsonObject:
    generated = _without_null(model.model_json_schema())
    if not isinstance(generated, dict):
        raise TypeError("a model schema is an object")
    return {"$schema": DRAFT, "$id": schema_id, **generated, "title": title}


def _when(key: str, value: str, then: JsonObject) -> JsonValue:
    return {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": then}


def _breaker_rule(policy: tuple[str, ...]) -> JsonObject:
    """Each environment's breaker block carries the thresholds and exactly ``policy``."""
    unused: JsonObject = {key: False for key in BREAKER_POLICY_KEYS if key not in policy}
    per_environment: JsonObject = {
        "required": [*BREAKER_THRESHOLD_KEYS, *policy],
        "properties": unused,
    }
    return {"properties": {env: per_environment for env in ("production", "staging", "development")}}


def build_node_contract_schema() -> JsonObject:
    """The schema of ``contract.yaml``, with per-node-type and per-shipped-node rules."""
    schema = _base(
        ModelNodeContractDocument, "urn:omnibase-infra:schema:node-contract:1", "ONEX node contract"
    )
    rules: list[JsonValue] = []
    for node_type, required in CORE_KEYS_REQUIRED_BY_TYPE.items():
        forbidden: JsonObject = {key: False for key in CORE_KEYS_FORBIDDEN_BY_TYPE[node_type]}
        rules.append(_when("node_type", node_type, {"required": list(required), "properties": forbidden}))
    for name, rule in SHIPPED_NODE_RULES.items():
        environment_config: JsonObject = {
            "required": list(rule.environment_sections),
            "propertyNames": {"enum": list(rule.environment_sections)},
        }
        if "circuit_breaker" in rule.environment_sections:
            environment_config["properties"] = {"circuit_breaker": _breaker_rule(rule.breaker_policy)}
        properties: JsonObject = {
            "node_type": {"const": rule.node_type},
            "environment_config": environment_config,
        }
        if not rule.has_operations:
            properties["operations"] = False
        rules.append(_when("name", name, {"properties": properties}))
    schema["allOf"] = rules
    return schema


def build_operations_schema() -> JsonObject:
    """The schema of an extra operations file (``kind: operations``)."""
    return _base(ModelOperationsDocument, "urn:omnibase-infra:schema:operations:1", "ONEX operations file")


def build_composition_schema() -> JsonObject:
    """The schema of a composition contract (``kind: composition``)."""
    return _base(
        ModelCompositionDocument, "urn:omnibase-infra:schema:composition:1", "ONEX composition contract"
    )


def _overlay_values(sections: tuple[str, ...], policy: tuple[str, ...]) -> JsonObject:
    """One environment of one node: ``section.key`` (dotted) or ``section: {key: ...}`` (nested)."""
    properties: JsonObject = {}
    for section in sections:
        model_schema = _without_null(_section_value_model(section).model_json_schema())
        assert isinstance(model_schema, dict)
        fields = model_schema.get("properties", {})
        assert isinstance(fields, dict)
        keys = {
            key: schema
            for key, schema in fields.items()
            if section != "circuit_breaker" or key not in BREAKER_POLICY_KEYS or key in policy
        }
        properties[section] = {"type": "object", "additionalProperties": False, "properties": keys}
        properties.update({f"{section}.{key}": schema for key, schema in keys.items()})
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _section_value_model(section: str) -> type[BaseModel]:
    from omnibase_infra.contract_validation.config_overlay import section_model

    return section_model(section)


def build_overlay_schema() -> JsonObject:
    """The schema of a configuration overlay: shipped node -> environment -> its keys, with the ranges."""
    nodes: JsonObject = {}
    definitions: JsonObject = {}
    for name, rule in SHIPPED_NODE_RULES.items():
        if not rule.environment_sections:
            continue
        definitions[f"{name}_values"] = _overlay_values(rule.environment_sections, rule.breaker_policy)
        reference: JsonObject = {"$ref": f"#/$defs/{name}_values"}
        nodes[name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {env: reference for env in ("production", "staging", "development")},
        }
    return {
        "$schema": DRAFT,
        "$id": "urn:omnibase-infra:schema:config-overlay:1",
        "title": "ONEX configuration overlay",
        "description": "contract environment_config values per node and environment (onex-infra --config)",
        "type": "object",
        "additionalProperties": False,
        "properties": nodes,
        "$defs": definitions,
    }


BUILDERS: dict[str, Callable[[], JsonObject]] = {
    "node": build_node_contract_schema,
    "operations": build_operations_schema,
    "composition": build_composition_schema,
    "overlay": build_overlay_schema,
}


def render(kind: str) -> str:
    """The exact text of the schema file for ``kind`` (stable: tests compare it byte for byte)."""
    return json.dumps(BUILDERS[kind](), indent=2) + "\n"


def write_schemas(directories: Sequence[Path]) -> list[Path]:
    """Write every schema into each directory; return the files written."""
    written: list[Path] = []
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        for kind, file_name in SCHEMA_FILES.items():
            target = directory / file_name
            target.write_text(render(kind), encoding="utf-8")
            written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the packaged schemas and write copies into each directory given."""
    extra = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    for path in write_schemas([SCHEMA_DIR, *extra]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "BUILDERS",
    "SCHEMA_DIR",
    "SCHEMA_FILES",
    "build_composition_schema",
    "build_node_contract_schema",
    "build_operations_schema",
    "build_overlay_schema",
    "render",
    "write_schemas",
]
