"""Statistics of the PostgreSQL connection pool (the seed's ``ConnectionStats``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConnectionStats(BaseModel):
    """A snapshot of pool size and query counters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(ge=0, description="connections the pool holds now")
    checked_out: int = Field(ge=0, description="connections in use")
    overflow: int = Field(ge=0, description="connections above min_connections")
    checked_in: int = Field(ge=0, description="idle connections")
    total_connections: int = Field(ge=0, description="connections opened since start")
    failed_connections: int = Field(ge=0, description="connection attempts or queries lost to outages")
    reconnect_count: int = Field(ge=0, description="dead connections detected and replaced")
    query_count: int = Field(ge=0)
    failed_queries: int = Field(default=0, ge=0)
    average_response_time_ms: float = Field(ge=0)


__all__ = ["ConnectionStats"]
