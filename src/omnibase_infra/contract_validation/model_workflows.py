"""Composition contracts: the workflows the orchestrator runs, as steps naming nodes and operations.

A step's ``operation`` is one of the node's ``capabilities`` (an ``@operation`` of its
class). The orchestrator calls it once per payload (a batch, a claimed outbox round, a
health round) in the listed order. Topics a step consumes or publishes must be declared
by that node's contract or by a composition's ``topics``. ``trigger`` says what starts a
run: ``records`` (consumed records; the first step consumes, the last commits),
``repeat`` (back to back while there is work, idling the orchestrator's
``outbox_idle_interval_ms`` when there is none) or ``interval`` (once per
``ONEX_HEALTH_CHECK_INTERVAL``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnibase_infra.contract_validation.model_contract_sections import (
    Description,
    Identifier,
    ModelSemVerValue,
    ModelTopicsSection,
    TopicName,
)
from omnibase_infra.workflow.operations import StepParam

_FROZEN = ConfigDict(frozen=True, extra="forbid")

WorkflowTrigger = Literal["records", "repeat", "interval"]
"""What starts a run of the workflow (the module docstring)."""


class ModelWorkflowStep(BaseModel):
    """One step: ``node`` performs ``operation``; steps run in the listed order."""

    model_config = _FROZEN

    id: Identifier
    node: Identifier
    operation: Identifier
    consumes: tuple[TopicName, ...] = ()
    publishes: tuple[TopicName, ...] = ()
    with_: dict[Identifier, StepParam] = Field(
        default_factory=dict,
        alias="with",
        description="parameters the step's operation reads (StepContext.params)",
    )
    description: Description | None = None


class ModelWorkflow(BaseModel):
    """A named workflow of ordered steps; the orchestrator runs them when ``trigger`` says."""

    model_config = _FROZEN

    name: Identifier
    trigger: WorkflowTrigger = "records"
    description: Description
    steps: tuple[ModelWorkflowStep, ...] = Field(min_length=1)

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        """Topics any step consumes, in step order, without repeats."""
        return tuple(dict.fromkeys(t for step in self.steps for t in step.consumes))

    @property
    def published_topics(self) -> tuple[str, ...]:
        """Topics any step publishes, in step order, without repeats."""
        return tuple(dict.fromkeys(t for step in self.steps for t in step.publishes))


class ModelCompositionDocument(BaseModel):
    """A composition contract: workflows plus the extra topics they use."""

    model_config = _FROZEN

    kind: Literal["composition"]
    name: Identifier
    contract_version: ModelSemVerValue
    description: Description
    topics: ModelTopicsSection = ModelTopicsSection()
    workflows: tuple[ModelWorkflow, ...] = Field(min_length=1)


__all__ = ["ModelCompositionDocument", "ModelWorkflow", "ModelWorkflowStep", "StepParam", "WorkflowTrigger"]
