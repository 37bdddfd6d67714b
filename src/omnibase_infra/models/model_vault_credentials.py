"""Credentials read from the credential store, and the store's status for health output.

Passwords are ``SecretStr``: ``repr``, ``str`` and JSON dumps show ``**********``;
only the code that connects calls ``get_secret_value()``. The status carries no
secret at all: versions, ages and error classes only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from omnibase_infra.models.model_health import CircuitState

CredentialTarget = Literal["postgres", "kafka"]
"""Whose credentials: PostgreSQL (user and password) or Kafka (SASL username and password)."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelVaultCredentials(BaseModel):
    """One set of credentials as read from a KV v2 secret."""

    model_config = _FROZEN

    target: CredentialTarget
    username: str | None = None
    password: SecretStr
    source: str = Field(description="<mount>/<path> of the secret")
    version: int | None = Field(default=None, description="the KV v2 version read")
    fetched_at: datetime
    valid_for_seconds: float = Field(gt=0, description="read again after this long")


class ModelCredentialTargetStatus(BaseModel):
    """How fresh one target's credentials are."""

    model_config = _FROZEN

    target: CredentialTarget
    source: str
    version: int | None = None
    fetched_at: datetime | None = None
    expires_in_seconds: float | None = Field(default=None, description="negative when overdue")
    stale: bool = Field(default=False, description="served from cache because the store was unavailable")
    last_error: str | None = Field(default=None, description="error class of the last failed read")


class ModelCredentialStoreStatus(BaseModel):
    """The credential store as the provider sees it (no token, no credential)."""

    model_config = _FROZEN

    address: str
    auth_method: Literal["token", "approle"]
    authenticated: bool
    token_expires_in_seconds: float | None = Field(default=None, description="None: never expires")
    token_renewable: bool = False
    logins: int = Field(default=0, ge=0)
    renewals: int = Field(default=0, ge=0)
    breaker_state: CircuitState | None = None
    targets: tuple[ModelCredentialTargetStatus, ...] = ()

    @property
    def healthy(self) -> bool:
        """Authenticated, breaker not open, and every target read and not stale."""
        return (
            self.authenticated
            and self.breaker_state in (None, "closed", "half_open")
            and all(t.fetched_at is not None and not t.stale for t in self.targets)
        )


__all__ = [
    "CredentialTarget",
    "ModelCredentialStoreStatus",
    "ModelCredentialTargetStatus",
    "ModelVaultCredentials",
]
