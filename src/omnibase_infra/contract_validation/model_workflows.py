"""Composition contracts: the workflows the orchestrator runs, as steps naming nodes and operations.

A step's ``operation`` is one of the node's ``capabilities`` or, for a node with
named SQL operations, one of those. Topics a step consumes or publishes must be
declared by that node's contract or by a composition's ``topics``.
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

_FROZEN = ConfigDict(frozen=True, extra="forbid")

WorkflowPattern = Literal["event_store", "request_reply", "outbox_relay", "infrastructure_state"]
"""Which runtime engine drives the workflow (docs/architecture.md, The four workflows)."""


class ModelWorkflowStep(BaseModel):
    """One step: ``node`` performs ``operation``; steps run in the listed order."""

    model_config = _FROZEN

    id: Identifier
    node: Identifier
    operation: Identifier
    consumes: tuple[TopicName, ...] = ()
    publishes: tuple[TopicName, ...] = ()
    description: Description | None = None


class ModelWorkflow(BaseModel):
    """A named workflow of ordered steps, run by the engine its ``pattern`` names."""

    model_config = _FROZEN

    name: Identifier
    pattern: WorkflowPattern
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


__all__ = ["ModelCompositionDocument", "ModelWorkflow", "ModelWorkflowStep", "WorkflowPattern"]
