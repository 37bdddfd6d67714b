"""Validates the omnibase-core part of a node contract with core's own ``ModelContract*`` models.

Core's models are imported here, lazily, and only the four modules needed (about 1 s
on first use): nothing else in this package pays that cost. The core part is the
subset of top-level keys listed in ``node_rules.CORE_KEYS``.
"""

from __future__ import annotations

import importlib
from functools import cache

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from omnibase_infra.contract_validation.node_rules import CORE_KEYS
from omnibase_infra.contract_validation.problems import ModelContractProblem, PathPart, format_key_path
from omnibase_infra.contract_validation.yaml_loader import YamlDocument
from omnibase_infra.json_types import JsonObject

_CORE_MODEL_OF_TYPE: dict[str, tuple[str, str]] = {
    "EFFECT_GENERIC": ("omnibase_core.models.contracts.model_contract_effect", "ModelContractEffect"),
    "COMPUTE_GENERIC": ("omnibase_core.models.contracts.model_contract_compute", "ModelContractCompute"),
    "REDUCER_GENERIC": ("omnibase_core.models.contracts.model_contract_reducer", "ModelContractReducer"),
    "ORCHESTRATOR_GENERIC": (
        "omnibase_core.models.contracts.model_contract_orchestrator",
        "ModelContractOrchestrator",
    ),
}


def core_part(document: JsonObject) -> JsonObject:
    """The keys of a node contract that omnibase-core's contract models own."""
    return {key: document[key] for key in CORE_KEYS if key in document}


@cache
def core_model_for(node_type: str) -> type[BaseModel]:
    """Core's contract model class for ``node_type`` (imports only its own module)."""
    module_name, class_name = _CORE_MODEL_OF_TYPE[node_type]
    model = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{module_name}.{class_name} is not a pydantic model")
    return model


def validate_core(document: JsonObject, node_type: str) -> BaseModel:
    """Build core's contract model from the core part; raises what core raises."""
    return core_model_for(node_type).model_validate(core_part(document))


def core_problems(document: JsonObject, yaml_document: YamlDocument, file: str) -> list[ModelContractProblem]:
    """Problems omnibase-core finds in the core part (none when it accepts it)."""
    node_type = document.get("node_type")
    if not isinstance(node_type, str) or node_type not in _CORE_MODEL_OF_TYPE:
        return []  # the schema has reported it
    from omnibase_core.errors import ModelOnexError

    def problem(parts: list[PathPart], reason: str) -> ModelContractProblem:
        key_path = format_key_path(parts)
        return ModelContractProblem(
            file=file,
            key_path=key_path,
            reason=f"omnibase-core: {reason}",
            stage="core",
            line=yaml_document.line_of(key_path),
        )

    try:
        validate_core(document, node_type)
    except PydanticValidationError as exc:
        return [
            problem([p for p in err["loc"] if isinstance(p, str | int)], err["msg"])
            for err in exc.errors(include_url=False)
        ]
    except ModelOnexError as exc:
        return [problem([], exc.message)]
    return []


__all__ = ["core_model_for", "core_part", "core_problems", "validate_core"]
