"""message_aggregator (COMPUTE): pure batching of envelopes and summarising of health.

``aggregate()`` is the typed entry point; ``process()`` wraps it in core's compute
input/output. The batch size comes from the contract's ``batching`` settings for the
environment the node was initialised in. No I/O.
"""

from __future__ import annotations

import time

from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.compute.model_compute_output import ModelComputeOutput
from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.nodes.node_compute import NodeCompute

from omnibase_infra.nodes.message_aggregator.v1_0_0.batching import plan_batches
from omnibase_infra.nodes.message_aggregator.v1_0_0.fold_operations import FoldOperations
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import summarise_health
from omnibase_infra.nodes.message_aggregator.v1_0_0.models import (
    ModelBatchEnvelopesRequest,
    ModelHealthSummaryResult,
    ModelMessageAggregatorInput,
    ModelMessageAggregatorOutput,
)
from omnibase_infra.nodes.node_binding import NodeBinding, require_binding, resolve_binding

NODE_NAME = "message_aggregator"


class NodeMessageAggregatorCompute(
    FoldOperations, NodeCompute[ModelMessageAggregatorInput, ModelMessageAggregatorOutput]
):
    """The message_aggregator node: deterministic, no side effects."""

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

    def aggregate(self, request: ModelMessageAggregatorInput) -> ModelMessageAggregatorOutput:
        """Plan write batches, or summarise one health round."""
        inner = request.request
        if isinstance(inner, ModelBatchEnvelopesRequest):
            binding = self.binding
            batch_size = binding.contract.batching(binding.environment).batch_size
            return ModelMessageAggregatorOutput(result=plan_batches(inner.records, batch_size))
        return ModelMessageAggregatorOutput(
            result=ModelHealthSummaryResult(summary=summarise_health(inner.metrics))
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


__all__ = ["NodeMessageAggregatorCompute"]
