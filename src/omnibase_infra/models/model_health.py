"""Health snapshots of PostgreSQL, the breakers and the whole infrastructure.

``InfrastructureHealthMetrics`` carries the seed's field names; the nested
``*_metrics`` fields are what ``/health/detailed`` shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_kafka_producer_pool_stats import ModelKafkaProducerPoolStats

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
CircuitState = Literal["closed", "open", "half_open", "forced_open"]


class ModelPoolSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(ge=0)
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    idle_connections: int = Field(ge=0)


class ModelQueryPerformance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total_queries: int = Field(ge=0)
    failed_connections: int = Field(ge=0)
    reconnect_count: int = Field(ge=0)
    average_response_time_ms: float = Field(ge=0)


class ModelDatabaseInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    current_schema: str
    active_connections: int = Field(ge=0)


class ModelPostgresHealth(BaseModel):
    """The seed's PostgreSQL health-check shape; ``error`` is a sanitised reason when unhealthy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: HealthStatus
    connection_pool: ModelPoolSnapshot
    performance: ModelQueryPerformance
    database_info: ModelDatabaseInfo | None = None
    error: str | None = None


class ModelKafkaHealth(BaseModel):
    """Producer-pool health plus whether the brokers answered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: HealthStatus
    brokers_reachable: bool
    pool: ModelKafkaProducerPoolStats | None = None
    error: str | None = None


class ModelCircuitBreakerMetrics(BaseModel):
    """State and counters of one breaker (resilience4j's metric set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: CircuitState
    failure_count: int = Field(ge=0, description="consecutive failures counted while closed")
    successful_calls: int = Field(ge=0)
    failed_calls: int = Field(ge=0)
    ignored_calls: int = Field(ge=0, description="calls that failed with a non-outage error")
    not_permitted_calls: int = Field(ge=0)
    success_rate: float = Field(ge=0.0, le=1.0)
    events_queued: int = Field(ge=0)
    events_spilled: int = Field(ge=0)
    seconds_until_half_open: float | None = None
    transitions: int = Field(ge=0)


class InfrastructureHealthMetrics(BaseModel):
    """Aggregated infrastructure health (the seed's fields)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    overall_status: HealthStatus
    timestamp: datetime
    environment: str
    postgres_healthy: bool
    kafka_healthy: bool
    circuit_breaker_healthy: bool

    total_connections: int = Field(ge=0)
    total_messages_processed: int = Field(ge=0)
    total_events_queued: int = Field(ge=0)
    error_rate_percent: float = Field(ge=0.0, le=100.0)

    avg_db_response_time_ms: float = Field(ge=0.0)
    avg_kafka_throughput_mps: float = Field(ge=0.0)
    circuit_breaker_success_rate: float = Field(ge=0.0, le=1.0)

    postgres_metrics: ModelPostgresHealth | None = None
    kafka_metrics: ModelKafkaHealth | None = None
    circuit_breaker_metrics: list[ModelCircuitBreakerMetrics] = Field(default_factory=list)


__all__ = [
    "CircuitState",
    "HealthStatus",
    "InfrastructureHealthMetrics",
    "ModelCircuitBreakerMetrics",
    "ModelDatabaseInfo",
    "ModelKafkaHealth",
    "ModelPoolSnapshot",
    "ModelPostgresHealth",
    "ModelQueryPerformance",
]
