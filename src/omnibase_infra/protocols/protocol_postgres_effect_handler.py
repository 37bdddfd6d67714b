"""``ProtocolPostgresAdapterHandler``: the behaviour behind the postgres_adapter node.

The runtime implements it with the connection pool, the breaker and its fixed
statements, and registers the instance in the container; the node delegates to it
and does nothing on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
        ModelPostgresAdapterInput,
        ModelPostgresAdapterOutput,
    )


class ProtocolPostgresAdapterHandler(Protocol):
    """Carries out one postgres_adapter request."""

    async def handle(self, request: ModelPostgresAdapterInput) -> ModelPostgresAdapterOutput:
        """Run the request; outage errors propagate for the breaker, poison ones are typed results."""
        ...


__all__ = ["ProtocolPostgresAdapterHandler"]
