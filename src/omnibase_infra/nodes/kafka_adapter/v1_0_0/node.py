"""kafka_adapter (EFFECT): every Kafka side effect, delegated to the runtime's handler.

The node binds to its validated contract at ``initialize()`` and carries out typed
requests with ``execute()`` through the ``ProtocolKafkaAdapterHandler`` the runtime
registers in the container. It has no broker code of its own; without a handler it
refuses with ``LifecycleError`` instead of pretending.
"""

from __future__ import annotations

from omnibase_infra.nodes.contract_bound_effect import ContractBoundEffect
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
    ModelKafkaAdapterInput,
    ModelKafkaAdapterOutput,
)
from omnibase_infra.protocols.protocol_kafka_effect_handler import ProtocolKafkaAdapterHandler

NODE_NAME = "kafka_adapter"


class NodeKafkaAdapterEffect(ContractBoundEffect):
    """The kafka_adapter node; see the module docstring for what it does and does not do."""

    node_name = NODE_NAME

    async def execute(self, request: ModelKafkaAdapterInput) -> ModelKafkaAdapterOutput:
        """Carry out ``request`` through the registered handler."""
        handler = await self.resolve(ProtocolKafkaAdapterHandler)  # type: ignore[type-abstract]  # resolved by protocol type
        return await handler.handle(request)


__all__ = ["NodeKafkaAdapterEffect"]
