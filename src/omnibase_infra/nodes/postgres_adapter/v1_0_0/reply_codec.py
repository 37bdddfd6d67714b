"""A command's reply envelope written as wire bytes directly (``encode_reply``).

``workflow.envelopes.encode_reply`` validates a ``ModelEventEnvelope`` from the reply's
fields, copies it twice to carry the trace context (metadata, then the envelope's own ids)
and serialises it: most of the CPU a one-row read costs the service besides the database.
This module writes the same JSON from a plain dict in the model's field order, with the
model's defaults, through the same serialiser (pydantic-core), once:

- ``payload``: the reply (``operation``, ``status``, ``row_count``, ``rows``, ``error``
  without its ``None`` fields), as ``ModelOperationReply.model_dump(mode="json",
  exclude_none=True)`` gives it;
- ``envelope_id`` (the reply's id), ``envelope_timestamp`` (now, UTC),
  ``correlation_id``, ``parent_envelope_id`` (the request's id), ``metadata`` (``headers``
  and ``tags``; with a valid current span also its ``trace_id``/``span_id`` in hex and the
  W3C ``traceparent``/``tracestate`` headers), ``event_type``, ``priority``,
  ``retry_count``, the envelope's own ``trace_id``/``span_id`` (UUIDs), ``tenant_id``,
  ``producer``, ``onex_version``, ``envelope_version``; ``None`` fields left out.

The bytes are those of the model path for every request, reply and trace context: the unit
test ``test_reply_codec`` compares both on generated ones (Hypothesis). The request was
validated by the model when it was decoded, and the reply's fields are the model's own, so
nothing here needs the model's validation again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import JsonValue
from pydantic_core import to_json

from omnibase_infra.workflow.envelopes import PRODUCER

if TYPE_CHECKING:
    from omnibase_infra.models.model_operation_reply import ModelOperationReply
    from omnibase_infra.workflow.envelopes import Envelope

_PROPAGATOR = TraceContextTextMapPropagator()


def _version_defaults() -> tuple[JsonValue, JsonValue]:
    """The model's ``onex_version`` and ``envelope_version`` defaults, as it writes them."""
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    fields = ModelEventEnvelope.model_fields
    onex = fields["onex_version"].get_default(call_default_factory=True, validated_data={})
    envelope = fields["envelope_version"].get_default(call_default_factory=True, validated_data={})
    return onex.model_dump(mode="json", exclude_none=True), envelope.model_dump(
        mode="json", exclude_none=True
    )


_VERSIONS: list[tuple[JsonValue, JsonValue]] = []


def reply_payload(reply: ModelOperationReply) -> dict[str, JsonValue]:
    """``reply.model_dump(mode="json", exclude_none=True)``, built from its fields."""
    payload: dict[str, JsonValue] = {
        "operation": reply.operation,
        "status": reply.status,
        "row_count": reply.row_count,
        "rows": reply.rows,  # type: ignore[dict-item]  # list[dict[str, JsonValue]] is a JsonValue
    }
    error = reply.error
    if error is not None:
        payload["error"] = error.model_dump(mode="json", exclude_none=True)
    return payload


def encode_reply(
    request: Envelope, reply: ModelOperationReply, reply_id: uuid.UUID, event_type: str
) -> bytes:
    """The reply envelope of ``request`` as wire bytes (``workflow.envelopes.encode_reply``'s bytes)."""
    return encode_reply_at(request, reply, reply_id, event_type, datetime.now(UTC))


def encode_reply_at(
    request: Envelope, reply: ModelOperationReply, reply_id: uuid.UUID, event_type: str, now: datetime
) -> bytes:
    """``encode_reply`` with its ``envelope_timestamp`` given (tests)."""
    if not _VERSIONS:
        _VERSIONS.append(_version_defaults())
    onex_version, envelope_version = _VERSIONS[0]
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)  # the current span's traceparent (and tracestate), when it is valid
    envelope: dict[str, object] = {
        "payload": reply_payload(reply),
        "envelope_id": reply_id,
        "envelope_timestamp": now,
    }
    if request.correlation_id is not None:
        envelope["correlation_id"] = request.correlation_id
    envelope["parent_envelope_id"] = request.envelope_id
    context = trace.get_current_span().get_span_context() if "traceparent" in headers else None
    if context is not None:
        envelope["metadata"] = {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
            "headers": headers,
            "tags": {},
        }
    else:
        envelope["metadata"] = {"headers": {}, "tags": {}}
    envelope["event_type"] = event_type
    envelope["priority"] = 5
    envelope["retry_count"] = 0
    if context is not None:
        envelope["trace_id"] = uuid.UUID(int=context.trace_id)
        envelope["span_id"] = uuid.UUID(int=context.span_id)
    if request.tenant_id is not None:
        envelope["tenant_id"] = request.tenant_id
    envelope["producer"] = PRODUCER
    envelope["onex_version"] = onex_version
    envelope["envelope_version"] = envelope_version
    # NaN and ±infinity as ``null``, as the model's ``model_dump_json`` writes them (valid JSON).
    return to_json(envelope, inf_nan_mode="null")


__all__ = ["encode_reply", "encode_reply_at", "reply_payload"]
