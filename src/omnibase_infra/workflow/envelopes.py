"""Envelopes the service itself produces: operation replies and state-changed events.

Replies keep the request's ``correlation_id``, name it as ``parent_envelope_id``
and carry the current trace context in their metadata (W3C traceparent), so a
reply continues the request's trace.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pydantic import JsonValue

from omnibase_infra.models.model_infrastructure_state import ModelStateChangedPayload
from omnibase_infra.models.model_operation_reply import ModelOperationReply
from omnibase_infra.observability.propagation import inject_trace_context

if TYPE_CHECKING:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    Envelope = ModelEventEnvelope[JsonValue]

PRODUCER = "omnibase_infra"
STATE_CHANGED_EVENT_TYPE = "onex.infrastructure.state.changed"


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialise an envelope for the wire (UTF-8 JSON without ``None`` fields)."""
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")


def _envelope(**fields: object) -> Envelope:
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    return ModelEventEnvelope[JsonValue].model_validate(fields)


def encode_reply(
    request: Envelope, reply: ModelOperationReply, reply_id: uuid.UUID, event_type: str
) -> bytes:
    """The reply envelope of ``request`` as wire bytes."""
    envelope = _envelope(
        payload=reply.model_dump(mode="json", exclude_none=True),
        envelope_id=reply_id,
        correlation_id=request.correlation_id,
        parent_envelope_id=request.envelope_id,
        event_type=event_type,
        producer=PRODUCER,
        tenant_id=request.tenant_id,
    )
    return encode_envelope(inject_trace_context(envelope))


def command_envelope(
    operation: str,
    parameters: dict[str, JsonValue],
    envelope_id: uuid.UUID,
    correlation_id: uuid.UUID | None = None,
) -> Envelope:
    """The envelope of an operation command (what a sender puts on the command topic)."""
    fields: dict[str, object] = {
        "payload": {"operation": operation, "parameters": parameters},
        "envelope_id": envelope_id,
    }
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    return _envelope(**fields)


def encode_state_changed(payload: ModelStateChangedPayload) -> bytes:
    """A state-changed event envelope as wire bytes."""
    envelope = _envelope(
        payload=payload.model_dump(mode="json", exclude_none=True),
        event_type=STATE_CHANGED_EVENT_TYPE,
        correlation_id=uuid.uuid4(),
        producer=PRODUCER,
    )
    return encode_envelope(inject_trace_context(envelope))


__all__ = [
    "PRODUCER",
    "STATE_CHANGED_EVENT_TYPE",
    "command_envelope",
    "encode_envelope",
    "encode_reply",
    "encode_state_changed",
]
