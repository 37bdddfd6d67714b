"""The operations a command on the bus may name: the contract's ``exposed`` operations.

Parameters are checked against each operation's JSON Schema (draft 2020-12,
``format`` asserted: a ``uuid`` that is not one is a parameter error, not an SQL
error) with validators compiled once. An operation that is not exposed is reported as
unknown, exactly like a name that does not exist: the bus learns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jsonschema import Draft202012Validator
from pydantic import JsonValue

from omnibase_infra.contract_validation.model_operations import ModelOperationDefinition

MAX_PROBLEMS = 5


class ContractOperationCatalog:
    """``ProtocolOperationCatalog`` over validated contract operations."""

    def __init__(self, operations: Iterable[ModelOperationDefinition]) -> None:
        self._operations = {op.name: op for op in operations if op.exposed}
        self._validators = {
            name: Draft202012Validator(
                op.parameters_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            for name, op in self._operations.items()
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._operations))

    def get_operation(self, name: str) -> ModelOperationDefinition | None:
        return self._operations.get(name)

    def validate_parameters(self, name: str, parameters: Mapping[str, JsonValue]) -> list[str]:
        validator = self._validators[name]
        problems = []
        for error in sorted(validator.iter_errors(dict(parameters)), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.absolute_path) or "parameters"
            problems.append(f"{where}: {error.message[:200]}")
            if len(problems) == MAX_PROBLEMS:
                break
        return problems


__all__ = ["ContractOperationCatalog"]
