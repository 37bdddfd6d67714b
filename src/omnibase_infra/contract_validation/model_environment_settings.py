"""Per-environment node settings carried in ``environment_config`` of a node contract.

Each section holds one value per deployment environment (``ModelPerEnvironment``);
``for_environment()`` picks the one for the detected environment. Ranges mirror the
runtime models they feed (``ModelPostgresConnectionConfig``, ``ModelKafkaProducerConfig``);
a unit test keeps the two sets of bounds equal.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnibase_infra.environment import EnumEnvironment, parse_environment
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaProducerTuning,
    ModelKafkaSecurityConfig,
)
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelPerEnvironment[T](BaseModel):
    """One value of ``T`` for each of production, staging and development."""

    model_config = _FROZEN

    production: T
    staging: T
    development: T

    def for_environment(self, environment: EnumEnvironment | str) -> T:
        """Return the value of ``environment`` (an ``EnumEnvironment`` or any recognised spelling)."""
        env = environment if isinstance(environment, EnumEnvironment) else parse_environment(environment)
        match env:
            case EnumEnvironment.PRODUCTION:
                return self.production
            case EnumEnvironment.STAGING:
                return self.staging
            case EnumEnvironment.DEVELOPMENT:
                return self.development


POOL_USE_FIELDS = frozenset({"read_connections", "reads_per_round_trip", "write_connections"})
"""Pool settings about how the node uses its pool, not how the pool is built."""


class ModelPostgresPoolSettings(BaseModel):
    """Pool sizing and timeouts of the PostgreSQL connection pool."""

    model_config = _FROZEN

    min_connections: int = Field(ge=0, le=500)
    max_connections: int = Field(ge=1, le=500)
    command_timeout: float = Field(gt=0, le=3600, description="seconds per statement")
    connect_timeout: float = Field(default=10.0, gt=0, le=300, description="seconds to connect")
    max_queries: int = Field(default=50000, ge=1, description="queries before a connection is recycled")
    max_inactive_connection_lifetime: float = Field(default=300.0, ge=0, description="seconds idle")
    read_connections: int = Field(
        default=1,
        ge=1,
        le=64,
        description="connections a run of read-only commands is spread over (run_operation)",
    )
    write_connections: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "connections a large event-store batch is split over, the parts written "
            "concurrently, each in its own transaction (store_event_batch)"
        ),
    )
    reads_per_round_trip: int = Field(
        default=1,
        ge=1,
        le=1000,
        description=(
            "read-only commands of a run whose statements one connection sends to PostgreSQL "
            "in one round trip (run_operation; 1: one round trip each)"
        ),
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ModelPostgresPoolSettings:
        if self.min_connections > self.max_connections:
            raise ValueError("min_connections must not exceed max_connections")
        if self.read_connections > self.max_connections:
            raise ValueError("read_connections must not exceed max_connections")
        if self.write_connections > self.max_connections:
            raise ValueError("write_connections must not exceed max_connections")
        return self

    def apply_to(self, connection: ModelPostgresConnectionConfig) -> ModelPostgresConnectionConfig:
        """Return ``connection`` with this pool sizing and these timeouts (re-validated).

        A field the operator set explicitly on ``connection`` (an environment variable,
        i.e. in its ``model_fields_set``) wins over the contract's value.
        """
        contract = {
            k: v
            for k, v in self.model_dump(exclude=set(POOL_USE_FIELDS)).items()
            if k not in connection.model_fields_set
        }
        return ModelPostgresConnectionConfig.model_validate(
            {**connection.model_dump(exclude_unset=True), **contract}
        )


class ModelKafkaProducerSettings(ModelKafkaProducerTuning):
    """The producer settings of ``ModelKafkaProducerConfig`` without servers and security."""

    model_config = _FROZEN

    def to_producer_config(
        self, bootstrap_servers: str, security: ModelKafkaSecurityConfig
    ) -> ModelKafkaProducerConfig:
        """Combine with the servers and security from the environment into a full producer config."""
        return ModelKafkaProducerConfig(
            bootstrap_servers=bootstrap_servers, security=security, **self.model_dump()
        )


class ModelKafkaConsumerSettings(BaseModel):
    """Consumer-group settings. Offsets are always committed by the service, never automatically."""

    model_config = _FROZEN

    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    max_poll_records: int = Field(default=500, ge=1, le=10000)
    max_poll_interval_ms: int = Field(default=300000, ge=10000, le=3_600_000)
    session_timeout_ms: int = Field(default=45000, ge=6000, le=300000)
    heartbeat_interval_ms: int = Field(default=3000, ge=500, le=100000)
    fetch_max_wait_ms: int = Field(default=500, ge=0, le=10000)
    max_partition_fetch_bytes: int = Field(default=1048576, ge=1024, le=100 * 1024 * 1024)

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> ModelKafkaConsumerSettings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self


class ModelBatchingSettings(BaseModel):
    """How many consumed records form one batch and how long a poll waits to fill it."""

    model_config = _FROZEN

    batch_size: int = Field(ge=1, le=10000, description="records per batch at most (the poll's max_records)")
    batch_latency_ms: int = Field(ge=1, le=60000, description="how long a poll waits for records")


class ModelWorkflowRuntimeSettings(BaseModel):
    """Limits of the workflows the orchestrator runs."""

    model_config = _FROZEN

    outbox_batch_size: int = Field(ge=1, le=10000, description="outbox rows claimed per relay round")
    outbox_max_attempts: int = Field(ge=1, le=100, description="failed publishes before a row is parked")
    outbox_idle_interval_ms: int = Field(ge=10, le=60000, description="wait after an empty relay round")
    shutdown_grace_seconds: int = Field(ge=1, le=300, description="time to finish work on SIGTERM")


__all__ = [
    "POOL_USE_FIELDS",
    "ModelBatchingSettings",
    "ModelKafkaConsumerSettings",
    "ModelKafkaProducerSettings",
    "ModelPerEnvironment",
    "ModelPostgresPoolSettings",
    "ModelWorkflowRuntimeSettings",
]
