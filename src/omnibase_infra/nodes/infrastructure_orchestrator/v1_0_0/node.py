"""infrastructure_orchestrator (ORCHESTRATOR): executes the composition workflows, step by step.

At ``initialize()`` every workflow of the composition contracts is compiled
(``workflow_runner.compile_workflow``): each step bound to the operation of the node it
names, found in the ``ProtocolNodeDirectory`` the host registered. Then:

- ``prepare(name, batch)`` / ``finish(run)``: a records workflow on one consumed batch
  (group_gateway hands it over): the steps that may run ahead (consume, then COMPUTE
  steps), then the rest, ending with the commit;
- ``run(name, payload)``: every step of a workflow at once (repeat and interval
  triggers: ``triggers.run_repeating``, ``triggers.run_every``).

core's ``NodeOrchestrator.process()`` only orders steps and never calls nodes, so it is
not supported here: the steps run through the methods above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omnibase_core.models.container.model_onex_container import ModelONEXContainer
from omnibase_core.models.orchestrator.model_orchestrator_input import ModelOrchestratorInput
from omnibase_core.models.orchestrator.model_orchestrator_output import ModelOrchestratorOutput
from omnibase_core.nodes.node_orchestrator import NodeOrchestrator
from opentelemetry.context import Context

from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.workflow_runner import (
    CompiledWorkflow,
    batch_trace,
    compile_workflow,
    run_steps,
)
from omnibase_infra.nodes.node_binding import ContractBound
from omnibase_infra.workflow.payloads import ConsumedBatch
from omnibase_infra.workflow.protocols import ProtocolNodeDirectory

NODE_NAME = "infrastructure_orchestrator"


@dataclass(eq=False)
class PreparedRun:
    """A records workflow's run on one batch after the steps that run ahead."""

    workflow: CompiledWorkflow
    source: ConsumedBatch
    payload: Any
    parent: Context | None
    links: list[Context]


class NodeInfrastructureOrchestrator(ContractBound, NodeOrchestrator):
    """The infrastructure_orchestrator node; see the module docstring."""

    node_name = NODE_NAME
    _compiled: dict[str, CompiledWorkflow]

    def __init__(self, container: ModelONEXContainer) -> None:
        super().__init__(container)
        object.__setattr__(self, "_compiled", {})

    async def _initialize_node_resources(self) -> None:
        await super()._initialize_node_resources()
        nodes = await self.resolve_optional(ProtocolNodeDirectory)  # type: ignore[type-abstract]  # resolved by protocol type
        if nodes is not None:
            self.compile(nodes)

    def compile(self, nodes: ProtocolNodeDirectory) -> None:
        """Bind every workflow's steps to ``nodes``; ``LifecycleError`` naming a missing node or operation."""
        contracts = self.binding.contract_set
        compiled = {w.name: compile_workflow(w, contracts, nodes) for w in contracts.workflows}
        object.__setattr__(self, "_compiled", compiled)

    @property
    def workflows(self) -> tuple[CompiledWorkflow, ...]:
        """The compiled workflows, in declaration order."""
        return tuple(self._compiled.values())

    def workflow(self, name: str) -> CompiledWorkflow:
        try:
            return self._compiled[name]
        except KeyError:
            raise LifecycleError(f"{NODE_NAME}: no compiled workflow {name!r}") from None

    def scheduled(self) -> tuple[CompiledWorkflow, ...]:
        """Workflows started by the clock rather than by records (trigger repeat or interval)."""
        return tuple(w for w in self._compiled.values() if w.trigger != "records")

    async def prepare(self, name: str, batch: ConsumedBatch) -> PreparedRun:
        """Run the steps of records workflow ``name`` that may run ahead (no I/O) on ``batch``."""
        workflow = self.workflow(name)
        parent, links = batch_trace(batch)
        payload = await run_steps(
            workflow, batch, workflow.steps[: workflow.ahead], parent=parent, links=links
        )
        return PreparedRun(workflow, batch, payload, parent, links)

    async def finish(self, run: PreparedRun) -> Any:
        """Run the remaining steps (the effects, then the commit); raises on any outage."""
        workflow = run.workflow
        return await run_steps(
            workflow, run.payload, workflow.steps[workflow.ahead :], parent=run.parent, links=run.links
        )

    async def run(self, name: str, payload: Any) -> Any:
        """Run every step of workflow ``name`` on ``payload``."""
        workflow = self.workflow(name)
        return await run_steps(workflow, payload, workflow.steps)

    async def process(self, input_data: ModelOrchestratorInput) -> ModelOrchestratorOutput:
        """Not supported: workflows run through prepare/finish and run (the module docstring)."""
        raise UnsupportedRequestError(f"{NODE_NAME} runs workflows with prepare()/finish() and run()")


__all__ = ["NODE_NAME", "NodeInfrastructureOrchestrator", "PreparedRun"]
