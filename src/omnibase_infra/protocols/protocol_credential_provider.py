"""``ProtocolCredentialProvider``: the behaviour behind the vault_adapter node.

``infrastructure.vault_credentials.VaultCredentialProvider`` implements it with a
Vault-compatible KV v2 store; the runtime registers it in the container when
``VAULT_ADDR`` is set, and the node delegates to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from omnibase_infra.models.model_vault_credentials import (
        CredentialTarget,
        ModelCredentialStoreStatus,
        ModelVaultCredentials,
    )


class ProtocolCredentialProvider(Protocol):
    """Reads PostgreSQL and Kafka credentials from the credential store and keeps them fresh."""

    async def credentials(
        self, target: CredentialTarget, *, force_refresh: bool = False
    ) -> ModelVaultCredentials:
        """The current credentials of ``target`` (read again when expired or when forced)."""
        ...

    async def refresh_due(self) -> tuple[CredentialTarget, ...]:
        """Renew the token when due and re-read expired credentials; the targets read."""
        ...

    def serves(self, target: CredentialTarget) -> bool:
        """Whether the store holds credentials for ``target``."""
        ...

    def password_source(self, target: CredentialTarget) -> Callable[[], Awaitable[str]]:
        """A callable returning ``target``'s current password (new connections ask it)."""
        ...

    def status(self) -> ModelCredentialStoreStatus:
        """Freshness, token and breaker state; never a secret."""
        ...


__all__ = ["ProtocolCredentialProvider"]
