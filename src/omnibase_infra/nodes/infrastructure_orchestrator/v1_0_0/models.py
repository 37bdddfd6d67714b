"""Input and output of infrastructure_orchestrator: a consumed envelope in, a route plan out."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ModelRouteRequest(BaseModel):
    """Where a consumed envelope came from and what it is."""

    model_config = _FROZEN

    topic: str = Field(min_length=1, max_length=249)
    envelope_id: UUID
    event_type: str | None = None
    correlation_id: UUID | None = None


class ModelRoutedStep(BaseModel):
    model_config = _FROZEN

    step_id: str
    node: str
    operation: str


class ModelRoutedWorkflow(BaseModel):
    """A workflow that handles the envelope, with its steps in order."""

    model_config = _FROZEN

    name: str
    pattern: str
    steps: tuple[ModelRoutedStep, ...]


class ModelRoutePlan(BaseModel):
    """The workflows for an envelope; when none handles its topic, ``dead_letter_topic`` is set."""

    model_config = _FROZEN

    topic: str
    envelope_id: UUID
    workflows: tuple[ModelRoutedWorkflow, ...]
    dead_letter_topic: str | None = None

    @property
    def routed(self) -> bool:
        return bool(self.workflows)


__all__ = ["ModelRoutePlan", "ModelRouteRequest", "ModelRoutedStep", "ModelRoutedWorkflow"]
