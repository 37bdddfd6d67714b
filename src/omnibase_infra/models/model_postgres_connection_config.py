"""PostgreSQL connection settings: the seed's ``ConnectionConfig`` fields, SSL included."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

PostgresSslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class ModelPostgresConnectionConfig(BaseModel):
    """Where and how to connect; the password is a ``SecretStr`` and never rendered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(min_length=1)
    user: str = Field(min_length=1)
    password: SecretStr | None = None
    schema_name: str = Field(default="public", min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    min_connections: int = Field(default=2, ge=0, le=500)
    max_connections: int = Field(default=10, ge=1, le=500)
    max_inactive_connection_lifetime: float = Field(default=300.0, ge=0)
    max_queries: int = Field(default=50000, ge=1)
    command_timeout: float = Field(default=30.0, gt=0, le=3600)
    connect_timeout: float = Field(default=10.0, gt=0, le=300)
    ssl_mode: PostgresSslMode = "disable"
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    ssl_ca_file: str | None = None
    application_name: str = "omnibase-infra"

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelPostgresConnectionConfig:
        if self.min_connections > self.max_connections:
            raise ValueError("min_connections must not exceed max_connections")
        if self.ssl_mode in ("verify-ca", "verify-full") and not self.ssl_ca_file:
            raise ValueError(f"ssl_mode {self.ssl_mode} needs ssl_ca_file")
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("ssl_cert_file and ssl_key_file go together")
        return self

    def describe(self) -> str:
        """``user@host:port/database`` for logs and errors: never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


# The seed calls it ConnectionConfig.
ConnectionConfig = ModelPostgresConnectionConfig

__all__ = ["ConnectionConfig", "ModelPostgresConnectionConfig", "PostgresSslMode"]
