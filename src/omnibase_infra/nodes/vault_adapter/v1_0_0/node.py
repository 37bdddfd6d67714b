"""vault_adapter (EFFECT): credentials from the credential store, delegated to the provider.

The node binds to its validated contract at ``initialize()`` and carries out typed
requests with ``execute()`` through the ``ProtocolCredentialProvider`` the runtime
registers in the container when ``VAULT_ADDR`` is set. It has no Vault code of its
own; without a provider it refuses with ``LifecycleError`` instead of pretending.
"""

from __future__ import annotations

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.errors import LifecycleError
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding
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


class NodeVaultAdapterEffect(NodeEffect):
    """The vault_adapter node; see the module docstring for what it does and does not do."""

    _binding: NodeBinding | None

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_binding", None)

    async def _load_contract(self) -> None:
        # Replaces core's stack-walking discovery with our validated contract.
        binding = await resolve_binding(self.container, NODE_NAME)
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "contract_data", binding.core_contract)

    @property
    def binding(self) -> NodeBinding:
        """The contract and environment; ``LifecycleError`` before ``initialize()``."""
        return require_binding(self._binding, NODE_NAME)

    async def execute(self, request: ModelVaultAdapterInput) -> ModelVaultAdapterOutput:
        """Carry out ``request`` through the registered credential provider."""
        require_binding(self._binding, NODE_NAME)  # refuse before initialize()
        try:
            provider = await self.container.get_service_async(ProtocolCredentialProvider)  # type: ignore[type-abstract]  # resolved by protocol type
        except Exception as exc:  # core raises its own resolution error type
            raise LifecycleError(
                f"{NODE_NAME}: no ProtocolCredentialProvider registered (is VAULT_ADDR set?)"
            ) from exc
        inner = request.request
        if isinstance(inner, ModelReadCredentialsRequest):
            credentials = await provider.credentials(inner.target, force_refresh=inner.force_refresh)
            return ModelVaultAdapterOutput(result=ModelReadCredentialsResult(credentials=credentials))
        if isinstance(inner, ModelRefreshRequest):
            return ModelVaultAdapterOutput(result=ModelRefreshResult(refreshed=await provider.refresh_due()))
        return ModelVaultAdapterOutput(result=ModelHealthCheckResult(status=provider.status()))

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise NotImplementedError(f"{NODE_NAME} takes typed requests through execute(), not process()")


__all__ = ["NodeVaultAdapterEffect"]
