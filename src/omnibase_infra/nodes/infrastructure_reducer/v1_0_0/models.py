"""Input and output of infrastructure_reducer (pure): summaries in, state and intents out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.models.model_infrastructure_state import (
    ModelHealthSummary,
    ModelInfrastructureState,
    ModelStateChangedIntent,
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelInfrastructureReducerInput(BaseModel):
    """Fold ``summaries``, in order, into ``state``."""

    model_config = _FROZEN

    state: ModelInfrastructureState = Field(default_factory=ModelInfrastructureState)
    summaries: tuple[ModelHealthSummary, ...] = Field(min_length=1)


class ModelInfrastructureReducerOutput(BaseModel):
    """The new state and one intent per status change, in the order they happened."""

    model_config = _FROZEN

    state: ModelInfrastructureState
    intents: tuple[ModelStateChangedIntent, ...]


__all__ = ["ModelInfrastructureReducerInput", "ModelInfrastructureReducerOutput"]
