"""TracingManager: the original guide's tracing calls, bound to one provider."""

from __future__ import annotations

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from omnibase_infra.observability.tracing_manager import TracingManager


async def test_guide_calls_open_spans_on_the_managers_provider(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    manager = TracingManager(provider)
    correlation_id = "7c6c2a43-5f0e-4a46-9e83-1b1a3d0fe5a1"
    async with (
        manager.trace_kafka_operation(
            operation_type="produce", topic="onex.evt.orders.v1", correlation_id=correlation_id
        ),
        manager.trace_database_operation(
            operation_type="query", query="SELECT * FROM orders WHERE id = $1", correlation_id=correlation_id
        ),
    ):
        envelope = manager.inject_trace_context(ModelEventEnvelope[dict[str, int]](payload={"n": 1}))
    select, send = exporter.get_finished_spans()
    assert (send.name, send.kind) == ("send onex.evt.orders.v1", SpanKind.PRODUCER)
    assert (select.name, select.kind) == ("SELECT", SpanKind.CLIENT)
    assert select.parent is not None and select.parent.span_id == send.context.span_id
    assert (select.attributes or {})["onex.correlation_id"] == correlation_id
    assert envelope.metadata.trace_id == f"{select.context.trace_id:032x}"
    context = manager.extract_trace_context(envelope)
    assert manager.provider is provider
    assert trace.get_current_span(context).get_span_context().trace_id == select.context.trace_id
