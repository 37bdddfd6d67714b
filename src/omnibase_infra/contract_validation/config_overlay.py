"""The operator's configuration overlay: contract values changed without copying a contract.

One YAML file (``onex-infra run --config FILE`` or ``ONEX_CONFIG_FILE``), keyed by node,
then environment, then ``section.key``; a key path may be dotted or nested::

    postgres_adapter:
      production:
        postgres_pool.max_connections: 40
        circuit_breaker:
          failure_threshold: 8
    message_aggregator:
      production:
        batching.batch_size: 1000

``read_overlay`` checks the shape: every node must have a contract, every environment is
``production``, ``staging`` or ``development``, every section must be one the node's
contract has and every key one that section can hold (a breaker key the node's breaker
does not read is refused, as in a contract). Values are checked when the overlay is
applied (``effective_config``), by the same models and ranges as the contracts. Every
problem names the file (and line), the key path in the overlay and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.model_contract_sections import ModelNodeEnvironmentConfig
from omnibase_infra.contract_validation.model_environment_settings import ModelPerEnvironment
from omnibase_infra.contract_validation.node_rules import BREAKER_POLICY_KEYS, SHIPPED_NODE_RULES
from omnibase_infra.contract_validation.yaml_loader import YamlDocument, read_yaml_file
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import OverlayError
from omnibase_infra.json_types import JsonValue
from omnibase_infra.models.model_circuit_breaker_config import ModelCircuitBreakerEnvironmentConfig

CONFIG_FILE_VARIABLE = "ONEX_CONFIG_FILE"
ENVIRONMENT_NAMES: tuple[str, ...] = tuple(e.value for e in EnumEnvironment)


@dataclass(frozen=True)
class OverlayEntry:
    """One value of the overlay: ``node.environment.section.key = value``."""

    node: str
    environment: EnumEnvironment
    section: str
    key: str
    value: JsonValue
    file: str
    line: int | None

    @property
    def key_path(self) -> str:
        """Where the value sits in the overlay: ``<node>.<environment>.<section>.<key>``."""
        return f"{self.node}.{self.environment.value}.{self.section}.{self.key}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def section_model(section: str) -> type[BaseModel]:
    """The model of one environment's values of an ``environment_config`` section."""
    field = ModelNodeEnvironmentConfig.model_fields[section]
    for candidate in getattr(field.annotation, "__args__", ()):
        if candidate is ModelCircuitBreakerEnvironmentConfig:
            return _environment_value_model(candidate)
        if isinstance(candidate, type) and issubclass(candidate, ModelPerEnvironment):
            return _environment_value_model(candidate)
    raise KeyError(section)


def _environment_value_model(per_environment: type[BaseModel]) -> type[BaseModel]:
    annotation = per_environment.model_fields["production"].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        raise TypeError(f"{per_environment.__name__}.production is not a model")
    return annotation


def section_keys(node: LoadedNodeContract, section: str) -> tuple[str, ...]:
    """The keys ``section`` of ``node`` may hold (a shipped node's breaker: only what it reads)."""
    keys = tuple(section_model(section).model_fields)
    if section == "circuit_breaker" and node.name in SHIPPED_NODE_RULES:
        policy = SHIPPED_NODE_RULES[node.name].breaker_policy
        keys = tuple(k for k in keys if k not in BREAKER_POLICY_KEYS or k in policy)
    return keys


def node_sections(node: LoadedNodeContract) -> tuple[str, ...]:
    """The ``environment_config`` sections the node's contract has."""
    config = node.environment_config
    return tuple(
        name for name in ModelNodeEnvironmentConfig.model_fields if getattr(config, name) is not None
    )


def _flatten(
    value: JsonValue, prefix: str, document: YamlDocument, path: str
) -> Iterator[tuple[str, JsonValue, int | None]]:
    """(dotted key below the environment, value, line) of every leaf; nested keys joined with dots."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else key, document, f"{path}.{key}")
    else:
        yield prefix, value, document.line_of(path)


def read_overlay(path: str | Path, contracts: ContractSet) -> tuple[OverlayEntry, ...]:
    """The entries of the overlay file at ``path``; ``OverlayError`` naming every shape problem."""
    file = str(path)
    document, read_problems = read_yaml_file(Path(path), file)
    problems: list[tuple[str, str, str]] = [(file, p.key_path, p.reason) for p in read_problems]
    if document is None or problems:
        raise OverlayError(problems or [(file, "", "cannot read the overlay")])
    data = document.data
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise OverlayError([(file, "", "an overlay is a mapping of node names to environments")])
    entries: list[OverlayEntry] = []
    for node_name, environments in data.items():
        at = _where(file, document, node_name)
        node = contracts.find_node(node_name)
        if node is None:
            problems.append(
                (at, node_name, f"no node contract {node_name!r} (nodes: {', '.join(contracts.node_names)})")
            )
            continue
        if not isinstance(environments, dict):
            problems.append((at, node_name, f"expected a mapping of {', '.join(ENVIRONMENT_NAMES)}"))
            continue
        for env_name, values in environments.items():
            env_path = f"{node_name}.{env_name}"
            if env_name not in ENVIRONMENT_NAMES:
                problems.append(
                    (
                        _where(file, document, env_path),
                        env_path,
                        f"unknown environment (allowed: {', '.join(ENVIRONMENT_NAMES)})",
                    )
                )
                continue
            if not isinstance(values, dict):
                problems.append(
                    (_where(file, document, env_path), env_path, "expected a mapping of section.key: value")
                )
                continue
            for dotted, value, line in _flatten(values, "", document, env_path):
                key_path = f"{env_path}.{dotted}"
                where = f"{file}:{line}" if line else file
                section, _, key = dotted.partition(".")
                sections = node_sections(node)
                if section not in sections:
                    problems.append(
                        (
                            where,
                            key_path,
                            f"node {node.name} has no section {section!r}"
                            f" (sections: {', '.join(sections) or 'none'})",
                        )
                    )
                    continue
                allowed = section_keys(node, section)
                if key not in allowed:
                    problems.append((where, key_path, f"unknown key {key!r} (allowed: {', '.join(allowed)})"))
                    continue
                entries.append(
                    OverlayEntry(node.name, EnumEnvironment(env_name), section, key, value, file, line)
                )
    if problems:
        raise OverlayError(problems)
    return tuple(entries)


def _where(file: str, document: YamlDocument, key_path: str) -> str:
    line = document.line_of(key_path)
    return f"{file}:{line}" if line else file


__all__ = [
    "CONFIG_FILE_VARIABLE",
    "ENVIRONMENT_NAMES",
    "OverlayEntry",
    "node_sections",
    "read_overlay",
    "section_keys",
    "section_model",
]
