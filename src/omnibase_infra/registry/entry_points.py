"""Fills a ``NodeRegistry`` from the ``onex.nodes`` entry-point group and the contract set.

An entry point is registered when the contract set holds a contract of the same
name whose folder is the folder of the entry point's module (the module is located,
not imported). That holds for the shipped nodes and for third-party nodes alike: a
third-party node's contract is the ``contract.yaml`` beside its module, which
``contract_validation.discovery`` adds to the set. Other entry points of the group
(omnibase-core ships its own, naming modules rather than classes) are returned as
skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from omnibase_infra.contract_validation.contract_set import ContractSet, LoadedNodeContract
from omnibase_infra.contract_validation.discovery import ENTRY_POINT_GROUP, module_folder
from omnibase_infra.registry.model_node_registration import ModelNodeRegistration
from omnibase_infra.registry.node_registry import NodeRegistry


@dataclass(frozen=True)
class SkippedEntryPoint:
    name: str
    value: str
    reason: str


@dataclass
class DiscoveredNodes:
    registry: NodeRegistry
    skipped: list[SkippedEntryPoint] = field(default_factory=list)


def _beside(folder: Path, contract: LoadedNodeContract) -> bool:
    """The node's module sits beside its contract; for an operator's copy of a node contract
    (``ONEX_CONTRACTS_PATH``, origin ``extra``), beside the contract it was copied from."""
    if folder == Path(contract.path).resolve().parent:
        return True
    return contract.origin == "extra" and (folder / "contract.yaml").is_file()


def discover_nodes(
    contract_set: ContractSet, found: tuple[EntryPoint, ...] | None = None, group: str = ENTRY_POINT_GROUP
) -> DiscoveredNodes:
    """Register every entry point of ``group`` that has a contract in ``contract_set``."""
    points = tuple(entry_points(group=group)) if found is None else found
    result = DiscoveredNodes(registry=NodeRegistry())
    for point in sorted(points, key=lambda p: p.name):
        contract = contract_set.find_node(point.name)
        if contract is None:
            result.skipped.append(SkippedEntryPoint(point.name, point.value, "no contract"))
            continue
        if not point.attr:
            result.skipped.append(SkippedEntryPoint(point.name, point.value, "entry point names no class"))
            continue
        folder = module_folder(point.module)
        if folder is None or not _beside(folder, contract):
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
