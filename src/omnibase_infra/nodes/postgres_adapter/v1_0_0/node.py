"""postgres_adapter (EFFECT): every PostgreSQL side effect, delegated to the runtime's handler.

The node binds to its validated contract at ``initialize()`` and carries out typed
requests with ``execute()`` through the ``ProtocolPostgresAdapterHandler`` the runtime
registers in the container. It has no database code of its own; without a handler it
refuses with ``LifecycleError`` instead of pretending.
"""

from __future__ import annotations

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.effect.model_effect_input import ModelEffectInput
from omnibase_core.models.effect.model_effect_output import ModelEffectOutput
from omnibase_core.nodes.node_effect import NodeEffect

from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelPostgresAdapterInput,
    ModelPostgresAdapterOutput,
)
from omnibase_infra.protocols.protocol_postgres_effect_handler import ProtocolPostgresAdapterHandler

NODE_NAME = "postgres_adapter"


class NodePostgresAdapterEffect(NodeEffect):
    """The postgres_adapter node; see the module docstring for what it does and does not do."""

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

    async def execute(self, request: ModelPostgresAdapterInput) -> ModelPostgresAdapterOutput:
        """Carry out ``request`` through the registered handler."""
        require_binding(self._binding, NODE_NAME)  # refuse before initialize()
        try:
            handler = await self.container.get_service_async(ProtocolPostgresAdapterHandler)  # type: ignore[type-abstract]  # resolved by protocol type
        except Exception as exc:  # core raises its own resolution error type
            raise LifecycleError(f"{NODE_NAME}: no ProtocolPostgresAdapterHandler registered") from exc
        return await handler.handle(request)

    async def process(self, input_data: ModelEffectInput) -> ModelEffectOutput:
        """Not supported: core's generic effect input carries no typed request; use ``execute()``."""
        raise UnsupportedRequestError(f"{NODE_NAME} takes typed requests through execute(), not process()")


__all__ = ["NodePostgresAdapterEffect"]
