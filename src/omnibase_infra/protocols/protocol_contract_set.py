"""``ProtocolContractSet``: what a node may ask of the validated contracts.

``contract_validation.contract_set.ContractSet`` satisfies it; the container holds
the one instance built at startup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from omnibase_infra.contract_validation.contract_set import LoadedNodeContract
    from omnibase_infra.contract_validation.model_workflows import ModelWorkflow


class ProtocolContractSet(Protocol):
    """Read-only access to every validated node contract and workflow."""

    def find_node(self, name: str, version: str | None = None) -> LoadedNodeContract | None:
        """The node contract (highest version when ``version`` is None), or None."""
        ...

    def node(self, name: str, version: str | None = None) -> LoadedNodeContract:
        """Like ``find_node``; raises ``KeyError`` when absent."""
        ...

    @property
    def workflows(self) -> tuple[ModelWorkflow, ...]:
        """Every workflow of every composition, in declaration order."""
        ...

    @property
    def declared_topics(self) -> frozenset[str]:
        """Every topic some contract declares (dead-letter topics are derived)."""
        ...


__all__ = ["ProtocolContractSet"]
