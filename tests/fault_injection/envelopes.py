"""Envelopes as a real ONEX client writes them (omnibase-core's model, ``exclude_none``)."""

from __future__ import annotations

import json
import uuid

from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue


def encode_envelope(
    envelope_id: uuid.UUID,
    event_type: str,
    payload: dict[str, JsonValue],
    *,
    correlation_id: uuid.UUID | None = None,
) -> bytes:
    envelope = ModelEventEnvelope[JsonValue](
        envelope_id=envelope_id,
        payload=payload,
        event_type=event_type,
        correlation_id=correlation_id or uuid.uuid4(),
    )
    return envelope.model_dump_json(exclude_none=True).encode("utf-8")


def envelope_id_of(value: bytes | None) -> uuid.UUID | None:
    """The ``envelope_id`` of a record value, or None if it is not an envelope we can read."""
    if not value:
        return None
    try:
        document = json.loads(value)
        return uuid.UUID(str(document["envelope_id"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


__all__ = ["encode_envelope", "envelope_id_of"]
