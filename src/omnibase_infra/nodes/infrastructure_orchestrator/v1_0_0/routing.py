"""Pure: choose the workflows that handle a consumed envelope (infrastructure_orchestrator).

A workflow handles a topic when one of its steps consumes it. The plan lists each such
workflow with its steps in declaration order; an envelope on a topic no workflow
consumes gets a plan with no workflow and its dead-letter topic (``T.dlq``).
"""

from __future__ import annotations

from collections.abc import Sequence

from omnibase_infra.contract_validation.model_contract_sections import DEAD_LETTER_SUFFIX
from omnibase_infra.contract_validation.model_workflows import ModelWorkflow
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.models import (
    ModelRoutedStep,
    ModelRoutedWorkflow,
    ModelRoutePlan,
    ModelRouteRequest,
)


def plan_route(workflows: Sequence[ModelWorkflow], request: ModelRouteRequest) -> ModelRoutePlan:
    """The route plan of ``request`` over ``workflows`` (the contract set's, in order)."""
    routed = tuple(
        ModelRoutedWorkflow(
            name=workflow.name,
            pattern=workflow.pattern,
            steps=tuple(
                ModelRoutedStep(step_id=step.id, node=step.node, operation=step.operation)
                for step in workflow.steps
            ),
        )
        for workflow in workflows
        if request.topic in workflow.consumed_topics
    )
    return ModelRoutePlan(
        topic=request.topic,
        envelope_id=request.envelope_id,
        workflows=routed,
        dead_letter_topic=None if routed else request.topic + DEAD_LETTER_SUFFIX,
    )


__all__ = ["plan_route"]
