"""The process's producer pool under the original guide's names, over the service's own instance.

Thin accessors, never a second pool: in ``onex-infra run`` they return the service's pool;
elsewhere the one ``runtime.process_services`` builds from the environment (not started).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool


def get_producer_pool() -> KafkaProducerPool:
    """The process's producer pool (the original guide's entry point; see ``get_connection_manager``)."""
    from omnibase_infra.runtime.process_services import process_components

    return process_components().producers


async def initialize_producer_pool() -> KafkaProducerPool:
    """Start the process's producer pool (idempotent) and return it; ``OutageError`` without a broker."""
    pool = get_producer_pool()
    await pool.initialize()
    return pool


__all__ = ["get_producer_pool", "initialize_producer_pool"]
