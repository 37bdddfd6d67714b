"""infrastructure_orchestrator (ORCHESTRATOR): routes consumed envelopes to the composed workflows.

``route()`` answers which workflows handle an envelope and which steps they run
(``routing.plan_route`` over the contract set's workflows). Running the steps is
the runtime's: core's ``NodeOrchestrator`` only orders steps and never calls nodes,
so ``process()`` with core's workflow input is not supported here.
"""

from __future__ import annotations

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.orchestrator.model_orchestrator_input import ModelOrchestratorInput
from omnibase_core.models.orchestrator.model_orchestrator_output import ModelOrchestratorOutput
from omnibase_core.nodes.node_orchestrator import NodeOrchestrator

from omnibase_infra.contract_validation.model_workflows import ModelWorkflow
from omnibase_infra.errors import UnsupportedRequestError
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.models import ModelRoutePlan, ModelRouteRequest
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.routing import plan_route
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding
from omnibase_infra.protocols.protocol_contract_set import ProtocolContractSet

NODE_NAME = "infrastructure_orchestrator"


class NodeInfrastructureOrchestrator(NodeOrchestrator):
    """The infrastructure_orchestrator node; its workflows come from the composition contracts."""

    _binding: NodeBinding | None
    _workflows: tuple[ModelWorkflow, ...]

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_binding", None)
        object.__setattr__(self, "_workflows", ())

    async def _load_contract(self) -> None:
        # Replaces core's stack-walking discovery with our validated contract.
        binding = await resolve_binding(self.container, NODE_NAME)
        contracts = await self.container.get_service_async(ProtocolContractSet)  # type: ignore[type-abstract]  # resolved by protocol type
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "_workflows", contracts.workflows)
        object.__setattr__(self, "contract_data", binding.core_contract)

    @property
    def binding(self) -> NodeBinding:
        """The contract and environment; ``LifecycleError`` before ``initialize()``."""
        return require_binding(self._binding, NODE_NAME)

    @property
    def workflows(self) -> tuple[ModelWorkflow, ...]:
        """The workflows of every composition contract, in declaration order."""
        require_binding(self._binding, NODE_NAME)  # refuse before initialize()
        return self._workflows

    def route(self, request: ModelRouteRequest) -> ModelRoutePlan:
        """The workflows (and their steps) that handle ``request``'s topic."""
        return plan_route(self.workflows, request)

    async def process(self, input_data: ModelOrchestratorInput) -> ModelOrchestratorOutput:
        """Not supported: the runtime runs the steps ``route()`` lists."""
        raise UnsupportedRequestError(f"{NODE_NAME} routes with route(); the runtime runs the workflow steps")


__all__ = ["NodeInfrastructureOrchestrator"]
