"""Connect the hosted nodes to metrics, audit and the health endpoints.

- ``LateObserver``: the ``ProtocolWorkflowObserver`` that ``host_components`` registers in
  the container before the audit log exists (its sink needs postgres_adapter's pool). It
  counts at once; once ``attach`` gave it the audit log and postgres_adapter's operation
  catalog, it also hands every call to a ``MetricsAndAuditObserver``.
- ``MetricsAndAuditObserver``: counts the events postgres_adapter stored
  (``store_event_batch``), the operations whose replies kafka_adapter published
  (``publish_replies``), the DLQ records kafka_adapter wrote (``publish_dead_letters``)
  and the outbox rows relayed (postgres_adapter's ``mark_outbox_published``); audits
  every operation and DLQ record.
- ``ServiceHealthProvider``: ``/health`` and ``/ready`` over the health
  monitor's latest sample and the consumer's state.
- ``BreakerAdmin``: the operator's breaker reset, by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.infrastructure_health_monitor import InfrastructureHealthMonitor
from omnibase_infra.models.model_health import CircuitState, InfrastructureHealthMetrics
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import ProtocolOperationCatalog
from omnibase_infra.observability.audit import AuditLogger, AuditOutcome
from omnibase_infra.observability.health import evaluate_readiness
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope


class MetricsAndAuditObserver:
    """The nodes' work (``ProtocolWorkflowObserver``) feeding Prometheus and the audit log."""

    def __init__(self, metrics: InfraMetrics, audit: AuditLogger, catalog: ProtocolOperationCatalog) -> None:
        self._metrics = metrics
        self._audit = audit
        self._catalog = catalog

    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None:
        self._metrics.count_messages_processed("event_store", len(rows))
        self._metrics.observe_batch("event_store", len(rows))
        if result.duplicates:
            self._metrics.count_event_store_duplicates(result.duplicates)

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        self._metrics.count_messages_processed("operations", 1)
        name = _operation_name(request)
        operation = self._catalog.get_operation(name)
        self._audit.record_operation(
            name[:200],
            read_only=operation.read_only if operation is not None else True,
            outcome=AuditOutcome.SUCCESS if outcome.poison is None else AuditOutcome.FAILURE,
            correlation_id=request.correlation_id,
            error_class=outcome.poison.poison_class if outcome.poison is not None else None,
        )

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self._metrics.count_dlq_record(letter.record.topic, letter.stage)
        self._audit.record_dead_letter(
            letter.record.topic,
            partition=letter.record.partition,
            offset=letter.record.offset,
            stage=letter.stage,
            error_class=letter.error_class,
        )

    def on_relayed(self, published: int) -> None:
        self._metrics.count_messages_processed("outbox_relay", published)


def _operation_name(request: Envelope) -> str:
    payload = request.payload
    if isinstance(payload, dict):
        name = payload.get("operation")
        if isinstance(name, str):
            return name or "<empty operation name>"  # the audit record needs a non-empty resource
    return "<invalid command>"


class LateObserver:
    """``ProtocolWorkflowObserver`` registered before the audit log exists: counts at once,
    audits once ``attach`` gave it the audit log and the operation catalog."""

    def __init__(self, metrics: InfraMetrics) -> None:
        self._metrics = metrics
        self._inner: MetricsAndAuditObserver | None = None

    def attach(self, audit: AuditLogger, catalog: ProtocolOperationCatalog) -> None:
        self._inner = MetricsAndAuditObserver(self._metrics, audit, catalog)

    def on_stored(self, result: WriteResult, rows: Sequence[StoredEvent]) -> None:
        if self._inner is not None:
            self._inner.on_stored(result, list(rows))

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        if self._inner is not None:
            self._inner.on_operation(source, request, outcome)

    def on_dead_letter(self, letter: DeadLetter) -> None:
        if self._inner is not None:
            self._inner.on_dead_letter(letter)

    def on_relayed(self, published: int) -> None:
        self._metrics.count_messages_processed("outbox_relay", published)


class ServiceHealthProvider:
    """``ProtocolHealthProvider`` of the running service."""

    def __init__(
        self,
        monitor: InfrastructureHealthMonitor,
        *,
        database_ready: Callable[[], bool],
        consumer_ready: Callable[[], bool],
    ) -> None:
        self._monitor = monitor
        self._database_ready = database_ready
        self._consumer_ready = consumer_ready

    async def health(self) -> InfrastructureHealthMetrics:
        latest = self._monitor.latest()
        return latest if latest is not None else await self._monitor.sample_once()

    async def readiness(self) -> tuple[bool, list[str]]:
        return evaluate_readiness(
            self._monitor.latest(),
            database_pool_ready=self._database_ready(),
            consumer_ready=self._consumer_ready(),
        )


class BreakerAdmin:
    """``ProtocolBreakerAdmin`` over the service's breakers."""

    def __init__(self, breakers: Sequence[EventBusCircuitBreaker]) -> None:
        self._breakers = {b.name: b for b in breakers}

    def breaker_names(self) -> Sequence[str]:
        return sorted(self._breakers)

    async def reset_breaker(self, name: str) -> CircuitState:
        breaker = self._breakers[name]
        await breaker.reset_circuit()
        return breaker.state


__all__ = ["BreakerAdmin", "LateObserver", "MetricsAndAuditObserver", "ServiceHealthProvider"]
