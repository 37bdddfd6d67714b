"""Requests and results of message_aggregator (pure): write batches and health summaries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_consumed_record import ModelConsumedRecord, ModelTopicPartitionOffset
from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.models.model_infrastructure_state import ModelHealthSummary

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelTargetedRecord(BaseModel):
    """A consumed record and the store it is bound for (e.g. ``event_store``)."""

    model_config = _FROZEN

    target: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    record: ModelConsumedRecord


class ModelBatchEnvelopesRequest(BaseModel):
    """Group these records (one poll's worth, in any order) into write batches."""

    model_config = _FROZEN

    kind: Literal["batch_envelopes"] = "batch_envelopes"
    records: tuple[ModelTargetedRecord, ...]


class ModelSummariseHealthRequest(BaseModel):
    """Turn one health sampling round into one sample per component."""

    model_config = _FROZEN

    kind: Literal["summarise_health"] = "summarise_health"
    metrics: InfrastructureHealthMetrics


AggregatorRequest = Annotated[
    ModelBatchEnvelopesRequest | ModelSummariseHealthRequest, Field(discriminator="kind")
]


class ModelMessageAggregatorInput(BaseModel):
    """The input of message_aggregator: exactly one request."""

    model_config = _FROZEN

    request: AggregatorRequest


class ModelWriteBatch(BaseModel):
    """Records for one target, ordered by (topic, partition, offset), no envelope id twice."""

    model_config = _FROZEN

    target: str
    records: tuple[ModelConsumedRecord, ...] = Field(min_length=1)


class ModelBatchPlan(BaseModel):
    """Batches to apply in order; ``commit_offsets`` are safe once all of them are applied."""

    model_config = _FROZEN

    kind: Literal["batch_plan"] = "batch_plan"
    batches: tuple[ModelWriteBatch, ...]
    duplicates_folded: int = Field(ge=0)
    commit_offsets: tuple[ModelTopicPartitionOffset, ...]


class ModelHealthSummaryResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_summary"] = "health_summary"
    summary: ModelHealthSummary


AggregatorResult = Annotated[ModelBatchPlan | ModelHealthSummaryResult, Field(discriminator="kind")]


class ModelMessageAggregatorOutput(BaseModel):
    """The output of message_aggregator: the result matching the request's kind."""

    model_config = _FROZEN

    result: AggregatorResult


__all__ = [
    "AggregatorRequest",
    "AggregatorResult",
    "ModelBatchEnvelopesRequest",
    "ModelBatchPlan",
    "ModelHealthSummaryResult",
    "ModelMessageAggregatorInput",
    "ModelMessageAggregatorOutput",
    "ModelSummariseHealthRequest",
    "ModelTargetedRecord",
    "ModelWriteBatch",
]
