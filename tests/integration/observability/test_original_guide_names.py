"""The original guide's entry points, used as the guide uses them, against the real servers.

PostgreSQL, Kafka and an OTLP/HTTP receiver are real. The process's components are built from
the environment (this test's schema, the receiver's endpoint) the way a script of the guide
builds them, and each name must reach the same instance the service would use.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
import pytest
from service_harness import consume_all

from omnibase_infra.infrastructure import (
    get_health_monitor,
    initialize_distributed_tracing,
    initialize_producer_pool,
)
from omnibase_infra.infrastructure.distributed_tracing import get_tracing_manager
from omnibase_infra.infrastructure.event_bus_circuit_breaker import get_circuit_breaker
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_pool_access import get_producer_pool
from omnibase_infra.infrastructure.postgres_connection_manager import get_connection_manager
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.observability.audit import AuditEvent, AuditEventType, AuditSeverity
from omnibase_infra.runtime.process_services import (
    get_audit_logger,
    process_components,
    reset_process_services,
)

if TYPE_CHECKING:
    from conftest import OtlpReceiver  # the fixture module of this directory


@pytest.fixture
async def guide_process(
    monkeypatch: pytest.MonkeyPatch, pg_schema: str, db: asyncpg.Connection, otlp_receiver: OtlpReceiver
) -> AsyncIterator[None]:
    """This process configured as a script of the guide would be: variables only."""
    await migrations.migrate(db, pg_schema)
    for name in [n for n in os.environ if n.startswith(("OTEL_", "ONEX_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("POSTGRES_SCHEMA", pg_schema)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "guide-script")
    reset_process_services()
    yield
    components = process_components()
    await components.monitor.stop()
    await components.event_publisher.stop()
    await components.producers.stop()
    await components.audit_sink.stop()
    await components.database.stop()
    reset_process_services()


async def _until[T](probe: Callable[[], T | None], within: float = 30.0) -> T:
    deadline = time.monotonic() + within
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
    return value


@pytest.mark.usefixtures("guide_process")
async def test_each_name_of_the_original_guide_works_on_the_processs_instances(
    unique_topic: Callable[..., Awaitable[str]],
    kafka_bootstrap: str,
    otlp_receiver: OtlpReceiver,
    db: asyncpg.Connection,
) -> None:
    components = process_components()

    # Pre-deployment check, database: get_connection_manager() + initialize().
    manager = get_connection_manager()
    await manager.initialize()
    assert manager is components.database and get_connection_manager() is manager
    assert (await manager.health_check()).status == "healthy"

    # Kafka: initialize_producer_pool() starts get_producer_pool().
    pool = await initialize_producer_pool()
    assert pool is get_producer_pool() is components.producers
    assert (await pool.health_check()).status == "healthy"

    # Health monitoring: start_monitoring() in a task, then the Prometheus text.
    monitor = get_health_monitor()
    await asyncio.create_task(monitor.start_monitoring())
    await _until(monitor.latest)
    metrics = monitor.get_prometheus_metrics()
    assert 'omnibase_infrastructure_health{environment="development"} 1.0' in metrics
    assert "process_resident_memory_bytes" in metrics
    assert 'omnibase_build_info{environment="development"' in metrics

    # The event bus breaker: queued while forced open, awaitable reset, recovery from the breaker.
    topic = await unique_topic(1)
    breaker = get_circuit_breaker()
    assert breaker is components.kafka_breaker
    publisher = components.event_publisher
    await publisher.start()
    breaker.force_open()
    outcome = await publisher.publish(OutboundEvent.create(topic, b'{"queued": true}', b"k1"))
    assert outcome.status == "queued"
    await breaker.reset_circuit()
    assert breaker.state == "closed"
    report = await breaker.recover_queued_events()
    assert (report.failed, report.remaining) == (0, 0)
    assert publisher.recovered_count == 1
    (record,) = await consume_all(kafka_bootstrap, topic, expect=1)
    assert record.value == b'{"queued": true}'  # type: ignore[attr-defined]

    # Tracing: initialize_distributed_tracing(), then the guide's two operation spans.
    tracing = await initialize_distributed_tracing()
    assert tracing is get_tracing_manager()
    correlation_id = str(uuid.uuid4())
    async with tracing.trace_database_operation(
        operation_type="query", query="SELECT count(*) FROM onex_audit", correlation_id=correlation_id
    ):
        await manager.fetchval("SELECT count(*) FROM onex_audit")
    async with tracing.trace_kafka_operation("produce", topic=topic, correlation_id=correlation_id):
        await pool.send(topic, b'{"traced": true}')
    await asyncio.to_thread(tracing.force_flush)
    spans = {span.name: span for span in await otlp_receiver.wait_for(2)}
    select, send = spans["SELECT"], spans[f"send {topic}"]
    assert select.attributes["db.query.text"] == "SELECT count(*) FROM onex_audit"
    assert send.attributes["messaging.operation.type"] == "send"
    assert {select.attributes["onex.correlation_id"], send.attributes["onex.correlation_id"]} == {
        correlation_id
    }
    assert select.resource["service.name"] == "guide-script"
    assert select.resource["telemetry.sdk.language"] == "python"

    # Audit: the guide's AuditEvent with DATABASE_QUERY, logged with log_event().
    await components.audit_sink.start()
    audit_logger = get_audit_logger()
    audit_event = AuditEvent(
        event_type=AuditEventType.DATABASE_QUERY,
        severity=AuditSeverity.MEDIUM,
        correlation_id=correlation_id,  # type: ignore[arg-type]  # a UUID string, validated
        resource="postgresql",
        action="SELECT",
        outcome="success",  # type: ignore[arg-type]  # validated to AuditOutcome.SUCCESS
        details={"operation": "SELECT", "trace_id": select.trace_id, "environment": "development"},  # type: ignore[arg-type]
    )
    await audit_logger.log_event(audit_event)
    await components.audit_sink.flush()
    row = await db.fetchrow(
        "SELECT event_type, resource, outcome, details FROM onex_audit WHERE correlation_id = $1",
        uuid.UUID(correlation_id),
    )
    assert row is not None
    assert (row["event_type"], row["resource"], row["outcome"]) == ("database_query", "postgresql", "success")
    assert '"operation": "SELECT"' in row["details"]
    assert select.trace_id in row["details"]
