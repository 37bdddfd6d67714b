"""Resilience core: circuit breaker, event queue, PostgreSQL and Kafka pools, health monitor.

Nothing is imported eagerly here so that importing one piece (say, the error classifier)
never pulls in the others; import from the module that owns a name:

- ``infrastructure.error_classification``: ``classify_error``, ``is_outage``, ``is_poison``
- ``infrastructure.event_bus_circuit_breaker``: ``EventBusCircuitBreaker``, ``get_circuit_breaker``
- ``infrastructure.resilient_publisher``: ``ResilientPublisher`` (the original guide's event queue)
- ``infrastructure.outbox_spill``: ``ProtocolOutboxSpill``, ``PostgresOutboxSpill``
- ``infrastructure.postgres_connection_manager``: ``PostgresConnectionManager``, ``get_connection_manager``
- ``infrastructure.kafka_producer_pool_access``: ``get_producer_pool``,
  ``initialize_producer_pool`` (over ``kafka_producer_pool.KafkaProducerPool``)
- ``infrastructure.infrastructure_health_monitor``: ``InfrastructureHealthMonitor``, ``get_health_monitor``
- ``infrastructure.distributed_tracing``: ``initialize_distributed_tracing``, ``get_tracing_manager``

The original guide imports its entry points from this package
(``from omnibase_infra.infrastructure import initialize_distributed_tracing, ...``); they are
resolved on first access, importing only the module that owns them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnibase_infra.infrastructure.distributed_tracing import (
        get_tracing_manager,
        initialize_distributed_tracing,
    )
    from omnibase_infra.infrastructure.event_bus_circuit_breaker import get_circuit_breaker
    from omnibase_infra.infrastructure.infrastructure_health_monitor import get_health_monitor
    from omnibase_infra.infrastructure.kafka_producer_pool_access import (
        get_producer_pool,
        initialize_producer_pool,
    )
    from omnibase_infra.infrastructure.postgres_connection_manager import get_connection_manager

_ENTRY_POINTS = {
    "get_circuit_breaker": "event_bus_circuit_breaker",
    "get_connection_manager": "postgres_connection_manager",
    "get_health_monitor": "infrastructure_health_monitor",
    "get_producer_pool": "kafka_producer_pool_access",
    "get_tracing_manager": "distributed_tracing",
    "initialize_distributed_tracing": "distributed_tracing",
    "initialize_producer_pool": "kafka_producer_pool_access",
}


def __getattr__(name: str) -> object:
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "get_circuit_breaker",
    "get_connection_manager",
    "get_health_monitor",
    "get_producer_pool",
    "get_tracing_manager",
    "initialize_distributed_tracing",
    "initialize_producer_pool",
]
