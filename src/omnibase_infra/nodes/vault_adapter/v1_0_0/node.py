"""vault_adapter (EFFECT): credentials from the credential store, delegated to the provider.

The node binds to its validated contract at ``initialize()`` and carries out typed
requests with ``execute()`` through the ``ProtocolCredentialProvider`` the runtime
registers in the container when ``VAULT_ADDR`` is set. It has no Vault code of its
own; without a provider it refuses with ``LifecycleError`` instead of pretending.
"""

from __future__ import annotations

from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.errors import UnsupportedRequestError
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.nodes.vault_adapter.v1_0_0.models import (
    ModelHealthCheckResult,
    ModelReadCredentialsRequest,
    ModelReadCredentialsResult,
    ModelRefreshRequest,
    ModelRefreshResult,
    ModelVaultAdapterInput,
    ModelVaultAdapterOutput,
)
from omnibase_infra.protocols.protocol_credential_provider import ProtocolCredentialProvider

NODE_NAME = "vault_adapter"


class NodeVaultAdapterEffect(ContractBound, NodeEffect):
    """The vault_adapter node; see the module docstring for what it does and does not do."""

    node_name = NODE_NAME

    async def execute(self, request: ModelVaultAdapterInput) -> ModelVaultAdapterOutput:
        """Carry out ``request`` through the registered credential provider."""
        provider = await self.resolve(ProtocolCredentialProvider, " (is VAULT_ADDR set?)")  # type: ignore[type-abstract]  # resolved by protocol type
        inner = request.request
        if isinstance(inner, ModelReadCredentialsRequest):
            credentials = await provider.credentials(inner.target, force_refresh=inner.force_refresh)
            return ModelVaultAdapterOutput(result=ModelReadCredentialsResult(credentials=credentials))
        if isinstance(inner, ModelRefreshRequest):
            return ModelVaultAdapterOutput(result=ModelRefreshResult(refreshed=await provider.refresh_due()))
        return ModelVaultAdapterOutput(result=ModelHealthCheckResult(status=provider.status()))

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise UnsupportedRequestError(f"{NODE_NAME} takes typed requests through execute(), not process()")


__all__ = ["NodeVaultAdapterEffect"]
