"""postgres_adapter (EFFECT): every PostgreSQL side effect, delegated to the runtime's handler.

The node binds to its validated contract at ``initialize()`` and carries out typed
requests with ``execute()`` through the ``ProtocolPostgresAdapterHandler`` the runtime
registers in the container. It has no database code of its own; without a handler it
refuses with ``LifecycleError`` instead of pretending.
"""

from __future__ import annotations

from omnibase_infra.nodes.contract_bound_effect import ContractBoundEffect
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelPostgresAdapterInput,
    ModelPostgresAdapterOutput,
)
from omnibase_infra.protocols.protocol_postgres_effect_handler import ProtocolPostgresAdapterHandler

NODE_NAME = "postgres_adapter"


class NodePostgresAdapterEffect(ContractBoundEffect):
    """The postgres_adapter node; see the module docstring for what it does and does not do."""

    node_name = NODE_NAME

    async def execute(self, request: ModelPostgresAdapterInput) -> ModelPostgresAdapterOutput:
        """Carry out ``request`` through the registered handler."""
        handler = await self.resolve(ProtocolPostgresAdapterHandler)  # type: ignore[type-abstract]  # resolved by protocol type
        return await handler.handle(request)


__all__ = ["NodePostgresAdapterEffect"]
