"""Runs a composition workflow: each step calls its node's operation once per payload, in order.

``compile_workflow`` binds every step of a workflow to the operation of the node it
names (``workflow.operations.bind_operation``), once, at startup: a missing node or
operation stops startup naming the workflow and the step. ``run_steps`` then calls the
bound operations in the contract's order, each inside a span named ``node.operation``
(``observability.spans.trace_workflow_step``); the payload one step returns is what the
next one takes.

A records workflow splits in two (``CompiledWorkflow.ahead``): its first step (consume)
and the COMPUTE steps right after it do no I/O, so they run ahead, on batch k+1, while
the effects of batch k (store, reply, dead letters, commit) are still running. The rest
runs in order, one batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.model_workflows import ModelWorkflow
from omnibase_infra.errors import LifecycleError
from omnibase_infra.observability.propagation import TRACEPARENT, extract_trace_context
from omnibase_infra.observability.spans import trace_workflow_step
from omnibase_infra.workflow.operations import StepCallable, StepContext, bind_operation
from omnibase_infra.workflow.payloads import ConsumedBatch
from omnibase_infra.workflow.protocols import ProtocolNodeDirectory

MAX_SPAN_LINKS = 64
"""At most this many records of a batch are looked at for trace contexts (the first is the parent)."""


@dataclass(frozen=True)
class BoundStep:
    context: StepContext
    call: StepCallable


@dataclass(frozen=True)
class CompiledWorkflow:
    """A workflow with every step bound to its node's operation."""

    name: str
    trigger: str
    steps: tuple[BoundStep, ...]
    ahead: int
    """How many leading steps run ahead of the previous batch's effects (records workflows)."""

    @property
    def consumes(self) -> tuple[str, ...]:
        return self.steps[0].context.consumes if self.steps else ()


def compile_workflow(
    workflow: ModelWorkflow,
    contracts: ContractSet,
    nodes: ProtocolNodeDirectory,
    *,
    consumes: tuple[str, ...] | None = None,
) -> CompiledWorkflow:
    """Bind ``workflow``'s steps; ``consumes`` replaces the first step's topics (an override)."""
    steps: list[BoundStep] = []
    for index, step in enumerate(workflow.steps):
        where = f"workflow {workflow.name}, step {step.id}"
        if step.node not in nodes.names():
            raise LifecycleError(f"{where}: node {step.node} is not installed (no onex.nodes entry point)")
        try:
            call = bind_operation(nodes.node(step.node), step.operation)
        except KeyError as exc:
            raise LifecycleError(f"{where}: {exc.args[0]}") from None
        step_consumes = consumes if index == 0 and consumes is not None else step.consumes
        context = StepContext(
            workflow=workflow.name,
            step_id=step.id,
            node=step.node,
            operation=step.operation,
            publishes=step.publishes,
            consumes=step_consumes,
            params=dict(step.with_),
        )
        steps.append(BoundStep(context, call))
    ahead = 0
    if workflow.trigger == "records":
        ahead = 1
        while ahead < len(steps) and contracts.node(steps[ahead].context.node).kind == "COMPUTE":
            ahead += 1
    return CompiledWorkflow(workflow.name, workflow.trigger, tuple(steps), ahead)


def batch_trace(batch: ConsumedBatch) -> tuple[Context | None, list[Context]]:
    """The trace parent of a batch's step spans (its first record carrying a context) and links."""
    found: list[Context] = []
    looked = 0
    for records in batch.records.values():
        for record in records:
            looked += 1
            if looked > MAX_SPAN_LINKS:
                break
            headers = record.headers
            if headers and any(name == TRACEPARENT for name, _ in headers):
                found.append(extract_trace_context(headers))
    if not found:
        return None, []
    return found[0], found[1:]


async def run_steps(
    workflow: CompiledWorkflow,
    payload: Any,
    steps: Sequence[BoundStep],
    *,
    parent: Context | None = None,
    links: Sequence[Context] = (),
) -> Any:
    """Call ``steps`` of ``workflow`` in order on ``payload``; return what the last one returned.

    When a step raises, the payload's ``aclose()`` (if it has one: a claimed outbox round
    holds a transaction) is awaited before the error propagates.
    """
    try:
        for step in steps:
            c = step.context
            async with trace_workflow_step(
                c.span_name,
                workflow=workflow.name,
                step_id=c.step_id,
                node=c.node,
                operation=c.operation,
                parent=parent,
                links=links,
            ):
                payload = await step.call(payload, c)
    except BaseException:
        close = getattr(payload, "aclose", None)
        if close is not None:
            await close()
        raise
    return payload


__all__ = ["BoundStep", "CompiledWorkflow", "batch_trace", "compile_workflow", "run_steps"]
