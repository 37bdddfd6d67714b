"""Requests and results of kafka_adapter: publish, poll, dead-letter, commit, health check.

In the service the consumer loop drives consuming; an application using the node on
its own polls with ``ModelPollRequest`` (one consumer of the settings' group, created
on the first poll) and commits what it handled with ``ModelCommitRequest``. Record
values and keys are bytes (the encoded envelope); headers keep their order and may repeat.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.contract_validation.model_contract_sections import DEAD_LETTER_SUFFIX
from omnibase_infra.models.model_consumed_record import ModelTopicPartitionOffset
from omnibase_infra.models.model_health import ModelKafkaHealth

_FROZEN = ConfigDict(frozen=True, extra="forbid")

Headers = tuple[tuple[str, bytes], ...]


class ModelOutgoingRecord(BaseModel):
    model_config = _FROZEN

    topic: str = Field(min_length=1, max_length=249)
    key: bytes | None = None
    value: bytes
    headers: Headers = ()


class ModelPublishRequest(BaseModel):
    """Publish records (in order) and wait for the broker to acknowledge each."""

    model_config = _FROZEN

    kind: Literal["publish"] = "publish"
    records: tuple[ModelOutgoingRecord, ...] = Field(min_length=1)


class ModelDeadLetterRequest(BaseModel):
    """Park one poison record in ``source_topic + ".dlq"`` with where and why it failed."""

    model_config = _FROZEN

    kind: Literal["dead_letter"] = "dead_letter"
    source_topic: str = Field(min_length=1)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    stage: str = Field(min_length=1)
    error_class: str = Field(min_length=1)
    message: str
    attempts: int = Field(ge=1)
    key: bytes | None = None
    value: bytes
    original_headers: Headers = ()

    @property
    def dead_letter_topic(self) -> str:
        return self.source_topic + DEAD_LETTER_SUFFIX


class ModelCommitRequest(BaseModel):
    """Commit these offsets (each the next offset to read) for the consumer group."""

    model_config = _FROZEN

    kind: Literal["commit"] = "commit"
    offsets: tuple[ModelTopicPartitionOffset, ...] = Field(min_length=1)


class ModelPollRequest(BaseModel):
    """Read up to ``max_records`` records of ``topics`` as the settings' consumer group
    (default: the contract's ``kafka_consumer.max_poll_records``).

    Waits up to ``timeout_ms`` for the first record (joining the group takes a few
    seconds on the first poll). Nothing is committed: commit the result's
    ``next_offsets()`` with a ``ModelCommitRequest`` once the records are handled.
    Polling other topics than the previous poll replaces the consumer.
    """

    model_config = _FROZEN

    kind: Literal["poll"] = "poll"
    topics: tuple[str, ...] = Field(min_length=1)
    max_records: int | None = Field(default=None, ge=1, le=100_000)
    timeout_ms: int = Field(default=10_000, ge=0, le=600_000)


class ModelKafkaHealthCheckRequest(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"


KafkaRequest = Annotated[
    ModelPublishRequest
    | ModelPollRequest
    | ModelDeadLetterRequest
    | ModelCommitRequest
    | ModelKafkaHealthCheckRequest,
    Field(discriminator="kind"),
]


class ModelKafkaAdapterInput(BaseModel):
    """The input of kafka_adapter: exactly one request."""

    model_config = _FROZEN

    request: KafkaRequest


class ModelRecordAck(BaseModel):
    """Where the broker stored a record."""

    model_config = _FROZEN

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class ModelPublishResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["publish"] = "publish"
    acknowledged: tuple[ModelRecordAck, ...]


class ModelPolledRecord(BaseModel):
    """One consumed record, as the broker holds it."""

    model_config = _FROZEN

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: bytes | None = None
    value: bytes | None = None
    headers: Headers = ()


class ModelPollResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["poll"] = "poll"
    records: tuple[ModelPolledRecord, ...]

    def next_offsets(self) -> tuple[ModelTopicPartitionOffset, ...]:
        """Per partition, the offset after the last record polled (what a commit takes)."""
        last: dict[tuple[str, int], int] = {}
        for record in self.records:
            key = (record.topic, record.partition)
            last[key] = max(last.get(key, -1), record.offset)
        return tuple(
            ModelTopicPartitionOffset(topic=topic, partition=partition, offset=offset + 1)
            for (topic, partition), offset in sorted(last.items())
        )


class ModelDeadLetterResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["dead_letter"] = "dead_letter"
    acknowledged: ModelRecordAck


class ModelCommitResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["commit"] = "commit"
    committed: tuple[ModelTopicPartitionOffset, ...]


class ModelKafkaHealthCheckResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"
    health: ModelKafkaHealth


KafkaResult = Annotated[
    ModelPublishResult
    | ModelPollResult
    | ModelDeadLetterResult
    | ModelCommitResult
    | ModelKafkaHealthCheckResult,
    Field(discriminator="kind"),
]


class ModelKafkaAdapterOutput(BaseModel):
    """The output of kafka_adapter: the result matching the request's kind."""

    model_config = _FROZEN

    result: KafkaResult


__all__ = [
    "Headers",
    "KafkaRequest",
    "KafkaResult",
    "ModelCommitRequest",
    "ModelCommitResult",
    "ModelDeadLetterRequest",
    "ModelDeadLetterResult",
    "ModelKafkaAdapterInput",
    "ModelKafkaAdapterOutput",
    "ModelKafkaHealthCheckRequest",
    "ModelKafkaHealthCheckResult",
    "ModelOutgoingRecord",
    "ModelPollRequest",
    "ModelPollResult",
    "ModelPolledRecord",
    "ModelPublishRequest",
    "ModelPublishResult",
    "ModelRecordAck",
]
