"""message_aggregator (COMPUTE): pure batching of envelopes and summarising of health.

``aggregate()`` is the typed entry point; ``process()`` wraps it in core's compute
input/output. The batch size comes from the contract's ``batching`` settings for the
environment the node was initialised in. No I/O.

Workflow operation ``summarise_health`` (``infrastructure_state``, one call per
``HealthRound``): the round's samples (``HealthRound.metrics()``) become one sample per
component in ``summary``.
"""

from __future__ import annotations

import time

from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.compute.model_compute_output import ModelComputeOutput
from omnibase_core.nodes.node_compute import NodeCompute

from omnibase_infra.nodes.message_aggregator.v1_0_0.batching import plan_batches
from omnibase_infra.nodes.message_aggregator.v1_0_0.fold_operations import FoldOperations
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import (
    summarise_health as summarise_metrics,
)
from omnibase_infra.nodes.message_aggregator.v1_0_0.models import (
    ModelBatchEnvelopesRequest,
    ModelHealthSummaryResult,
    ModelMessageAggregatorInput,
    ModelMessageAggregatorOutput,
)
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import HealthRound

NODE_NAME = "message_aggregator"


class NodeMessageAggregatorCompute(
    ContractBound, FoldOperations, NodeCompute[ModelMessageAggregatorInput, ModelMessageAggregatorOutput]
):
    """The message_aggregator node: deterministic, no side effects."""

    node_name = NODE_NAME

    @operation(input=HealthRound)
    async def summarise_health(self, health: HealthRound, step: StepContext) -> HealthRound:
        """One sample per component of the round's health checks (``health_summary``)."""
        health.summary = summarise_metrics(health.metrics())
        return health

    def aggregate(self, request: ModelMessageAggregatorInput) -> ModelMessageAggregatorOutput:
        """Plan write batches, or summarise one health round."""
        inner = request.request
        if isinstance(inner, ModelBatchEnvelopesRequest):
            binding = self.binding
            batch_size = binding.contract.batching(binding.environment).batch_size
            return ModelMessageAggregatorOutput(result=plan_batches(inner.records, batch_size))
        return ModelMessageAggregatorOutput(
            result=ModelHealthSummaryResult(summary=summarise_metrics(inner.metrics))
        )

    async def process(
        self, input_data: ModelComputeInput[ModelMessageAggregatorInput]
    ) -> ModelComputeOutput[ModelMessageAggregatorOutput]:
        """``aggregate()`` in core's compute envelope (never cached, never parallel)."""
        started = time.perf_counter()
        output = self.aggregate(input_data.data)
        return ModelComputeOutput[ModelMessageAggregatorOutput](
            result=output,
            operation_id=input_data.operation_id,
            computation_type=input_data.computation_type,
            processing_time_ms=(time.perf_counter() - started) * 1000,
        )


__all__ = ["NODE_NAME", "NodeMessageAggregatorCompute"]
