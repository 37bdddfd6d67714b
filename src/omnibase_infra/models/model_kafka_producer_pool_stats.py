"""Statistics of the Kafka producer pool (the seed's ``ModelKafkaProducerPoolStats``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ProducerState = Literal["idle", "active", "failed", "closed"]
PoolHealth = Literal["healthy", "degraded", "unhealthy"]


class ModelKafkaProducerStats(BaseModel):
    """Counters of one producer in the pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    producer_id: str
    state: ProducerState
    messages_sent: int = Field(ge=0)
    messages_failed: int = Field(ge=0)
    bytes_sent: int = Field(ge=0)
    last_error: str | None = None


class ModelKafkaProducerPoolStats(BaseModel):
    """A snapshot of the whole pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_name: str
    total_producers: int = Field(ge=0)
    active_producers: int = Field(ge=0)
    idle_producers: int = Field(ge=0)
    failed_producers: int = Field(ge=0)

    min_pool_size: int = Field(ge=0)
    max_pool_size: int = Field(ge=0)
    pool_utilization: float = Field(ge=0.0, le=1.0)

    total_messages_sent: int = Field(ge=0)
    total_messages_failed: int = Field(ge=0)
    total_bytes_sent: int = Field(ge=0)
    average_throughput_mps: float = Field(ge=0.0)
    average_response_time_ms: float = Field(ge=0.0)

    pool_health: PoolHealth
    error_rate: float = Field(ge=0.0, le=1.0)
    success_rate: float = Field(ge=0.0, le=1.0)
    producers: list[ModelKafkaProducerStats] = Field(default_factory=list)


__all__ = ["ModelKafkaProducerPoolStats", "ModelKafkaProducerStats", "PoolHealth", "ProducerState"]
