"""Requests and results of vault_adapter: read credentials, refresh, health check.

Every request is one of a closed set (discriminated by ``kind``); so is every result.
Credentials travel as ``ModelVaultCredentials`` whose password is a ``SecretStr``: a
result dumped to JSON or a log shows ``**********``, never the value.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_vault_credentials import (
    CredentialTarget,
    ModelCredentialStoreStatus,
    ModelVaultCredentials,
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelReadCredentialsRequest(BaseModel):
    """The current credentials of one target; ``force_refresh`` reads the store even if cached."""

    model_config = _FROZEN

    kind: Literal["read_credentials"] = "read_credentials"
    target: CredentialTarget
    force_refresh: bool = False


class ModelRefreshRequest(BaseModel):
    """Renew the token when due and read every target whose credentials expired."""

    model_config = _FROZEN

    kind: Literal["refresh"] = "refresh"


class ModelHealthCheckRequest(BaseModel):
    """Report the store's status (token, freshness, breaker)."""

    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"


VaultRequest = Annotated[
    ModelReadCredentialsRequest | ModelRefreshRequest | ModelHealthCheckRequest,
    Field(discriminator="kind"),
]


class ModelVaultAdapterInput(BaseModel):
    """The input of vault_adapter: exactly one request."""

    model_config = _FROZEN

    request: VaultRequest


class ModelReadCredentialsResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["read_credentials"] = "read_credentials"
    credentials: ModelVaultCredentials


class ModelRefreshResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["refresh"] = "refresh"
    refreshed: tuple[CredentialTarget, ...] = ()


class ModelHealthCheckResult(BaseModel):
    model_config = _FROZEN

    kind: Literal["health_check"] = "health_check"
    status: ModelCredentialStoreStatus


VaultResult = Annotated[
    ModelReadCredentialsResult | ModelRefreshResult | ModelHealthCheckResult,
    Field(discriminator="kind"),
]


class ModelVaultAdapterOutput(BaseModel):
    """The output of vault_adapter: the result matching the request's kind."""

    model_config = _FROZEN

    result: VaultResult


__all__ = [
    "ModelHealthCheckRequest",
    "ModelHealthCheckResult",
    "ModelReadCredentialsRequest",
    "ModelReadCredentialsResult",
    "ModelRefreshRequest",
    "ModelRefreshResult",
    "ModelVaultAdapterInput",
    "ModelVaultAdapterOutput",
    "VaultRequest",
    "VaultResult",
]
