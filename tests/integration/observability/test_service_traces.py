"""The running service continues (commands) or links (event-store batches) a producer's trace.

The test is the producing process: its own ``TracerProvider`` exports over OTLP/HTTP to the
``otlp_receiver`` fixture, and a ``send T`` PRODUCER span puts its context into both the
Kafka record headers and the envelope metadata (``inject_trace_context``). The real service
(``onex-infra run``, a separate process) exports to the same receiver with every trace
sampled. Nothing is mocked: the receiver decodes the protobuf export requests of both
processes, and the assertions read what arrived there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import TYPE_CHECKING

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import TracerProvider
from pydantic import JsonValue
from service_harness import ServiceProcess, ServiceTopics, consume_all, encode, make_envelope, produce

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.observability.spans import set_delivery_attributes, trace_kafka_operation
from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing

if TYPE_CHECKING:
    from conftest import OtlpReceiver, ReceivedSpan  # the fixture module of this directory

PRODUCER_SERVICE = "onex-test-producer"
SERVICE_NAME = "onex-infra-under-test"

Landed = tuple[int, int]
"""(partition, offset) of a produced record."""


def _producer_tracing(receiver: OtlpReceiver) -> TracerProvider:
    return configure_tracing(
        TracingConfiguration(
            environment=EnumEnvironment.DEVELOPMENT,
            sample_rate_override=1.0,
            service_name=PRODUCER_SERVICE,
            otlp_endpoint=receiver.url,
        )
    )


async def _start_traced_service(service: ServiceProcess, receiver: OtlpReceiver) -> None:
    service.env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_TRACE_SAMPLE_RATE": "1",
            "OTEL_SERVICE_NAME": SERVICE_NAME,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s instead of 5 s
        }
    )
    service.start()
    await service.wait_ready()


async def _send_traced(
    provider: TracerProvider,
    bootstrap: str,
    topic: str,
    envelope: ModelEventEnvelope[JsonValue],
) -> tuple[ModelEventEnvelope[JsonValue], list[tuple[str, bytes]], Landed]:
    """Produce ``envelope`` inside a ``send`` span, its context in the headers and the envelope."""
    async with trace_kafka_operation(
        "send", topic, correlation_id=envelope.correlation_id, tracer_provider=provider
    ) as span:
        traced = inject_trace_context(envelope)
        headers = inject_trace_context(None)
        (landed,) = await produce(bootstrap, topic, [encode(traced)], headers=headers)
        set_delivery_attributes(span, landed.partition, landed.offset)
    await asyncio.to_thread(provider.force_flush)
    return traced, headers, (landed.partition, landed.offset)


async def _wait_for_spans(
    receiver: OtlpReceiver, names: set[str], *, within: float = 30.0
) -> dict[str, ReceivedSpan]:
    """The first span received under each of ``names``, once all of them arrived."""
    deadline = time.monotonic() + within
    while True:
        found: dict[str, ReceivedSpan] = {}
        for span in receiver.spans:
            found.setdefault(span.name, span)
        if names <= found.keys():
            return {name: found[name] for name in names}
        if time.monotonic() > deadline:
            raise AssertionError(f"spans {sorted(names - found.keys())} never arrived; got {sorted(found)}")
        await asyncio.sleep(0.1)


def _traceparent(headers: list[tuple[str, bytes]]) -> tuple[str, str]:
    """(trace id, parent span id) of the ``traceparent`` header."""
    (value,) = [v.decode() for k, v in headers if k == "traceparent"]
    _, trace_id, span_id, _ = value.split("-")
    return trace_id, span_id


def _assert_messaging(span: ReceivedSpan, operation: str, topic: str) -> None:
    assert span.attributes["messaging.system"] == "kafka", span
    assert span.attributes["messaging.operation.name"] == operation, span
    assert span.attributes["messaging.operation.type"] == operation, span
    assert span.attributes["messaging.destination.name"] == topic, span
    assert span.status_code != Status.STATUS_CODE_ERROR, span


async def test_command_from_another_process_yields_one_trace_producer_to_reply(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    otlp_receiver: OtlpReceiver,
    kafka_bootstrap: str,
) -> None:
    await _start_traced_service(service, otlp_receiver)
    provider = _producer_tracing(otlp_receiver)
    try:
        command = make_envelope(
            {"operation": "count_events_by_type", "parameters": {}},
            event_type="onex.postgres.operation.requested",
        )
        sent, headers, (partition, offset) = await _send_traced(
            provider, kafka_bootstrap, service_topics.command, command
        )
    finally:
        await asyncio.to_thread(provider.shutdown)
    trace_id, send_span_id = _traceparent(headers)
    assert sent.metadata.trace_id == trace_id  # the envelope carries the same context
    assert sent.metadata.headers["traceparent"] == dict(headers)["traceparent"].decode()

    (reply,) = await consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=30)
    reply_envelope = json.loads(reply.value)  # type: ignore[attr-defined]
    assert reply_envelope["parent_envelope_id"] == str(command.envelope_id)
    assert reply_envelope["payload"]["status"] == "completed"

    spans = await _wait_for_spans(
        otlp_receiver,
        {
            f"send {service_topics.command}",
            f"process {service_topics.command}",
            "SELECT count_events_by_type",
            f"send {service_topics.completed}",
        },
    )
    send = spans[f"send {service_topics.command}"]
    process = spans[f"process {service_topics.command}"]
    select = spans["SELECT count_events_by_type"]
    reply_send = spans[f"send {service_topics.completed}"]

    # One trace, chained producer send → process → database, and process → reply send.
    assert {s.trace_id for s in spans.values()} == {trace_id}
    assert send.span_id == send_span_id
    assert send.parent_span_id == ""
    assert process.parent_span_id == send.span_id
    assert select.parent_span_id == process.span_id
    assert reply_send.parent_span_id == process.span_id
    assert (send.kind, process.kind, select.kind, reply_send.kind) == (
        Span.SPAN_KIND_PRODUCER,
        Span.SPAN_KIND_CONSUMER,
        Span.SPAN_KIND_CLIENT,
        Span.SPAN_KIND_PRODUCER,
    )
    assert send.resource["service.name"] == PRODUCER_SERVICE
    for span in (process, select, reply_send):
        assert span.resource["service.name"] == SERVICE_NAME
        assert span.resource["deployment.environment"] == "development"

    _assert_messaging(send, "send", service_topics.command)
    _assert_messaging(process, "process", service_topics.command)
    assert process.attributes["messaging.destination.partition.id"] == str(partition)
    assert process.attributes["messaging.kafka.offset"] == offset
    assert process.attributes["messaging.consumer.group.name"] == service.env["KAFKA_CONSUMER_GROUP"]
    assert process.attributes["messaging.message.conversation_id"] == str(command.correlation_id)

    assert select.attributes["db.system"] == "postgresql"
    assert select.attributes["db.operation.name"] == "SELECT"
    assert select.attributes["onex.operation"] == "count_events_by_type"
    assert str(select.attributes["db.query.text"]).lstrip().upper().startswith("SELECT")
    assert select.status_code != Status.STATUS_CODE_ERROR

    _assert_messaging(reply_send, "send", service_topics.completed)
    assert reply_send.attributes["messaging.destination.partition.id"] == str(reply.partition)  # type: ignore[attr-defined]
    assert reply_send.attributes["messaging.kafka.offset"] == reply.offset  # type: ignore[attr-defined]

    # The reply carries the trace on: its headers name the reply's send span, its envelope the trace.
    reply_headers = [(k, bytes(v)) for k, v in reply.headers]  # type: ignore[attr-defined]
    assert _traceparent(reply_headers) == (trace_id, reply_send.span_id)
    assert reply_envelope["metadata"]["trace_id"] == trace_id

    code, _ = service.stop()
    assert code == 0


EVENT_STORE_STEPS = (
    "kafka_adapter.consume",
    "kafka_wrapper.decode_events",
    "message_aggregator.fold_duplicates",
    "postgres_adapter.store_event_batch",
    "kafka_adapter.publish_dead_letters",
    "kafka_adapter.commit_offsets",
)
"""The event_store workflow's steps as the shipped composition lists them, as span names."""


async def test_one_event_yields_one_span_per_workflow_step_in_the_contract_order(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    otlp_receiver: OtlpReceiver,
    kafka_bootstrap: str,
) -> None:
    await _start_traced_service(service, otlp_receiver)
    provider = _producer_tracing(otlp_receiver)
    try:
        _, headers, _ = await _send_traced(
            provider, kafka_bootstrap, service_topics.store, make_envelope({"order": 7})
        )
    finally:
        await asyncio.to_thread(provider.shutdown)
    trace_id, send_span_id = _traceparent(headers)

    spans = await _wait_for_spans(otlp_receiver, {*EVENT_STORE_STEPS, "INSERT onex_event_store"})
    steps = [s for s in otlp_receiver.spans if s.name in EVENT_STORE_STEPS]
    # One span per step (one batch: the event), in the event's trace, under the producer's send span.
    assert sorted(s.name for s in steps) == sorted(EVENT_STORE_STEPS), [s.name for s in steps]
    assert {s.trace_id for s in steps} == {trace_id}
    assert {s.parent_span_id for s in steps} == {send_span_id}
    # In the composition's order, one after the other.
    ordered = sorted(steps, key=lambda s: s.start_ns)
    assert tuple(s.name for s in ordered) == EVENT_STORE_STEPS
    assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(ordered))
    for span in ordered:
        node, _, operation = span.name.partition(".")
        assert (span.attributes["onex.workflow"], span.attributes["onex.node"]) == ("event_store", node)
        assert span.attributes["onex.operation"] == operation
        assert span.resource["service.name"] == SERVICE_NAME
        assert span.status_code != Status.STATUS_CODE_ERROR, span
    # The store step's span is an INTERNAL span of step "store"; its INSERT is its child.
    store, insert = spans["postgres_adapter.store_event_batch"], spans["INSERT onex_event_store"]
    assert store.kind == Span.SPAN_KIND_INTERNAL
    assert store.attributes["onex.step"] == "store"
    assert insert.kind == Span.SPAN_KIND_CLIENT
    assert (insert.trace_id, insert.parent_span_id) == (store.trace_id, store.span_id)
    assert insert.attributes["db.system"] == "postgresql"
    assert insert.attributes["db.collection.name"] == "onex_event_store"
    assert insert.attributes["db.operation.batch.size"] == 1
    code, _ = service.stop()
    assert code == 0
