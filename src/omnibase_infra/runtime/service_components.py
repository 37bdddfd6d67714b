"""The composition root: every object of a running service, built from settings and contracts.

``build_components`` does no I/O: it only constructs and wires. ``InfraService``
(``runtime.service``) starts and stops them in order. This is the one module
that imports every adapter; nothing else in the package does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.model_environment_settings import ModelPostgresPoolSettings
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.infrastructure.circuit_breaker_states import LEGAL_TRANSITIONS
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.infrastructure_health_monitor import InfrastructureHealthMonitor
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.infrastructure.outbox_spill import PostgresOutboxSpill
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig
from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl
from omnibase_infra.nodes.group_gateway.v1_0_0.topology import ServiceTopology, resolve_topology
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import reduce_health
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import summarise_health
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_catalog import ContractOperationCatalog
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.observability.audit import AuditLogger
from omnibase_infra.observability.audit_postgres import PostgresAuditSink
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.process_metrics import register_process_collectors
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.runtime.batch_processor import RecordBatchProcessor
from omnibase_infra.runtime.outbox_relay import OutboxRelay
from omnibase_infra.runtime.service_observers import MetricsAndAuditObserver
from omnibase_infra.runtime.state_workflow import InfrastructureStateWorkflow
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.envelopes import encode_reply, encode_state_changed
from omnibase_infra.workflow.protocols import ProtocolTopicAcl

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope

logger = logging.getLogger("omnibase_infra.runtime")


class DurableEventPublisher:
    """``ProtocolEventPublisher`` over ``publish_durably``: to Kafka or the outbox, never held in
    memory; state topics only (the ACL)."""

    def __init__(self, publisher: ResilientPublisher, topic_acl: ProtocolTopicAcl) -> None:
        self._publisher = publisher
        self._topic_acl = topic_acl

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self._topic_acl.require(topic, "state")
        await self._publisher.publish_durably(
            OutboundEvent.create(topic, value, key, inject_trace_context(None))
        )


class BreakerGate:
    """The consumer's traffic gate: closed while any breaker the batch needs refuses calls."""

    def __init__(self, *breakers: EventBusCircuitBreaker) -> None:
        self._breakers = breakers

    def allows_traffic(self) -> bool:
        return all(b.allows_calls() for b in self._breakers)


def _log_transition(transition: ModelCircuitBreakerTransition) -> None:
    logger.warning(
        "circuit breaker %s: %s -> %s (%s)",
        transition.name,
        transition.from_state,
        transition.to_state,
        transition.reason,
    )


@dataclass
class ServiceComponents:
    """Everything ``InfraService`` starts, in one place."""

    settings: ModelInfraSettings
    contracts: ContractSet
    topology: ServiceTopology
    topic_acl: TopicAcl
    metrics: InfraMetrics
    audit: AuditLogger
    audit_sink: PostgresAuditSink
    database: PostgresConnectionManager
    producers: KafkaProducerPool
    postgres_breaker: EventBusCircuitBreaker
    kafka_breaker: EventBusCircuitBreaker
    event_publisher: ResilientPublisher
    catalog: ContractOperationCatalog
    executor: OperationExecutor
    processor: RecordBatchProcessor
    relay: OutboxRelay
    monitor: InfrastructureHealthMonitor
    state: InfrastructureStateWorkflow

    @property
    def breakers(self) -> tuple[EventBusCircuitBreaker, ...]:
        return (self.postgres_breaker, self.kafka_breaker)


def _reply_headers(request: Envelope) -> list[tuple[str, bytes]]:
    # Called inside the reply's "send" span: carry that span's context.
    return inject_trace_context(None)


REPLY_RECORD_HEADROOM = 16 * 1024
"""Bytes of a reply record left for its key, headers and framing (``max_request_size`` is per record)."""


def command_statement_timeout(command_timeout: float, breaker_timeout: float) -> float:
    """How long a command's statement may run: 90 % of the shorter of the pool's
    ``command_timeout`` and the PostgreSQL breaker's ``timeout_seconds``.

    The server cancels the statement first (SQLSTATE 57014: the command's failure,
    ``timeout``); the remaining 10 % is the time the server has to say so before the
    client-side timeout ends the call as an outage.
    """
    return 0.9 * min(command_timeout, breaker_timeout)


def _pool_config(
    settings: ModelInfraSettings, pool: ModelPostgresPoolSettings
) -> ModelPostgresConnectionConfig:
    """The contract's pool settings under the operator's explicit ``POSTGRES_*`` values."""
    try:
        return pool.apply_to(settings.postgres)
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise ConfigurationError(
            "POSTGRES_MIN_CONNECTIONS, POSTGRES_MAX_CONNECTIONS",
            f"{reason} (with the contract's postgres_pool for {settings.environment.value})",
        ) from None


def build_components(
    settings: ModelInfraSettings, contracts: ContractSet, *, clock: Clock = SYSTEM_CLOCK
) -> ServiceComponents:
    """Construct and wire every component (no I/O)."""
    env = settings.environment
    postgres_node = contracts.node("postgres_adapter")
    kafka_node = contracts.node("kafka_adapter")
    orchestrator = contracts.node("infrastructure_orchestrator")
    topology = resolve_topology(contracts, settings)
    runtime = orchestrator.workflow_runtime(env)
    topic_acl = TopicAcl.for_service(contracts, topology, settings.outbox_topics)

    registry = CollectorRegistry()
    register_process_collectors(registry)
    metrics = InfraMetrics(registry, str(env))
    pool_config = _pool_config(settings, postgres_node.postgres_pool(env))
    database = PostgresConnectionManager(pool_config, clock=clock)
    audit_sink = PostgresAuditSink(database, schema=settings.postgres.schema_name)
    audit = AuditLogger(audit_sink, environment=str(env), clock=clock)
    listeners = (metrics.on_breaker_transition, audit.record_breaker_transition, _log_transition)
    postgres_breaker = EventBusCircuitBreaker.from_contract(
        postgres_node.circuit_breakers, name="postgres", environment=env, clock=clock, listeners=listeners
    )
    kafka_breaker = EventBusCircuitBreaker.from_contract(
        kafka_node.circuit_breakers, name="kafka", environment=env, clock=clock, listeners=listeners
    )
    for breaker in (postgres_breaker, kafka_breaker):
        metrics.register_breaker(breaker.name, breaker.state, LEGAL_TRANSITIONS)
    producer_config = kafka_node.kafka_producer(env).to_producer_config(
        settings.kafka_bootstrap_servers, settings.kafka_security
    )
    producers = KafkaProducerPool(producer_config, clock=clock)
    outbox = PostgresOutboxSpill(database, schema=settings.postgres.schema_name)
    event_publisher = ResilientPublisher(
        producers,
        kafka_breaker,
        spill=outbox,
        dead_letter_sink=outbox,  # parked records become dead_letter rows, not a list in memory
        max_attempts=runtime.outbox_max_attempts,
        clock=clock,
    )
    catalog = ContractOperationCatalog(postgres_node.operations)
    executor = OperationExecutor(
        catalog,
        completed_topic=topology.operation_completed_topic,
        failed_topic=topology.operation_failed_topic,
        encode_reply=encode_reply,
        max_reply_bytes=producer_config.max_request_size - REPLY_RECORD_HEADROOM,
        statement_timeout_seconds=command_statement_timeout(
            pool_config.command_timeout, postgres_breaker.config.timeout_seconds
        ),
        topic_acl=topic_acl,
    )
    processor = RecordBatchProcessor(
        event_store_topics=topology.event_store_topics,
        command_topics=topology.command_topics,
        database=database,
        database_guard=postgres_breaker,
        publisher=producers,
        publish_guard=kafka_breaker,
        executor=executor,
        reply_headers=_reply_headers,
        observer=MetricsAndAuditObserver(metrics, audit, catalog),
        consumer_group=settings.kafka_consumer_group,
        clock=clock,
        topic_acl=topic_acl,
    )
    relay = OutboxRelay(
        database,
        postgres_breaker,
        producers,
        kafka_breaker,
        topic_acl=topic_acl,
        topics=producers,
        batch_size=runtime.outbox_batch_size,
        max_attempts=runtime.outbox_max_attempts,
        dead_letter_enabled=kafka_breaker.config.dead_letter_enabled,
        idle_interval_seconds=runtime.outbox_idle_interval_ms / 1000,
        # The claim's transaction stays open while the sends run: keep them well inside the
        # deadline a PostgreSQL call gets, so the round's marking still has time to commit.
        send_budget_seconds=postgres_breaker.config.timeout_seconds / 2,
        clock=clock,
        observe=lambda report: metrics.count_messages_processed("outbox_relay", report.published),
    )
    monitor = InfrastructureHealthMonitor(
        postgres=database,
        kafka=producers,
        breakers=(postgres_breaker, kafka_breaker),
        environment=str(env),
        interval_seconds=settings.health_check_interval,
        processed_counter=lambda: processor.stats.stored + processor.stats.operations,
        listeners=(metrics.update_from_health,),
        exposition=metrics.render,
        clock=clock,
    )
    state = InfrastructureStateWorkflow(
        summarise=summarise_health,
        reduce=reduce_health,
        database=database,
        database_guard=postgres_breaker,
        publisher=DurableEventPublisher(event_publisher, topic_acl),
        topic=topology.state_changed_topic,
        encode=encode_state_changed,
    )
    return ServiceComponents(
        settings=settings,
        contracts=contracts,
        topology=topology,
        topic_acl=topic_acl,
        metrics=metrics,
        audit=audit,
        audit_sink=audit_sink,
        database=database,
        producers=producers,
        postgres_breaker=postgres_breaker,
        kafka_breaker=kafka_breaker,
        event_publisher=event_publisher,
        catalog=catalog,
        executor=executor,
        processor=processor,
        relay=relay,
        monitor=monitor,
        state=state,
    )


__all__ = ["BreakerGate", "DurableEventPublisher", "ServiceComponents", "build_components"]
