"""The shared shape of our EFFECT nodes: bound to a validated contract, behaviour from the container.

A subclass names its node (``node_name``) and implements ``execute()`` with the
collaborator it resolves through ``resolve()``. The node binds to its contract at
``initialize()`` (instead of core's stack-walking discovery) and refuses to work
before that, or without the collaborator, with ``LifecycleError``.
"""

from __future__ import annotations

from typing import ClassVar

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding


class ContractBoundEffect(NodeEffect):
    """Base of postgres_adapter, kafka_adapter and vault_adapter."""

    node_name: ClassVar[str]
    _binding: NodeBinding | None

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_binding", None)

    async def _load_contract(self) -> None:
        # Replaces core's stack-walking discovery with our validated contract.
        binding = await resolve_binding(self.container, self.node_name)
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "contract_data", binding.core_contract)

    @property
    def binding(self) -> NodeBinding:
        """The contract and environment; ``LifecycleError`` before ``initialize()``."""
        return require_binding(self._binding, self.node_name)

    async def resolve[P](self, protocol: type[P], hint: str = "") -> P:
        """The collaborator registered for ``protocol``; ``LifecycleError`` naming it when absent."""
        require_binding(self._binding, self.node_name)  # refuse before initialize()
        try:
            return await self.container.get_service_async(protocol)
        except Exception as exc:  # core raises its own resolution error type
            raise LifecycleError(f"{self.node_name}: no {protocol.__name__} registered{hint}") from exc

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise UnsupportedRequestError(
            f"{self.node_name} takes typed requests through execute(), not process()"
        )


__all__ = ["ContractBoundEffect"]
