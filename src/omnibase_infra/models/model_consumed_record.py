"""An envelope as consumed from Kafka, with its coordinates: the unit the event store keeps.

Shared by message_aggregator (which batches these) and postgres_adapter (which
writes them), so neither node imports the other.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.json_types import JsonObject, JsonValue


class ModelTopicPartitionOffset(BaseModel):
    """A position in a partition; as a commit, ``offset`` is the next record to read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(min_length=1)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class ModelConsumedRecord(BaseModel):
    """One decoded envelope and where it came from (topic, partition, offset)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(min_length=1)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    envelope_id: UUID
    event_type: str | None = None
    correlation_id: UUID | None = None
    envelope_timestamp: datetime | None = None
    payload: JsonValue
    metadata: JsonObject = Field(default_factory=dict)
    size_bytes: int = Field(default=0, ge=0, description="encoded size of the Kafka record value")


__all__ = ["ModelConsumedRecord", "ModelTopicPartitionOffset"]
