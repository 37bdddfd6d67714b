"""The real service exports over OTLP/HTTP and OTLP/gRPC exactly as the standard ``OTEL_*`` variables say.

Each case runs ``onex-infra run`` against a real receiver of one protocol (``otlp_receivers``)
that refuses requests without the expected headers. ``OTEL_TRACE_SAMPLE_RATE=0`` would make
the service's own sampler drop every new trace, so a root span arriving at all proves that
``OTEL_TRACES_SAMPLER`` was honoured. The HTTP case uses the general variables; the gRPC case
the per-signal ``OTEL_EXPORTER_OTLP_TRACES_*`` ones, with the general ones set to wrong values.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from service_harness import ServiceProcess, ServiceTopics, encode, free_port, make_envelope, produce

if TYPE_CHECKING:
    from conftest import OtlpReceiver, ReceivedSpan  # the fixture module of this directory

SECRET = "s3cret-token"


def _otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    base = {
        "OTEL_TRACE_SAMPLE_RATE": "0",
        "OTEL_SERVICE_NAME": "onex-otlp-under-test",
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=omnibase",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s instead of 5 s
    }
    if receiver.protocol == "grpc":
        return base | {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nobody listens
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=wrong",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"authorization=Bearer%20{SECRET},x-tenant=blue",
        }
    return base | {
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{SECRET},x-tenant=blue",
    }


async def _wait_for_spans(
    receiver: OtlpReceiver, names: set[str], within: float = 30.0
) -> dict[str, ReceivedSpan]:
    deadline = time.monotonic() + within
    while True:
        found = {span.name: span for span in receiver.spans}
        if names <= found.keys():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"spans {sorted(names - found.keys())} never arrived; got {sorted(found)}")
        await asyncio.sleep(0.1)


async def test_the_service_exports_over_each_protocol_with_the_standard_variables(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    otlp_receivers: OtlpReceiver,
    kafka_bootstrap: str,
) -> None:
    receiver = otlp_receivers
    receiver.required_headers = {"authorization": f"Bearer {SECRET}", "x-tenant": "blue"}
    service.env.update(_otel_env(receiver))
    service.start()
    await service.wait_ready()

    # No traceparent: the store step's span is the root of a new trace.
    await produce(kafka_bootstrap, service_topics.store, [encode(make_envelope({"order": 1}))])
    process_name = "postgres_adapter.store_event_batch"
    spans = await _wait_for_spans(receiver, {process_name, "INSERT onex_event_store"})
    process, insert = spans[process_name], spans["INSERT onex_event_store"]
    assert process.parent_span_id == ""
    assert insert.parent_span_id == process.span_id

    for span in (process, insert):
        assert span.resource["telemetry.sdk.language"] == "python"
        assert span.resource["telemetry.sdk.name"] == "opentelemetry"
        assert span.resource["telemetry.sdk.version"]
        assert span.resource["service.name"] == "onex-otlp-under-test"
        assert span.resource["service.namespace"] == "omnibase"
        assert span.resource["deployment.environment"] == "development"

    # Every request carried the headers (the receiver refuses the others, so spans prove it too).
    assert receiver.headers
    assert all(h.get("authorization") == f"Bearer {SECRET}" for h in receiver.headers), receiver.headers
    assert all(h.get("x-tenant") == "blue" for h in receiver.headers)
    assert all("OTel-OTLP-Exporter-Python" in h.get("user-agent", "") for h in receiver.headers), (
        receiver.headers
    )
    if receiver.protocol == "http/protobuf":
        assert receiver.content_types == {"application/x-protobuf"}

    code, _ = service.stop()
    assert code == 0
    assert SECRET not in service.log_text()
