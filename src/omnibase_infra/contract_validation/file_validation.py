"""Validates one contract file on its own: YAML, JSON Schema, typed model, file checks, core.

Every problem of the file is collected (nothing stops at the first). Items that are
valid on their own (an operation, a workflow) are kept even when another part of the
file is broken, so the checks across files can still report on them in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from omnibase_infra.contract_validation.core_validation import core_problems
from omnibase_infra.contract_validation.discovery import ContractSource
from omnibase_infra.contract_validation.file_checks import (
    check_class_paths,
    check_dependencies,
    check_operations,
    check_version_folder,
    check_workflows,
)
from omnibase_infra.contract_validation.model_contract_sections import (
    ModelProtocolDependency,
    ModelSemVerValue,
)
from omnibase_infra.contract_validation.model_node_document import ModelNodeContractDocument
from omnibase_infra.contract_validation.model_operations import (
    ModelOperationDefinition,
    ModelOperationsDocument,
)
from omnibase_infra.contract_validation.model_workflows import ModelCompositionDocument, ModelWorkflow
from omnibase_infra.contract_validation.node_rules import CORE_KEYS
from omnibase_infra.contract_validation.problems import (
    ContractKind,
    ModelContractProblem,
    PathPart,
    Stage,
    format_key_path,
    is_within,
)
from omnibase_infra.contract_validation.schema_validation import (
    model_problems,
    schema_problems,
    without_overlaps,
)
from omnibase_infra.contract_validation.yaml_loader import YamlDocument, read_yaml_file
from omnibase_infra.json_types import JsonObject, JsonValue


@dataclass
class ValidatedFile:
    """The outcome for one file: its problems and whatever validated."""

    source: ContractSource
    kind: ContractKind = "unknown"
    raw_name: str | None = None
    problems: list[ModelContractProblem] = field(default_factory=list)
    yaml: YamlDocument | None = None
    node: ModelNodeContractDocument | None = None
    operations_file: ModelOperationsDocument | None = None
    composition: ModelCompositionDocument | None = None
    operations: list[tuple[int, ModelOperationDefinition]] = field(default_factory=list)
    workflows: list[tuple[int, ModelWorkflow]] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.source.display

    def add(self, parts: Sequence[PathPart], reason: str, stage: Stage = "cross_check") -> None:
        """Record a problem at ``parts`` (line looked up in the YAML)."""
        key_path = format_key_path(parts)
        line = self.yaml.line_of(key_path) if self.yaml is not None else None
        self.problems.append(
            ModelContractProblem(
                file=self.file,
                key_path=key_path,
                reason=reason,
                stage=stage,
                line=line,
            )
        )


def _detect_kind(data: JsonObject) -> tuple[ContractKind, str | None]:
    kind = data.get("kind")
    if "kind" in data:
        if kind in ("operations", "composition"):
            return ("operations" if kind == "operations" else "composition"), None
        return "unknown", "kind must be 'operations' or 'composition' (node contracts have no kind)"
    if "node_type" in data:
        return "node", None
    return "unknown", (
        "cannot tell what this file is: a node contract has node_type; "
        "other contract files have kind: operations or kind: composition"
    )


def _items[M: BaseModel](
    model: type[M], data: JsonValue, key: str, result: ValidatedFile
) -> list[tuple[int, M]]:
    """Validate each element of ``data[key]`` on its own (problems already reported elsewhere)."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or result.yaml is None:
        return []
    valid: list[tuple[int, M]] = []
    for index, item in enumerate(items):
        parsed, _ = model_problems(model, item, result.yaml, result.file)
        if parsed is not None:
            valid.append((index, parsed))
    return valid


def _node_checks(data: JsonObject, result: ValidatedFile, validate_core: bool) -> None:
    if result.yaml is None:
        return
    version, _ = model_problems(ModelSemVerValue, data.get("contract_version"), result.yaml, result.file)
    check_version_folder(result.source.path, result.raw_name, version, result.add)
    class_paths = [
        (key, value) for key in ("input_model", "output_model") if isinstance(value := data.get(key), str)
    ]
    check_class_paths(class_paths, result.add)
    dependencies = _items(ModelProtocolDependency, data, "dependencies", result)
    check_dependencies(dependencies, result.add)
    result.operations = _items(ModelOperationDefinition, data, "operations", result)
    check_operations(result.operations, "operations", result.add)
    if result.node is not None:
        capabilities = {c.name for c in result.node.capabilities}
        for index, op in result.operations:
            if op.name in capabilities:
                result.add(["operations", index, "name"], f"{op.name!r} is also the name of a capability")
    core_key_problem = any(
        is_within(p.key_path, key) for p in result.problems for key in CORE_KEYS if p.stage == "schema"
    ) or any(p.key_path == "" for p in result.problems)
    if validate_core and not core_key_problem:
        result.problems.extend(core_problems(data, result.yaml, result.file))


def validate_file(source: ContractSource, *, validate_core: bool = True) -> ValidatedFile:
    """Run every single-file check on ``source``."""
    result = ValidatedFile(source=source)
    document, problems = read_yaml_file(source.path, result.file)
    result.problems.extend(problems)
    if document is None:
        return result
    result.yaml = document
    data = document.data
    if not isinstance(data, dict):
        result.add([], "a contract file must be a mapping of keys to values", stage="schema")
        return result
    kind, why = _detect_kind(data)
    result.kind = kind
    name = data.get("name") if kind != "operations" else data.get("target_node")
    result.raw_name = name if isinstance(name, str) else None
    if why is not None:
        result.add(["kind"] if "kind" in data else [], why, stage="schema")
        return result

    found = schema_problems(kind, document, result.file)
    result.problems.extend(found)
    if kind == "node":
        result.node, typed = model_problems(ModelNodeContractDocument, data, document, result.file)
        result.problems.extend(without_overlaps(found, typed))
        _node_checks(data, result, validate_core)
    elif kind == "operations":
        result.operations_file, typed = model_problems(ModelOperationsDocument, data, document, result.file)
        result.problems.extend(without_overlaps(found, typed))
        result.operations = _items(ModelOperationDefinition, data, "operations", result)
        check_operations(result.operations, "operations", result.add)
    else:
        result.composition, typed = model_problems(ModelCompositionDocument, data, document, result.file)
        result.problems.extend(without_overlaps(found, typed))
        result.workflows = _items(ModelWorkflow, data, "workflows", result)
        check_workflows(result.workflows, result.add)
    return result


__all__ = ["ValidatedFile", "validate_file"]
