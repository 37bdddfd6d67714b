"""field_dropper (COMPUTE): drops one payload field from each event of a batch.

A third-party node: installed as its own distribution, found through its ``onex.nodes``
entry point, bound to the ``contract.yaml`` beside this module. It uses only the
suite's public plugin surface (``ContractBound``, ``@operation``, the workflow payloads),
never another node. A composition step names the field in its ``with`` mapping::

    - {id: redact, node: field_dropper, operation: drop_payload_field, with: {field: card_number}}
"""

from __future__ import annotations

import json

from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.compute.model_compute_output import ModelComputeOutput
from omnibase_core.nodes.node_compute import NodeCompute

from omnibase_infra.errors import ConfigurationError, UnsupportedRequestError
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.workflow.operations import StepContext, operation
from omnibase_infra.workflow.payloads import EventBatch

NODE_NAME = "field_dropper"


def without_field(payload_json: str, field: str) -> str:
    """``payload_json`` without the top-level ``field`` (unchanged when absent or not an object)."""
    payload = json.loads(payload_json)
    if not isinstance(payload, dict) or field not in payload:
        return payload_json
    del payload[field]
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class NodeFieldDropperCompute(ContractBound, NodeCompute[EventBatch, EventBatch]):
    """The field_dropper node; see the module docstring."""

    node_name = NODE_NAME

    @operation(input=EventBatch, output="same")
    async def drop_payload_field(self, batch: EventBatch, step: StepContext) -> EventBatch:
        """Each event's payload without the field the step's ``with: {field: ...}`` names."""
        field = step.param("field")
        if not isinstance(field, str) or not field:
            raise ConfigurationError(
                f"{step.workflow}.{step.step_id}.with.field", "field_dropper needs the name of a field"
            )
        batch.events = [
            event._replace(payload_json=without_field(event.payload_json, field)) for event in batch.events
        ]
        return batch

    async def process(self, input_data: ModelComputeInput[EventBatch]) -> ModelComputeOutput[EventBatch]:
        """Not supported: the field to drop comes from a workflow step."""
        raise UnsupportedRequestError(f"{NODE_NAME} runs as a workflow step (drop_payload_field)")
