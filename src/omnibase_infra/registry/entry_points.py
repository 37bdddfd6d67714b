"""Fills a ``NodeRegistry`` from the ``onex.nodes`` entry-point group and the contract set.

An entry point is registered when the contract set holds a contract of the same
name whose folder is the folder of the entry point's module (the module is located,
not imported). Other entry points of the group (omnibase-core ships its own) are
returned as skipped, with the reason.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.registry.model_node_registration import ModelNodeRegistration
from omnibase_infra.registry.node_registry import NodeRegistry

ENTRY_POINT_GROUP = "onex.nodes"


@dataclass(frozen=True)
class SkippedEntryPoint:
    name: str
    value: str
    reason: str


@dataclass
class DiscoveredNodes:
    registry: NodeRegistry
    skipped: list[SkippedEntryPoint] = field(default_factory=list)


def _module_folder(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


def discover_nodes(
    contract_set: ContractSet, found: tuple[EntryPoint, ...] | None = None, group: str = ENTRY_POINT_GROUP
) -> DiscoveredNodes:
    """Register every entry point of ``group`` that has a contract in ``contract_set``."""
    points = tuple(entry_points(group=group)) if found is None else found
    result = DiscoveredNodes(registry=NodeRegistry())
    for point in sorted(points, key=lambda p: p.name):
        contract = contract_set.find_node(point.name)
        if contract is None:
            result.skipped.append(SkippedEntryPoint(point.name, point.value, "no omnibase_infra contract"))
            continue
        if not point.attr:
            result.skipped.append(SkippedEntryPoint(point.name, point.value, "entry point names no class"))
            continue
        folder = _module_folder(point.module)
        if folder is None or folder != Path(contract.path).resolve().parent:
            result.skipped.append(
                SkippedEntryPoint(
                    point.name, point.value, f"module is not beside its contract {contract.path}"
                )
            )
            continue
        result.registry.register(
            ModelNodeRegistration(
                name=contract.name,
                version=str(contract.version),
                kind=contract.kind,
                entry_point=point.value,
                contract_path=contract.path,
                distribution=point.dist.name if point.dist is not None else None,
                description=contract.description,
            )
        )
    return result


__all__ = ["ENTRY_POINT_GROUP", "DiscoveredNodes", "SkippedEntryPoint", "discover_nodes"]
