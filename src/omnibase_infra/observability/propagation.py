"""W3C trace context carried in the event envelope and in Kafka record headers.

A message carries its trace context twice (docs/architecture.md, Wire format and topics):

- in the Kafka record headers: ``traceparent`` / ``tracestate`` as UTF-8 bytes;
- in the envelope: ``metadata.headers['traceparent'|'tracestate']``, plus the ids in
  ``metadata.trace_id`` (32 hex) / ``metadata.span_id`` (16 hex) and in the envelope's own
  ``trace_id`` / ``span_id`` UUID fields (the 128-bit trace id and the 64-bit span id as
  UUID integers), so an envelope read back from the event store still names its trace.

``inject_trace_context`` never mutates its argument: it returns a new envelope, metadata or
header list. ``extract_trace_context`` returns the context of the first carrier that holds
a valid one (headers first, then the envelope, as the caller orders them) and an empty
context when none does, so a span started in it is a new root.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, overload
from uuid import UUID

from omnibase_core.models.core.model_envelope_metadata import ModelEnvelopeMetadata
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
TRACE_HEADERS = (TRACEPARENT, TRACESTATE)

KafkaHeaders = Sequence[tuple[str, bytes]]

_PROPAGATOR = TraceContextTextMapPropagator()
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class KafkaHeadersGetter(Getter[KafkaHeaders]):
    """Reads a header from a Kafka record's ``[(key, bytes), ...]``; keys compare case-insensitively."""

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        wanted = key.lower()
        values = [value.decode("utf-8", "replace") for k, value in carrier if k.lower() == wanted]
        return values or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [k for k, _ in carrier]


class KafkaHeadersSetter(Setter[list[tuple[str, bytes]]]):
    """Sets a header in a mutable header list, replacing any existing header of that key."""

    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        wanted = key.lower()
        carrier[:] = [(k, v) for k, v in carrier if k.lower() != wanted]
        carrier.append((key, value.encode("utf-8")))


class _DictSetter(Setter[dict[str, str]]):
    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        carrier[key] = value


class _DictGetter(Getter[dict[str, str]]):
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        wanted = key.lower()
        values = [v for k, v in carrier.items() if k.lower() == wanted]
        return values or None

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


KAFKA_HEADERS_GETTER = KafkaHeadersGetter()
KAFKA_HEADERS_SETTER = KafkaHeadersSetter()
_DICT_GETTER = _DictGetter()
_DICT_SETTER = _DictSetter()


def _without_trace_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in TRACE_HEADERS}


def _inject_metadata(metadata: ModelEnvelopeMetadata, context: Context | None) -> ModelEnvelopeMetadata:
    fields: dict[str, str] = {}
    _PROPAGATOR.inject(fields, context=context, setter=_DICT_SETTER)
    if TRACEPARENT not in fields:
        return metadata
    span_context = trace.get_current_span(context).get_span_context()
    return metadata.model_copy(
        update={
            "headers": {**_without_trace_headers(metadata.headers), **fields},
            "trace_id": format(span_context.trace_id, "032x"),
            "span_id": format(span_context.span_id, "016x"),
        }
    )


def _inject_envelope[P](envelope: ModelEventEnvelope[P], context: Context | None) -> ModelEventEnvelope[P]:
    metadata = _inject_metadata(envelope.metadata, context)
    if metadata is envelope.metadata:
        return envelope
    span_context = trace.get_current_span(context).get_span_context()
    return envelope.model_copy(
        update={
            "metadata": metadata,
            "trace_id": UUID(int=span_context.trace_id),
            "span_id": UUID(int=span_context.span_id),
        }
    )


def _inject_headers(headers: KafkaHeaders | None, context: Context | None) -> list[tuple[str, bytes]]:
    carrier = list(headers or ())
    if trace.get_current_span(context).get_span_context().is_valid:
        carrier = [(k, v) for k, v in carrier if k.lower() not in TRACE_HEADERS]
        _PROPAGATOR.inject(carrier, context=context, setter=KAFKA_HEADERS_SETTER)
    return carrier


@overload
def inject_trace_context[P](
    carrier: ModelEventEnvelope[P], context: Context | None = None
) -> ModelEventEnvelope[P]: ...
@overload
def inject_trace_context(
    carrier: ModelEnvelopeMetadata, context: Context | None = None
) -> ModelEnvelopeMetadata: ...
@overload
def inject_trace_context(
    carrier: KafkaHeaders | None, context: Context | None = None
) -> list[tuple[str, bytes]]: ...
def inject_trace_context(
    carrier: ModelEventEnvelope[Any] | ModelEnvelopeMetadata | KafkaHeaders | None,
    context: Context | None = None,
) -> ModelEventEnvelope[Any] | ModelEnvelopeMetadata | list[tuple[str, bytes]]:
    """Return a copy of ``carrier`` holding the trace context of ``context`` (default: current).

    Stale ``traceparent``/``tracestate`` entries are replaced; other headers are kept in order.
    Without a valid span in ``context`` an envelope or metadata is returned unchanged and a
    header list is returned as a plain copy.
    """
    if isinstance(carrier, ModelEventEnvelope):
        return _inject_envelope(carrier, context)
    if isinstance(carrier, ModelEnvelopeMetadata):
        return _inject_metadata(carrier, context)
    return _inject_headers(carrier, context)


def _context_from_ids(trace_id: int, span_id: int) -> Context | None:
    """A remote parent built from bare ids (no traceparent); treated as sampled."""
    if not (0 < trace_id < 2**128 and 0 < span_id < 2**64):
        return None
    span_context = trace.SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context), Context())


def _is_valid(context: Context) -> bool:
    return trace.get_current_span(context).get_span_context().is_valid


def _extract_metadata(metadata: ModelEnvelopeMetadata) -> Context | None:
    context = _PROPAGATOR.extract(dict(metadata.headers), context=Context(), getter=_DICT_GETTER)
    if _is_valid(context):
        return context
    trace_hex, span_hex = (metadata.trace_id or "").lower(), (metadata.span_id or "").lower()
    if _HEX32.match(trace_hex) and _HEX16.match(span_hex):
        return _context_from_ids(int(trace_hex, 16), int(span_hex, 16))
    return None


def _extract_one(
    carrier: ModelEventEnvelope[Any] | ModelEnvelopeMetadata | KafkaHeaders | None,
) -> Context | None:
    if carrier is None:
        return None
    if isinstance(carrier, ModelEventEnvelope):
        found = _extract_metadata(carrier.metadata)
        if found is None and carrier.trace_id is not None and carrier.span_id is not None:
            found = _context_from_ids(carrier.trace_id.int, carrier.span_id.int)
        return found
    if isinstance(carrier, ModelEnvelopeMetadata):
        return _extract_metadata(carrier)
    context = _PROPAGATOR.extract(carrier, context=Context(), getter=KAFKA_HEADERS_GETTER)
    return context if _is_valid(context) else None


def extract_trace_context(
    *carriers: ModelEventEnvelope[Any] | ModelEnvelopeMetadata | KafkaHeaders | None,
) -> Context:
    """The trace context of the first carrier holding a valid one; an empty context otherwise.

    Typical use on consumption: ``extract_trace_context(record.headers, envelope)``.
    An envelope without ``traceparent`` but with ids (metadata hex ids, else the envelope's
    UUID ids) yields a remote parent with those ids, treated as sampled. Malformed values
    are ignored, never raised.
    """
    for carrier in carriers:
        found = _extract_one(carrier)
        if found is not None:
            return found
    return Context()


__all__ = [
    "KAFKA_HEADERS_GETTER",
    "KAFKA_HEADERS_SETTER",
    "TRACEPARENT",
    "TRACESTATE",
    "KafkaHeaders",
    "KafkaHeadersGetter",
    "KafkaHeadersSetter",
    "extract_trace_context",
    "inject_trace_context",
]
