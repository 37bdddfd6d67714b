"""Requests and results of kafka_adapter: publish, dead-letter, commit, health check.

Consuming is not a request: the consumer loop drives it. Record values and keys are
bytes (the encoded envelope); headers keep their order and may repeat.
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


class ModelKafkaHealthCheckRequest(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"


KafkaRequest = Annotated[
    ModelPublishRequest | ModelDeadLetterRequest | ModelCommitRequest | ModelKafkaHealthCheckRequest,
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
    ModelPublishResult | ModelDeadLetterResult | ModelCommitResult | ModelKafkaHealthCheckResult,
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
    "ModelPublishRequest",
    "ModelPublishResult",
    "ModelRecordAck",
]
