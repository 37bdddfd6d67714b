"""``ProtocolKafkaAdapterHandler``: the behaviour behind the kafka_adapter node.

The runtime implements it with the producer pool, the consumer and the breaker,
and registers the instance in the container; the node delegates to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
        ModelKafkaAdapterInput,
        ModelKafkaAdapterOutput,
    )


class ProtocolKafkaAdapterHandler(Protocol):
    """Carries out one kafka_adapter request."""

    async def handle(self, request: ModelKafkaAdapterInput) -> ModelKafkaAdapterOutput:
        """Run the request; returns once the broker acknowledged (publish, dead letter, commit)."""
        ...


__all__ = ["ProtocolKafkaAdapterHandler"]
