"""The composition root: the hosted nodes plus what the host keeps (metrics, audit, health monitor).

``host_components`` builds the metrics registry and the audit log, hosts the node group
(``node_host.host_nodes``: loaded through the registry, initialised, no I/O) and builds
the health monitor over the pool and producers the nodes own. Breaker transitions and
the nodes' work reach metrics and audit through the listener and observer registered in
the container (late-bound: the audit sink needs postgres_adapter's pool).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.infrastructure.circuit_breaker_states import LEGAL_TRANSITIONS
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.infrastructure_health_monitor import InfrastructureHealthMonitor
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.infrastructure.outbox_spill import ProtocolOutboxSpill
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.observability.audit import AuditLogger
from omnibase_infra.observability.audit_postgres import PostgresAuditSink
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.process_metrics import register_process_collectors
from omnibase_infra.runtime.node_host import HostedNodes, host_nodes
from omnibase_infra.runtime.service_observers import LateObserver
from omnibase_infra.settings import ModelInfraSettings

if TYPE_CHECKING:
    from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
    from omnibase_infra.nodes.group_gateway.v1_0_0.topology import ServiceTopology
    from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider

logger = logging.getLogger("omnibase_infra.runtime")


class BreakerGate:
    """The consumer's traffic gate: closed while any effect node the batch needs refuses calls."""

    def __init__(self, *nodes: Any) -> None:
        self._nodes = nodes

    def allows_traffic(self) -> bool:
        return all(n.allows_traffic() for n in self._nodes)


def _log_transition(transition: ModelCircuitBreakerTransition) -> None:
    logger.warning(
        "circuit breaker %s: %s -> %s (%s)",
        transition.name,
        transition.from_state,
        transition.to_state,
        transition.reason,
    )


class _Listeners:
    """``ProtocolBreakerListener`` fanning out to metrics, the audit log (once it exists) and the log."""

    def __init__(self, metrics: InfraMetrics) -> None:
        self.metrics = metrics
        self.audit: AuditLogger | None = None

    def __call__(self, transition: ModelCircuitBreakerTransition) -> None:
        self.metrics.on_breaker_transition(transition)
        if self.audit is not None:
            self.audit.record_breaker_transition(transition)
        _log_transition(transition)


@dataclass
class ServiceComponents:
    """Everything ``InfraService`` starts, in one place."""

    settings: ModelInfraSettings
    contracts: ContractSet
    nodes: HostedNodes
    metrics: InfraMetrics
    audit: AuditLogger
    audit_sink: PostgresAuditSink
    monitor: InfrastructureHealthMonitor

    @property
    def database(self) -> PostgresConnectionManager:
        database: PostgresConnectionManager = self.nodes.postgres_adapter.resources.database
        return database

    @property
    def producers(self) -> KafkaProducerPool:
        producers: KafkaProducerPool = self.nodes.kafka_adapter.producers
        return producers

    @property
    def postgres_breaker(self) -> EventBusCircuitBreaker:
        breaker: EventBusCircuitBreaker = self.nodes.postgres_adapter.resources.breaker
        return breaker

    @property
    def kafka_breaker(self) -> EventBusCircuitBreaker:
        breaker: EventBusCircuitBreaker = self.nodes.kafka_adapter.breaker
        return breaker

    @property
    def topology(self) -> ServiceTopology:
        topology: ServiceTopology = self.nodes.group_gateway.topology
        return topology

    @property
    def event_publisher(self) -> ResilientPublisher | None:
        publisher: ResilientPublisher | None = self.nodes.kafka_adapter.event_publisher
        return publisher

    @property
    def breakers(self) -> tuple[EventBusCircuitBreaker, ...]:
        return (self.postgres_breaker, self.kafka_breaker)


async def host_components(
    settings: ModelInfraSettings,
    contracts: ContractSet,
    *,
    clock: Clock = SYSTEM_CLOCK,
    credentials: ProtocolCredentialProvider | None = None,
) -> ServiceComponents:
    """Host the nodes and build metrics, audit and the health monitor around them (no I/O)."""
    env = settings.environment
    registry = CollectorRegistry()
    register_process_collectors(registry)
    metrics = InfraMetrics(registry, str(env))
    listeners = _Listeners(metrics)
    observer = LateObserver(metrics)
    nodes = await host_nodes(
        contracts, settings, clock=clock, listener=listeners, observer=observer, credentials=credentials
    )
    postgres, kafka = nodes.postgres_adapter, nodes.kafka_adapter
    await nodes.container.service_registry.register_instance(ProtocolOutboxSpill, postgres.outbox_spill)
    await kafka.build_event_publisher()  # the original guide's get_event_publisher() returns it
    database: PostgresConnectionManager = postgres.resources.database
    audit_sink = PostgresAuditSink(database, schema=settings.postgres.schema_name)
    audit = AuditLogger(audit_sink, environment=str(env), clock=clock)
    listeners.audit = audit
    observer.attach(audit, postgres.resources.catalog)
    for breaker in (postgres.resources.breaker, kafka.breaker):
        metrics.register_breaker(breaker.name, breaker.state, LEGAL_TRANSITIONS)
    monitor = InfrastructureHealthMonitor(
        postgres=database,
        kafka=kafka.producers,
        breakers=(postgres.resources.breaker, kafka.breaker),
        environment=str(env),
        interval_seconds=settings.health_check_interval,
        processed_counter=lambda: int(postgres.stored) + int(postgres.operations_run),
        listeners=(metrics.update_from_health,),
        exposition=metrics.render,
        clock=clock,
    )
    return ServiceComponents(
        settings=settings,
        contracts=contracts,
        nodes=nodes,
        metrics=metrics,
        audit=audit,
        audit_sink=audit_sink,
        monitor=monitor,
    )


__all__ = ["BreakerGate", "ServiceComponents", "host_components"]
