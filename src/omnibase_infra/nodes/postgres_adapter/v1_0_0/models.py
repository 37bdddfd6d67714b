"""Requests and results of postgres_adapter: operations, event-store writes, health checks.

Every request is one of a closed set (discriminated by ``kind``); so is every result.
A command from the bus becomes a ``ModelOperationRequest``: it names an operation of
the contract and carries parameters as JSON, never SQL.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.json_types import JsonObject
from omnibase_infra.models.model_consumed_record import ModelConsumedRecord
from omnibase_infra.models.model_health import ModelPostgresHealth

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelOperationRequest(BaseModel):
    """Run the named contract operation once for the command ``request_envelope_id``."""

    model_config = _FROZEN

    kind: Literal["operation"] = "operation"
    operation: str = Field(min_length=1, max_length=64)
    parameters: JsonObject = Field(default_factory=dict)
    request_envelope_id: UUID
    correlation_id: UUID | None = None


class ModelEventStoreWriteRequest(BaseModel):
    """Write one batch into the event store (idempotent by envelope_id)."""

    model_config = _FROZEN

    kind: Literal["event_store_write"] = "event_store_write"
    records: tuple[ModelConsumedRecord, ...] = Field(min_length=1)


class ModelHealthCheckRequest(BaseModel):
    """Sample the pool and the server."""

    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"


PostgresRequest = Annotated[
    ModelOperationRequest | ModelEventStoreWriteRequest | ModelHealthCheckRequest,
    Field(discriminator="kind"),
]


class ModelPostgresAdapterInput(BaseModel):
    """The input of postgres_adapter: exactly one request."""

    model_config = _FROZEN

    request: PostgresRequest


class ModelOperationFailure(BaseModel):
    """Why an operation failed, without connection details or secrets."""

    model_config = _FROZEN

    error_kind: Literal[
        "unknown_operation", "invalid_command", "invalid_parameters", "topic_not_allowed", "sql_error"
    ]
    message: str
    sqlstate: str | None = Field(default=None, pattern=r"^[0-9A-Z]{5}$")


class ModelOperationResult(BaseModel):
    """The reply to an operation request: rows on success, a typed failure otherwise."""

    model_config = _FROZEN

    kind: Literal["operation"] = "operation"
    operation: str
    request_envelope_id: UUID
    status: Literal["completed", "failed"]
    rows: tuple[JsonObject, ...] = ()
    row_count: int = Field(default=0, ge=0)
    failure: ModelOperationFailure | None = None


class ModelEventStoreWriteResult(BaseModel):
    """How many records of a batch were new and how many were already stored."""

    model_config = _FROZEN

    kind: Literal["event_store_write"] = "event_store_write"
    received: int = Field(ge=0)
    stored: int = Field(ge=0)
    duplicates: int = Field(ge=0)


class ModelHealthCheckResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"
    health: ModelPostgresHealth


PostgresResult = Annotated[
    ModelOperationResult | ModelEventStoreWriteResult | ModelHealthCheckResult,
    Field(discriminator="kind"),
]


class ModelPostgresAdapterOutput(BaseModel):
    """The output of postgres_adapter: the result matching the request's kind."""

    model_config = _FROZEN

    result: PostgresResult


__all__ = [
    "ModelEventStoreWriteRequest",
    "ModelEventStoreWriteResult",
    "ModelHealthCheckRequest",
    "ModelHealthCheckResult",
    "ModelOperationFailure",
    "ModelOperationRequest",
    "ModelOperationResult",
    "ModelPostgresAdapterInput",
    "ModelPostgresAdapterOutput",
    "PostgresRequest",
    "PostgresResult",
]
