"""Span names, kinds and attributes of trace_kafka_operation / trace_database_operation."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from omnibase_infra.errors import OutageError, PoisonRecordError
from omnibase_infra.observability.propagation import extract_trace_context, inject_trace_context
from omnibase_infra.observability.redaction import register_secret
from omnibase_infra.observability.spans import (
    end_span,
    start_kafka_span,
    trace_database_operation,
    trace_kafka_operation,
)

TOPIC = "onex.cmd.infra.operation.v1"


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_send_span_is_a_producer_span_with_messaging_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    correlation = uuid.uuid4()
    async with trace_kafka_operation(
        "send",
        TOPIC,
        partition=2,
        key=b"order-7",
        correlation_id=correlation,
        server_address="127.0.0.1",
        tracer_provider=provider,
    ) as span:
        assert trace.get_current_span() is span
        span.set_attribute("messaging.kafka.offset", 41)
    (sent,) = exporter.get_finished_spans()
    assert sent.name == f"send {TOPIC}"
    assert sent.kind is SpanKind.PRODUCER
    assert dict(sent.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": TOPIC,
        "messaging.destination.partition.id": "2",
        "messaging.kafka.message.key": "order-7",
        "messaging.message.conversation_id": str(correlation),
        "onex.correlation_id": str(correlation),
        "server.address": "127.0.0.1",
        "messaging.kafka.offset": 41,
    }
    assert sent.status.status_code is StatusCode.UNSET


def test_a_started_send_span_continues_its_parent_without_becoming_current_and_ends_once(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    correlation = uuid.uuid4()
    with provider.get_tracer("t").start_as_current_span("process") as process:
        parent = trace.set_span_in_context(process)
    ok = start_kafka_span(
        "send", TOPIC, key=b"k", correlation_id=correlation, parent=parent, tracer_provider=provider
    )
    failed = start_kafka_span("send", TOPIC, parent=parent, tracer_provider=provider)
    assert trace.get_current_span() is not ok, "started, not made current"
    end_span(ok)
    end_span(failed, OutageError("Kafka unavailable"))

    spans = [s for s in exporter.get_finished_spans() if s.name == f"send {TOPIC}"]
    assert len(spans) == 2, "each ended once"
    sent, refused = spans
    assert sent.kind is SpanKind.PRODUCER
    assert sent.parent is not None and sent.parent.span_id == process.get_span_context().span_id
    assert (sent.attributes or {})["messaging.kafka.message.key"] == "k"
    assert (sent.attributes or {})["onex.correlation_id"] == str(correlation)
    assert sent.status.status_code is StatusCode.UNSET
    assert refused.status.status_code is StatusCode.ERROR
    assert (refused.attributes or {})["error.type"] == "outage"


async def test_process_continues_the_producer_trace_across_headers(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with trace_kafka_operation("send", TOPIC, tracer_provider=provider):
        headers = inject_trace_context([])
    async with (
        trace_kafka_operation(
            "process",
            TOPIC,
            partition=0,
            offset=17,
            consumer_group="omnibase-infra",
            parent=extract_trace_context(headers),
            tracer_provider=provider,
        ),
        trace_database_operation(
            "INSERT",
            "INSERT INTO onex_inbox VALUES ($1, $2)",
            collection="onex_inbox",
            tracer_provider=provider,
        ),
    ):
        pass
    spans = _by_name(exporter)
    send, process, insert = spans[f"send {TOPIC}"], spans[f"process {TOPIC}"], spans["INSERT onex_inbox"]
    assert process.kind is SpanKind.CONSUMER
    assert process.context is not None and send.context is not None and insert.context is not None
    assert process.context.trace_id == send.context.trace_id == insert.context.trace_id
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert insert.parent is not None and insert.parent.span_id == process.context.span_id
    attributes = dict(process.attributes or {})
    assert attributes["messaging.operation.name"] == "process"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.consumer.group.name"] == "omnibase-infra"
    assert attributes["messaging.kafka.offset"] == 17
    assert attributes["messaging.destination.partition.id"] == "0"


async def test_batch_process_links_every_producer(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    contexts = []
    for _ in range(3):
        async with trace_kafka_operation("send", TOPIC, tracer_provider=provider):
            contexts.append(extract_trace_context(inject_trace_context([])))
    async with trace_kafka_operation(
        "process", TOPIC, batch_size=3, links=contexts, tracer_provider=provider
    ):
        pass
    process = _by_name(exporter)[f"process {TOPIC}"]
    senders = {
        s.context.span_id for s in exporter.get_finished_spans() if s.name.startswith("send") and s.context
    }
    assert {link.context.span_id for link in process.links} == senders
    assert process.parent is None
    assert (process.attributes or {})["messaging.batch.message_count"] == 3


async def test_receive_is_named_poll_and_commit_is_a_settle_operation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with trace_kafka_operation("receive", TOPIC, batch_size=5, tracer_provider=provider):
        pass
    async with trace_kafka_operation("commit", TOPIC, partition=1, tracer_provider=provider):
        pass
    spans = _by_name(exporter)
    poll, commit = spans[f"poll {TOPIC}"], spans[f"commit {TOPIC}"]
    assert poll.kind is SpanKind.CONSUMER
    assert (poll.attributes or {})["messaging.operation.type"] == "receive"
    assert commit.kind is SpanKind.CLIENT
    assert (commit.attributes or {})["messaging.operation.type"] == "settle"


async def test_copy_span_covers_the_bulk_path(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    correlation = uuid.uuid4()
    async with trace_database_operation(
        "copy",
        collection="onex_event_store",
        correlation_id=correlation,
        database="onex",
        server_address="127.0.0.1",
        server_port=5432,
        batch_size=500,
        tracer_provider=provider,
    ):
        pass
    (copy,) = exporter.get_finished_spans()
    assert copy.name == "COPY onex_event_store"
    assert copy.kind is SpanKind.CLIENT
    assert dict(copy.attributes or {}) == {
        "db.system": "postgresql",
        "db.system.name": "postgresql",
        "db.operation.name": "COPY",
        "db.collection.name": "onex_event_store",
        "db.namespace": "onex",
        "db.operation.batch.size": 500,
        "onex.correlation_id": str(correlation),
        "server.address": "127.0.0.1",
        "server.port": 5432,
    }


async def test_database_span_named_after_the_contract_operation(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with trace_database_operation(
        "select", "SELECT * FROM t WHERE id = $1", operation_name="get_item", tracer_provider=provider
    ):
        pass
    async with trace_database_operation("select", tracer_provider=provider):
        pass
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["SELECT get_item", "SELECT"]
    first = exporter.get_finished_spans()[0]
    assert (first.attributes or {})["db.query.text"] == "SELECT * FROM t WHERE id = $1"
    assert (first.attributes or {})["onex.operation"] == "get_item"


async def test_errors_are_recorded_redacted_and_reraised(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    register_secret("hunter2-secret")
    with pytest.raises(RuntimeError):
        async with trace_database_operation("insert", collection="t", tracer_provider=provider):
            raise RuntimeError("cannot connect to postgresql://app:pw123@db/x with hunter2-secret")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    (event,) = span.events
    assert event.name == "exception"
    text = str(dict(event.attributes or {}))
    assert "hunter2-secret" not in text and "pw123" not in text
    assert "postgresql://app:***@db/x" in text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OutageError("down"), "outage"),
        (PoisonRecordError("decode", "json", "bad"), "poison"),
        (ValueError("x"), "ValueError"),
        (TimeoutError(), "TimeoutError"),
    ],
)
async def test_error_type_uses_the_error_class(
    provider: TracerProvider, exporter: InMemorySpanExporter, error: Exception, expected: str
) -> None:
    with pytest.raises(type(error)):
        async with trace_kafka_operation("send", TOPIC, tracer_provider=provider):
            raise error
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["error.type"] == expected


async def test_unknown_kafka_operation_is_refused(provider: TracerProvider) -> None:
    with pytest.raises(ValueError, match="unknown Kafka operation"):
        async with trace_kafka_operation("publish", TOPIC, tracer_provider=provider):  # type: ignore[arg-type]
            pass


async def test_the_original_guides_produce_is_a_send_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with trace_kafka_operation("produce", topic=TOPIC, tracer_provider=provider):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == f"send {TOPIC}"
    assert span.kind == SpanKind.PRODUCER
    assert (span.attributes or {})["messaging.operation.type"] == "send"


@pytest.mark.parametrize(
    ("operation_type", "query", "name"),
    [
        ("query", "SELECT id FROM orders WHERE id = $1", "SELECT"),
        (None, "  insert into orders (id) values ($1)", "INSERT"),
        ("update", "UPDATE orders SET x = $1", "UPDATE"),
    ],
)
async def test_the_original_guides_query_keyword_is_the_statement(
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    operation_type: str | None,
    query: str,
    name: str,
) -> None:
    async with trace_database_operation(operation_type, query=query, tracer_provider=provider):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.name == name
    assert (span.attributes or {})["db.operation.name"] == name
    assert (span.attributes or {})["db.query.text"] == query


async def test_a_database_span_without_a_verb_is_refused(provider: TracerProvider) -> None:
    with pytest.raises(ValueError, match="operation_type or a statement"):
        async with trace_database_operation(operation_type="query", tracer_provider=provider):
            pass
    with pytest.raises(ValueError, match="statement or query"):
        async with trace_database_operation("SELECT", "SELECT 1", query="SELECT 2", tracer_provider=provider):
            pass


async def test_each_provider_gets_its_own_spans_and_the_context_is_restored() -> None:
    """The tracer is cached per provider: alternating providers never mix their spans."""
    from omnibase_infra.environment import EnumEnvironment
    from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing

    exporters = [InMemorySpanExporter(), InMemorySpanExporter()]
    providers = [
        configure_tracing(TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT), exporter=e)
        for e in exporters
    ]
    before = trace.get_current_span()
    for n in range(4):
        async with trace_kafka_operation("send", f"t{n}", tracer_provider=providers[n % 2]) as outer:
            async with trace_database_operation("SELECT", "SELECT 1", tracer_provider=providers[n % 2]):
                assert trace.get_current_span() is not outer
            assert trace.get_current_span() is outer
        assert trace.get_current_span() is before
    for k, exporter in enumerate(exporters):
        names = [s.name for s in exporter.get_finished_spans()]
        assert names == [x for n in range(4) if n % 2 == k for x in ("SELECT", f"send t{n}")]
