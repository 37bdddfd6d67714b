"""Spans exported by configure_tracing reach a real OTLP/HTTP receiver as one trace across a hop.

A separate process plays the producer: it opens ``send T``, injects the context into the
envelope and the Kafka headers, and exports its span. This process consumes the message the
way the service does (``process T`` → ``COPY onex_event_store`` → ``send <reply topic>``)
and exports too. The receiver must see four spans with one trace id and the right parents.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.observability.propagation import extract_trace_context, inject_trace_context
from omnibase_infra.observability.spans import trace_database_operation, trace_kafka_operation
from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing

if TYPE_CHECKING:
    from conftest import OtlpReceiver  # the fixture module of this directory

TOPIC = "onex.cmd.test.store.v1"
REPLY_TOPIC = "onex.evt.test.store-reply.v1"

PRODUCER = """
import asyncio, json, sys
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.observability.spans import trace_kafka_operation
from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing

async def main() -> None:
    config = TracingConfiguration(
        environment=EnumEnvironment.PRODUCTION, sample_rate_override=1.0,
        service_name="test-producer", otlp_endpoint=sys.argv[1],
    )
    provider = configure_tracing(config)
    envelope = ModelEventEnvelope[dict[str, int]](payload={"n": 1})
    async with trace_kafka_operation("send", sys.argv[2], partition=0, key=b"k1", tracer_provider=provider):
        envelope = inject_trace_context(envelope)
        headers = inject_trace_context([])
    provider.shutdown()  # flushes the batch processor
    print(json.dumps({"envelope": envelope.model_dump_json(exclude_none=True),
                      "headers": [[k, v.decode()] for k, v in headers]}))

asyncio.run(main())
"""


async def _produce_in_another_process(
    endpoint: str,
) -> tuple[ModelEventEnvelope[dict[str, int]], list[tuple[str, bytes]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PRODUCER,
        endpoint,
        TOPIC,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    message = json.loads(stdout.decode().strip().splitlines()[-1])
    envelope = ModelEventEnvelope[dict[str, int]].model_validate_json(message["envelope"])
    headers = [(k, v.encode()) for k, v in message["headers"]]
    return envelope, headers


async def test_one_trace_from_producer_send_to_reply_send(otlp_receiver: OtlpReceiver) -> None:
    receiver = otlp_receiver
    envelope, headers = await _produce_in_another_process(receiver.url)
    assert "traceparent" in dict(headers)
    assert envelope.metadata.headers["traceparent"] == dict(headers)["traceparent"].decode()

    config = TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT, otlp_endpoint=receiver.url)
    provider = configure_tracing(config)
    try:
        async with trace_kafka_operation(
            "process",
            TOPIC,
            partition=0,
            offset=7,
            consumer_group="omnibase-infra",
            correlation_id=envelope.envelope_id,
            parent=extract_trace_context(headers, envelope),
            tracer_provider=provider,
        ):
            async with trace_database_operation(
                "COPY", collection="onex_event_store", batch_size=1, tracer_provider=provider
            ):
                pass
            async with trace_kafka_operation("send", REPLY_TOPIC, partition=0, tracer_provider=provider):
                reply = inject_trace_context(ModelEventEnvelope[dict[str, int]](payload={"ok": 1}))
        await asyncio.to_thread(provider.force_flush)
    finally:
        await asyncio.to_thread(provider.shutdown)

    spans = {span.name: span for span in await receiver.wait_for(4)}
    send = spans[f"send {TOPIC}"]
    process = spans[f"process {TOPIC}"]
    copy = spans["COPY onex_event_store"]
    reply_send = spans[f"send {REPLY_TOPIC}"]

    assert {span.trace_id for span in spans.values()} == {send.trace_id}
    assert envelope.trace_id is not None and envelope.trace_id.int == int(send.trace_id, 16)
    assert reply.metadata.trace_id == send.trace_id
    assert send.parent_span_id == ""
    assert process.parent_span_id == send.span_id
    assert copy.parent_span_id == process.span_id
    assert reply_send.parent_span_id == process.span_id

    assert send.kind == Span.SPAN_KIND_PRODUCER
    assert process.kind == Span.SPAN_KIND_CONSUMER
    assert copy.kind == Span.SPAN_KIND_CLIENT
    assert reply_send.kind == Span.SPAN_KIND_PRODUCER
    assert send.resource["service.name"] == "test-producer"
    assert process.resource["service.name"] == "omnibase_infrastructure"
    assert process.resource["deployment.environment"] == "development"

    assert send.attributes["messaging.system"] == "kafka"
    assert send.attributes["messaging.operation.type"] == "send"
    assert send.attributes["messaging.kafka.message.key"] == "k1"
    assert process.attributes["messaging.operation.name"] == "process"
    assert process.attributes["messaging.consumer.group.name"] == "omnibase-infra"
    assert process.attributes["messaging.kafka.offset"] == 7
    assert process.attributes["messaging.destination.partition.id"] == "0"
    assert copy.attributes["db.system"] == "postgresql"
    assert copy.attributes["db.operation.name"] == "COPY"
    assert copy.attributes["db.operation.batch.size"] == 1
    assert receiver.content_types == {"application/x-protobuf"}
