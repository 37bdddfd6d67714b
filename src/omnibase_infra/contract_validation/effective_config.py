"""The effective contract values of one environment, and where each comes from.

Precedence, highest first:

1. an environment variable of ``OVERRIDE_VARIABLES`` that is set (for the environment
   the service runs in);
2. the configuration overlay (``config_overlay``), for the environment it names;
3. the node contract (shipped, or replaced through ``ONEX_CONTRACTS_PATH``);
4. the model's default, for an optional key the contract leaves out.

``resolve_configuration`` applies 1 and 2 to a validated ``ContractSet`` and validates the
result with the contract models (same ranges, same cross-field rules). A bad overlay
value raises ``OverlayError`` naming the overlay file and line, the key path and the
allowed range; a bad variable raises ``ConfigurationError`` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from omnibase_infra.contract_validation.config_overlay import (
    OverlayEntry,
    node_sections,
    read_overlay,
    section_keys,
    section_model,
)
from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.model_contract_sections import ModelNodeEnvironmentConfig
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError, OverlayError
from omnibase_infra.json_types import JsonObject, JsonValue

SourceKind = Literal["environment variable", "overlay", "contract", "default"]

EVERY_BREAKER = "*"
"""Target node of a variable that sets a key of every node that has a circuit breaker."""

OVERRIDE_VARIABLES: dict[str, tuple[str, str, str]] = {
    "POSTGRES_MIN_CONNECTIONS": ("postgres_adapter", "postgres_pool", "min_connections"),
    "POSTGRES_MAX_CONNECTIONS": ("postgres_adapter", "postgres_pool", "max_connections"),
    "POSTGRES_COMMAND_TIMEOUT": ("postgres_adapter", "postgres_pool", "command_timeout"),
    "ONEX_BATCH_SIZE": ("message_aggregator", "batching", "batch_size"),
    "ONEX_SHUTDOWN_GRACE_SECONDS": (
        "infrastructure_orchestrator",
        "workflow_runtime",
        "shutdown_grace_seconds",
    ),
    "ONEX_BREAKER_FAILURE_THRESHOLD": (EVERY_BREAKER, "circuit_breaker", "failure_threshold"),
    "ONEX_BREAKER_RECOVERY_TIMEOUT": (EVERY_BREAKER, "circuit_breaker", "recovery_timeout"),
}
"""The common values an environment variable sets: variable -> (node, section, key)."""


@dataclass(frozen=True)
class ValueSource:
    """Where an effective value comes from: its kind and the file, line or variable."""

    kind: SourceKind
    origin: str

    def __str__(self) -> str:
        return f"{self.kind} {self.origin}" if self.origin else self.kind


@dataclass(frozen=True)
class EffectiveValue:
    """One key of one node's ``environment_config`` in the resolved environment."""

    node: str
    section: str
    key: str
    value: JsonValue
    source: ValueSource

    @property
    def key_path(self) -> str:
        return f"{self.node}.{self.section}.{self.key}"


@dataclass(frozen=True)
class _Override:
    node: str
    section: str
    key: str
    value: JsonValue
    source: ValueSource
    key_path: str  # as the operator wrote it: the overlay path, or the variable name
    where: str  # the overlay file (and line) or the variable


@dataclass(frozen=True)
class EffectiveConfiguration:
    """The contracts with the overrides of ``environment`` applied, and each value's source."""

    environment: EnumEnvironment
    contracts: ContractSet
    values: tuple[EffectiveValue, ...]
    overlay_file: str | None

    def value(self, node: str, section: str, key: str) -> EffectiveValue:
        """The effective value of ``node.section.key``; ``KeyError`` when the node has no such key."""
        for found in self.values:
            if (found.node, found.section, found.key) == (node, section, key):
                return found
        raise KeyError(f"{node}.{section}.{key}")


def _variable_overrides(contracts: ContractSet, variables: Mapping[str, int | float]) -> list[_Override]:
    overrides: list[_Override] = []
    for variable, value in variables.items():
        if variable not in OVERRIDE_VARIABLES:
            continue
        node_name, section, key = OVERRIDE_VARIABLES[variable]
        if node_name == EVERY_BREAKER:
            targets = [n for n in contracts.nodes if n.environment_config.circuit_breaker is not None]
        else:
            found = contracts.find_node(node_name)
            targets = [found] if found is not None else []
        source = ValueSource("environment variable", variable)
        overrides += [
            _Override(
                n.name, section, key, value, source, f"{n.name}.{section}.{key}", f"variable {variable}"
            )
            for n in targets
        ]
    return overrides


def _overlay_overrides(entries: Sequence[OverlayEntry], environment: EnumEnvironment) -> list[_Override]:
    return [
        _Override(e.node, e.section, e.key, e.value, ValueSource("overlay", e.where), e.key_path, e.where)
        for e in entries
        if e.environment is environment
    ]


def _allowed_range(model: type[BaseModel], key: str) -> str:
    """The JSON Schema bounds of ``key``, e.g. ``allowed: 1 to 500``."""
    schema = model.model_json_schema().get("properties", {}).get(key, {})
    if not isinstance(schema, dict):
        return ""
    if "enum" in schema:
        return "allowed: " + ", ".join(str(v) for v in schema["enum"])
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    low_text = "" if low is None else ("above " if "exclusiveMinimum" in schema else "") + str(low)
    high_text = "" if high is None else str(high) + (" (exclusive)" if "exclusiveMaximum" in schema else "")
    if low_text and high_text:
        return f"allowed: {low_text} to {high_text}"
    if low_text:
        return f"allowed: at least {low_text}" if "minimum" in schema else f"allowed: {low_text}"
    if high_text:
        return f"allowed: at most {high_text}"
    kind = schema.get("type")
    return f"allowed: {kind}" if isinstance(kind, str) else ""


def _apply_to_node(
    node: LoadedNodeContract, environment: EnumEnvironment, overrides: Sequence[_Override]
) -> tuple[LoadedNodeContract, list[tuple[_Override, str]]]:
    """The node with ``overrides`` applied and re-validated, or the problems (override, reason)."""
    raw: JsonObject = node.environment_config.model_dump(mode="json", exclude_none=True)
    for override in overrides:
        section = raw[override.section]
        assert isinstance(section, dict)
        values = section[environment.value]
        assert isinstance(values, dict)
        values[override.key] = override.value
    try:
        config = ModelNodeEnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        problems: list[tuple[_Override, str]] = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            reason = error["msg"].removeprefix("Value error, ")
            section = loc[0] if loc else ""
            if len(loc) >= 3:
                culprits = [o for o in overrides if (o.section, o.key) == (section, loc[2])]
                bounds = _allowed_range(section_model(section), loc[2])
                reason = f"{reason} ({bounds})" if bounds else reason
            else:  # a rule over several keys of one section: every override of that section
                culprits = [o for o in overrides if o.section == section]
            problems += [(o, reason) for o in culprits or overrides[:1]]
        return node, problems
    document = node.document.model_copy(update={"environment_config": config})
    return node.model_copy(update={"document": document}), []


def _values(
    original: LoadedNodeContract,
    node: LoadedNodeContract,
    environment: EnumEnvironment,
    overrides: Sequence[_Override],
) -> list[EffectiveValue]:
    winners = {(o.section, o.key): o.source for o in overrides}
    values: list[EffectiveValue] = []
    for section in node_sections(node):
        written = getattr(original.environment_config, section)
        per_env = getattr(written, environment.value)
        effective = getattr(getattr(node.environment_config, section), environment.value)
        dumped = effective.model_dump(mode="json")
        for key in section_keys(node, section):
            if (section, key) in winners:
                source = winners[(section, key)]
            elif key in per_env.model_fields_set:
                source = ValueSource("contract", original.path)
            else:
                source = ValueSource("default", "")
            values.append(EffectiveValue(node.name, section, key, dumped[key], source))
    return values


def resolve_configuration(
    contracts: ContractSet,
    environment: EnumEnvironment,
    *,
    overlay_file: str | Path | None = None,
    variables: Mapping[str, int | float] | None = None,
) -> EffectiveConfiguration:
    """Apply the overlay and the variables of ``environment`` to ``contracts``; validate the result.

    The overlay's values of every environment are validated (as a contract's are); the
    variables apply to ``environment`` only.
    Raises ``OverlayError``, a ``ContractError`` (overlay file and line, key path, reason with
    the allowed range), or ``ConfigurationError`` (variable, reason), every problem together.
    """
    entries = read_overlay(overlay_file, contracts) if overlay_file is not None else ()
    problems: list[tuple[_Override, str]] = []
    # The overlay's values for the other environments are checked too, as a contract's are.
    for other in EnumEnvironment:
        if other is environment:
            continue
        theirs = _overlay_overrides(entries, other)
        for node in contracts.nodes:
            mine = list({(o.section, o.key): o for o in theirs if o.node == node.name}.values())
            problems += _apply_to_node(node, other, mine)[1] if mine else []
    # Later overrides of the same key win: the variables come after the overlay.
    ordered = _overlay_overrides(entries, environment) + _variable_overrides(contracts, variables or {})
    nodes: list[LoadedNodeContract] = []
    values: list[EffectiveValue] = []
    for node in contracts.nodes:
        mine = list({(o.section, o.key): o for o in ordered if o.node == node.name}.values())
        updated, found = _apply_to_node(node, environment, mine) if mine else (node, [])
        problems += found
        nodes.append(updated)
        values += _values(node, updated, environment, mine)
    if problems:
        _raise(problems)
    resolved = contracts.model_copy(update={"nodes": tuple(nodes)})
    return EffectiveConfiguration(
        environment=environment,
        contracts=resolved,
        values=tuple(values),
        overlay_file=str(overlay_file) if overlay_file is not None else None,
    )


def _raise(problems: Sequence[tuple[_Override, str]]) -> None:
    """``OverlayError`` when the overlay is involved (variables listed too), else ``ConfigurationError``."""
    unique = list(dict.fromkeys((o.where, o.key_path, o.source, reason) for o, reason in problems))
    from_overlay = [
        (where, path, reason) for where, path, source, reason in unique if source.kind == "overlay"
    ]
    from_variables = [(s.origin, reason) for _, _, s, reason in unique if s.kind == "environment variable"]
    if from_overlay:
        raise OverlayError(
            from_overlay
            + [(where, path, reason) for where, path, s, reason in unique if s.kind == "environment variable"]
        )
    from_variables = list(dict.fromkeys(from_variables))
    if len(from_variables) == 1:
        raise ConfigurationError(*from_variables[0])
    raise ConfigurationError(
        ", ".join(dict.fromkeys(v for v, _ in from_variables)),
        "; ".join(f"{v}: {r}" for v, r in from_variables),
        from_variables,
    )


__all__ = [
    "EVERY_BREAKER",
    "OVERRIDE_VARIABLES",
    "EffectiveConfiguration",
    "EffectiveValue",
    "SourceKind",
    "ValueSource",
    "resolve_configuration",
]
