"""infrastructure_reducer (REDUCER): folds health summaries into the infrastructure state.

``fold()`` is pure (``state_reduction.reduce_health`` per summary, in order).
``process()`` folds into the state this node holds (one reducer instance owns the
state; ``restore()`` seeds it, e.g. from ``onex_infrastructure_state`` at startup)
and returns the new state with one intent per change. No I/O.

``process()`` takes the changes into the held state as it folds them. A caller
that must apply a change only once it is recorded (published or in the outbox)
folds with the pure ``fold()`` and ``restore()``s the state it recorded.

Workflow operations (``infrastructure_state``, one call per ``HealthRound``):
``fold_state`` folds the round's summary into the held state with the pure
``reduce_health`` and puts the candidate state and the changes on the round, each
with the overall status once it and the changes before it apply; the held state
does not move. After kafka_adapter's ``publish_state`` recorded the changes (in
order, up to the first failure), ``apply_recorded`` advances the held state by
exactly the recorded ones (``state_reduction.advance``): a change that was not
recorded is not applied, so the next round computes it again and retries it.
"""

from __future__ import annotations

import logging
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
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import advance, reduce_health
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import HealthRound, StateChange

NODE_NAME = "infrastructure_reducer"

logger = logging.getLogger(__name__)


def fold(request: ModelInfrastructureReducerInput) -> ModelInfrastructureReducerOutput:
    """Fold every summary of ``request``, in order, into its state."""
    state = request.state
    intents: list[ModelStateChangedIntent] = []
    for summary in request.summaries:
        state, changed = reduce_health(state, summary)
        intents.extend(changed)
    return ModelInfrastructureReducerOutput(state=state, intents=tuple(intents))


class NodeInfrastructureReducer(
    ContractBound, NodeReducer[ModelHealthSummary, ModelInfrastructureReducerOutput]
):
    """The infrastructure_reducer node; holds the current state between calls."""

    node_name = NODE_NAME
    _state: ModelInfrastructureState

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_state", ModelInfrastructureState())

    @property
    def infrastructure_state(self) -> ModelInfrastructureState:
        """The state after the last fold (core's ``state`` attribute is its lifecycle status)."""
        return self._state

    def restore(self, state: ModelInfrastructureState) -> None:
        """Start folding from ``state`` (e.g. what the database holds)."""
        object.__setattr__(self, "_state", state)

    # -- workflow operations (infrastructure_state) ------------------------------------------

    @operation(input=HealthRound)
    async def fold_state(self, health: HealthRound, step: StepContext) -> HealthRound:
        """Fold the round's summary into a candidate state; the held state waits for ``apply_recorded``."""
        if health.summary is None:
            raise ValueError(f"{NODE_NAME}.fold_state: no summary (summarise_health runs first)")
        base = self._state
        candidate, intents = reduce_health(base, health.summary)
        health.base = base
        health.candidate = candidate
        # Each change carries the overall status once it and those before it apply: a later
        # change of the round may yet fail to be recorded, and then it is not applied.
        health.changes = [
            StateChange(intent, advance(base, candidate, intents[position + 1 :]).overall)
            for position, intent in enumerate(intents)
        ]
        health.recorded = 0
        health.applied = False
        return health

    @operation(input=HealthRound)
    async def apply_recorded(self, health: HealthRound, step: StepContext) -> HealthRound:
        """Advance the held state by exactly the round's recorded changes (see the module docstring)."""
        if health.base is None or health.candidate is None or health.applied:
            return health
        if self._state is not health.base:
            # restore() ran between fold_state and here: the round no longer describes the state.
            logger.warning("infrastructure state was restored during a round; its changes are not applied")
            return health
        object.__setattr__(self, "_state", advance(health.base, health.candidate, health.unrecorded_changes))
        health.applied = True
        return health

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


__all__ = ["NODE_NAME", "NodeInfrastructureReducer", "fold"]
