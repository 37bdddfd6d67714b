"""W3C trace context into and out of Kafka record headers and the event envelope."""

from __future__ import annotations

from uuid import UUID

from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.span import TraceState

from omnibase_infra.observability.propagation import (
    KAFKA_HEADERS_GETTER,
    KAFKA_HEADERS_SETTER,
    extract_trace_context,
    inject_trace_context,
)

Envelope = ModelEventEnvelope[dict[str, int]]


def _ids(context: Context) -> tuple[int, int]:
    span_context = trace.get_current_span(context).get_span_context()
    return span_context.trace_id, span_context.span_id


def _current_ids() -> tuple[int, int]:
    span_context = trace.get_current_span().get_span_context()
    return span_context.trace_id, span_context.span_id


def test_headers_round_trip(provider: TracerProvider) -> None:
    original = [("content-type", b"application/json"), ("traceparent", b"00-stale-stale-00")]
    with provider.get_tracer("t").start_as_current_span("send"):
        headers = inject_trace_context(original)
        expected = _current_ids()
    assert original == [("content-type", b"application/json"), ("traceparent", b"00-stale-stale-00")]
    assert headers[0] == ("content-type", b"application/json")
    assert [k for k, _ in headers].count("traceparent") == 1
    traceparent = dict(headers)["traceparent"].decode()
    assert traceparent.startswith(f"00-{expected[0]:032x}-{expected[1]:016x}-")
    assert int(traceparent[-2:], 16) & 0x01  # sampled
    context = extract_trace_context(headers)
    assert _ids(context) == expected
    assert trace.get_current_span(context).get_span_context().is_remote


def test_inject_without_a_span_copies_the_headers_unchanged() -> None:
    headers = [("a", b"1")]
    copied = inject_trace_context(headers)
    assert copied == headers and copied is not headers
    assert inject_trace_context(None) == []


def test_tracestate_travels_with_traceparent(provider: TracerProvider) -> None:
    state = TraceState([("vendor", "value")])
    remote = trace.SpanContext(
        trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=trace.TraceFlags(1), trace_state=state
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote), Context())
    with provider.get_tracer("t").start_as_current_span("send", context=parent):
        headers = inject_trace_context([])
    assert dict(headers)["tracestate"] == b"vendor=value"
    extracted = trace.get_current_span(extract_trace_context(headers)).get_span_context()
    assert extracted.trace_state.get("vendor") == "value"


def test_envelope_round_trip_through_json(provider: TracerProvider) -> None:
    envelope = Envelope(payload={"n": 1}, metadata=ModelEnvelopeMetadata(headers={"x-keep": "yes"}))
    with provider.get_tracer("t").start_as_current_span("send"):
        traced = inject_trace_context(envelope)
        trace_id, span_id = _current_ids()
    assert envelope.metadata.headers == {"x-keep": "yes"}  # the argument is not mutated
    assert traced.metadata.headers["x-keep"] == "yes"
    assert traced.metadata.headers["traceparent"].startswith(f"00-{trace_id:032x}-{span_id:016x}-")
    assert traced.metadata.trace_id == f"{trace_id:032x}"
    assert traced.metadata.span_id == f"{span_id:016x}"
    assert traced.trace_id == UUID(int=trace_id)
    assert traced.span_id == UUID(int=span_id)

    decoded = Envelope.model_validate_json(traced.model_dump_json(exclude_none=True))
    assert _ids(extract_trace_context(decoded)) == (trace_id, span_id)


def test_metadata_alone_can_carry_the_context(provider: TracerProvider) -> None:
    with provider.get_tracer("t").start_as_current_span("send"):
        metadata = inject_trace_context(ModelEnvelopeMetadata())
        expected = _current_ids()
    assert _ids(extract_trace_context(metadata)) == expected


def test_inject_into_envelope_without_a_span_returns_it_unchanged() -> None:
    envelope = Envelope(payload={"n": 1})
    assert inject_trace_context(envelope) is envelope


def test_extract_prefers_the_first_carrier_with_a_valid_context(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("a"):
        headers = inject_trace_context([])
        from_headers = _current_ids()
    with tracer.start_as_current_span("b"):
        envelope = inject_trace_context(Envelope(payload={"n": 1}))
        from_envelope = _current_ids()
    assert _ids(extract_trace_context(headers, envelope)) == from_headers
    assert _ids(extract_trace_context([], envelope)) == from_envelope
    assert _ids(extract_trace_context(None, envelope)) == from_envelope


def test_bare_ids_are_a_sampled_remote_parent() -> None:
    metadata = ModelEnvelopeMetadata(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331")
    span_context = trace.get_current_span(extract_trace_context(metadata)).get_span_context()
    assert span_context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span_context.span_id == 0xB7AD6B7169203331
    assert span_context.is_remote and span_context.trace_flags.sampled

    envelope = Envelope(payload={"n": 1}, trace_id=UUID(int=0x1234), span_id=UUID(int=0x5678))
    assert _ids(extract_trace_context(envelope)) == (0x1234, 0x5678)


def test_malformed_or_missing_context_is_an_empty_context() -> None:
    bad_headers = [("traceparent", b"garbage"), ("traceparent", b"\xff\xfe")]
    assert not trace.get_current_span(extract_trace_context(bad_headers)).get_span_context().is_valid
    metadata = ModelEnvelopeMetadata(headers={"traceparent": "00-zz-yy-01"}, trace_id="nothex", span_id="x")
    assert not trace.get_current_span(extract_trace_context(metadata)).get_span_context().is_valid
    too_big_span = Envelope(payload={"n": 1}, trace_id=UUID(int=1), span_id=UUID(int=2**64))
    assert not trace.get_current_span(extract_trace_context(too_big_span)).get_span_context().is_valid
    assert extract_trace_context() == Context()


def test_getter_is_case_insensitive_and_setter_replaces() -> None:
    headers: list[tuple[str, bytes]] = [("TraceParent", b"old"), ("other", b"x")]
    assert KAFKA_HEADERS_GETTER.get(headers, "traceparent") == ["old"]
    assert KAFKA_HEADERS_GETTER.get(headers, "missing") is None
    assert KAFKA_HEADERS_GETTER.keys(headers) == ["TraceParent", "other"]
    KAFKA_HEADERS_SETTER.set(headers, "traceparent", "new")
    assert headers == [("other", b"x"), ("traceparent", b"new")]
