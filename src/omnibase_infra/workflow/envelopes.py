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
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import encode_envelope
from omnibase_infra.observability.propagation import inject_trace_context
from omnibase_infra.runtime.state_workflow import STATE_CHANGED_EVENT_TYPE

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope

PRODUCER = "omnibase_infra"


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


def encode_state_changed(payload: ModelStateChangedPayload) -> bytes:
    """A state-changed event envelope as wire bytes."""
    envelope = _envelope(
        payload=payload.model_dump(mode="json", exclude_none=True),
        event_type=STATE_CHANGED_EVENT_TYPE,
        correlation_id=uuid.uuid4(),
        producer=PRODUCER,
    )
    return encode_envelope(inject_trace_context(envelope))


__all__ = ["PRODUCER", "encode_reply", "encode_state_changed"]
