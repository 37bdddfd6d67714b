"""Which node contract wins for each (name, version), across every contract file.

Node contracts are identified by (name, version). An extra node contract with the
identity of a shipped or installed one replaces it (an operator's tuned copy); any other
repeat (two extras, two shipped, a third-party node claiming a shipped identity) is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omnibase_infra.contract_validation.file_validation import ValidatedFile
from omnibase_infra.contract_validation.model_node_document import ModelNodeContractDocument
from omnibase_infra.contract_validation.problems import Origin


@dataclass
class ResolvedNodes:
    """Which node file wins for each (name, version), and every node name seen."""

    winners: dict[tuple[str, str], ValidatedFile] = field(default_factory=dict)
    known_names: set[str] = field(default_factory=set)
    origins: dict[str, set[Origin]] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)

    def by_name(self, name: str) -> list[ModelNodeContractDocument]:
        return [f.node for (n, _), f in self.winners.items() if n == name and f.node is not None]

    def latest(self, name: str) -> ValidatedFile | None:
        """The winning valid contract of ``name`` with the highest version (what steps run)."""
        files = [f for (n, _), f in self.winners.items() if n == name and f.node is not None]
        if not files:
            return None

        def version(f: ValidatedFile) -> tuple[int, int, int]:
            v = f.node.contract_version if f.node is not None else None
            return (v.major, v.minor, v.patch) if v is not None else (-1, -1, -1)

        return max(files, key=version)


def resolve_nodes(files: Sequence[ValidatedFile]) -> ResolvedNodes:
    """Pick the contract for each node identity; report duplicates."""
    resolved = ResolvedNodes()
    for f in files:
        if f.kind != "node" or f.raw_name is None:
            continue
        resolved.known_names.add(f.raw_name)
        resolved.origins.setdefault(f.raw_name, set()).add(f.source.origin)
        version = str(f.node.contract_version) if f.node is not None else "?"
        key = (f.raw_name, version)
        previous = resolved.winners.get(key)
        if previous is None:
            resolved.winners[key] = f
        elif previous.source.origin != "extra" and f.source.origin == "extra":
            resolved.winners[key] = f
            what = "shipped" if previous.source.origin == "shipped" else "installed"
            resolved.overrides.append(f"{f.file} replaces the {what} contract of {f.raw_name} {version}")
        else:
            f.add(["name"], f"node {f.raw_name} {version} is already declared in {previous.file}")
    return resolved


__all__ = ["ResolvedNodes", "resolve_nodes"]
