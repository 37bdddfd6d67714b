"""infrastructure_reducer (REDUCER): folds health summaries into the infrastructure state.

``fold()`` is pure (``state_reduction.reduce_health`` per summary, in order).
``process()`` folds into the state this node holds (one reducer instance owns the
state; ``restore()`` seeds it, e.g. from ``onex_infrastructure_state`` at startup)
and returns the new state with one intent per change. No I/O.

``process()`` takes the changes into the held state as it folds them. A caller
that must apply a change only once it is recorded (published or in the outbox)
folds with the pure ``fold()`` and ``restore()``s the state it recorded, as the
service's state workflow does with ``state_reduction.reduce_health``.
"""

from __future__ import annotations

import time

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.projectors.model_projection_intent import ModelProjectionIntent
from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput
from omnibase_core.models.reducer.model_reducer_output import ModelReducerOutput
from omnibase_core.nodes.node_reducer import NodeReducer

from omnibase_infra.models.model_infrastructure_state import (
    ModelHealthSummary,
    ModelInfrastructureState,
    ModelStateChangedIntent,
)
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.models import (
    ModelInfrastructureReducerInput,
    ModelInfrastructureReducerOutput,
)
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import reduce_health
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding

NODE_NAME = "infrastructure_reducer"


def fold(request: ModelInfrastructureReducerInput) -> ModelInfrastructureReducerOutput:
    """Fold every summary of ``request``, in order, into its state."""
    state = request.state
    intents: list[ModelStateChangedIntent] = []
    for summary in request.summaries:
        state, changed = reduce_health(state, summary)
        intents.extend(changed)
    return ModelInfrastructureReducerOutput(state=state, intents=tuple(intents))


class NodeInfrastructureReducer(NodeReducer[ModelHealthSummary, ModelInfrastructureReducerOutput]):
    """The infrastructure_reducer node; holds the current state between calls."""

    _binding: NodeBinding | None
    _state: ModelInfrastructureState

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_binding", None)
        object.__setattr__(self, "_state", ModelInfrastructureState())

    async def _load_contract(self) -> None:
        # Replaces core's stack-walking discovery with our validated contract.
        binding = await resolve_binding(self.container, NODE_NAME)
        object.__setattr__(self, "_binding", binding)
        object.__setattr__(self, "contract_data", binding.core_contract)

    @property
    def binding(self) -> NodeBinding:
        """The contract and environment; ``LifecycleError`` before ``initialize()``."""
        return require_binding(self._binding, NODE_NAME)

    @property
    def infrastructure_state(self) -> ModelInfrastructureState:
        """The state after the last fold (core's ``state`` attribute is its lifecycle status)."""
        return self._state

    def restore(self, state: ModelInfrastructureState) -> None:
        """Start folding from ``state`` (e.g. what the database holds)."""
        object.__setattr__(self, "_state", state)

    async def process(
        self,
        input_data: ModelReducerInput[ModelHealthSummary],
        projection_intents: tuple[ModelProjectionIntent, ...] = (),
    ) -> ModelReducerOutput[ModelInfrastructureReducerOutput]:
        """Fold ``input_data.data`` into the held state; projections are not supported."""
        if projection_intents:
            raise ValueError(f"{NODE_NAME} emits state-changed intents, not projection intents")
        started = time.perf_counter()
        output = fold(ModelInfrastructureReducerInput(state=self._state, summaries=tuple(input_data.data)))
        object.__setattr__(self, "_state", output.state)
        return ModelReducerOutput[ModelInfrastructureReducerOutput](
            result=output,
            operation_id=input_data.operation_id,
            reduction_type=input_data.reduction_type,
            processing_time_ms=(time.perf_counter() - started) * 1000,
            items_processed=len(input_data.data),
        )


__all__ = ["NodeInfrastructureReducer", "fold"]
