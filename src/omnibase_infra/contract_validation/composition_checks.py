"""Checks that a composition is executable: every step of every workflow, against the node contracts.

For each step of each workflow (problems name the composition file and the step's key
path, e.g. ``workflows[0].steps[3].operation``):

- the node exists: a node contract in the set, installed (an ``onex.nodes`` entry point;
  shipped nodes are ours and always installed);
- the operation is a step operation of that node: a capability that declares ``input``;
- the payload types chain: a run starts with ``ConsumedBatch`` (``trigger: records``) or
  ``Tick`` (``repeat``, ``interval``); each step's ``input`` must be that type or one of
  its bases, and the step passes on its ``output`` (``same``: the type it was given);
- a records workflow consumes in its first step (role ``consume``, with ``consumes``),
  sends poison to the dead-letter topics (role ``dead_letter``) and commits once, last
  (role ``commit``): nothing runs after the commit. ``repeat`` and ``interval`` workflows
  neither consume nor commit;
- a step lists ``publishes`` exactly when its operation publishes (``topic_use``), and
  every topic a step lists is declared by its node or by a composition's ``topics``; a
  topic is consumed by one workflow only (the gateway maps each topic to one workflow).

The capabilities themselves are checked here too: ``input`` and ``output`` must be
importable classes (``capabilities[i].input``), and only a step operation (one with
``input``) has ``output``, ``role`` or ``topic_use``.

Whether the node *classes* have these operations (``@operation``) is ``class_checks``:
it imports the node classes, which is left to startup and ``contracts check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from omnibase_infra.contract_validation.discovery import InstalledNode
from omnibase_infra.contract_validation.file_validation import ValidatedFile
from omnibase_infra.contract_validation.model_contract_sections import SAME_AS_INPUT, ModelCapability
from omnibase_infra.contract_validation.model_workflows import ModelWorkflow, ModelWorkflowStep
from omnibase_infra.contract_validation.payload_types import (
    ClassResolver,
    class_label,
    start_payload,
)
from omnibase_infra.contract_validation.problems import PathPart
from omnibase_infra.contract_validation.resolved_nodes import ResolvedNodes


@dataclass(frozen=True)
class StepOperation:
    """A capability a step may name (it declares ``input``), with its payload classes.

    ``input``/``output`` are None when the path did not resolve (reported on the node
    contract); ``output`` is also None for ``same``.
    """

    node: str
    index: int
    capability: ModelCapability
    input: type[object] | None
    output: type[object] | None

    @property
    def name(self) -> str:
        return self.capability.name

    @property
    def label(self) -> str:
        """``node.operation``, as step spans are named."""
        return f"{self.node}.{self.capability.name}"

    @property
    def same(self) -> bool:
        return self.capability.output == SAME_AS_INPUT

    @property
    def resolved(self) -> bool:
        return self.input is not None and (self.same or self.output is not None)

    def gives(self, given: type[object]) -> type[object] | None:
        """The payload type after this operation, when it was given ``given``."""
        return given if self.same else self.output


@dataclass
class StepView:
    """One step as the checks see it: its operation (when it has one) and what it passes on."""

    index: int
    step: ModelWorkflowStep
    operation: StepOperation | None = None
    gives: type[object] | None = None


@dataclass
class WorkflowView:
    file: ValidatedFile
    index: int
    workflow: ModelWorkflow
    steps: list[StepView] = field(default_factory=list)

    def at(self, step: int, *rest: PathPart) -> list[PathPart]:
        return ["workflows", self.index, "steps", step, *rest]

    @property
    def types_known(self) -> bool:
        """Every step's payload type is known (no step was left unchecked)."""
        return all(s.gives is not None for s in self.steps)

    @property
    def carries_events(self) -> bool:
        """A records workflow whose payload becomes an ``EventBatch``: it carries events."""
        from omnibase_infra.workflow.payloads import EventBatch

        return any(s.gives is not None and issubclass(s.gives, EventBatch) for s in self.steps)


StepOperations = dict[str, dict[str, StepOperation]]
"""Per node contract file (``ValidatedFile.file``): its step operations by name."""


def check_capabilities(files: Sequence[ValidatedFile], resolver: ClassResolver) -> StepOperations:
    """Resolve every step operation's payload classes; report unresolvable ones and misplaced keys."""
    found: StepOperations = {}
    for f in files:
        if f.node is None:
            continue
        operations: dict[str, StepOperation] = {}
        for index, capability in enumerate(f.node.capabilities):
            at: list[PathPart] = ["capabilities", index]
            if capability.input is None:
                for key in ("output", "role", "topic_use"):
                    if getattr(capability, key) is not None:
                        f.add([*at, key], f"only a step operation (a capability with input) has {key}")
                continue
            input_class = resolver.resolve(capability.input)
            if isinstance(input_class, str):
                f.add([*at, "input"], input_class)
            output_class: type[object] | str | None = None
            if capability.output is None:
                f.add([*at, "output"], "a step operation declares output too (module.Class, or same)")
            elif capability.output != SAME_AS_INPUT:
                output_class = resolver.resolve(capability.output)
                if isinstance(output_class, str):
                    f.add([*at, "output"], output_class)
            operations[capability.name] = StepOperation(
                node=f.node.name,
                index=index,
                capability=capability,
                input=input_class if isinstance(input_class, type) else None,
                output=output_class if isinstance(output_class, type) else None,
            )
        found[f.file] = operations
    return found


def _merged_operation_names(name: str, files: Sequence[ValidatedFile]) -> set[str]:
    return {op.name for f in files if f.kind == "operations" and f.raw_name == name for _, op in f.operations}


class _StepChecker:
    """Checks steps one by one, sharing what the whole set knows."""

    def __init__(
        self,
        files: Sequence[ValidatedFile],
        nodes: ResolvedNodes,
        installed: Mapping[str, InstalledNode],
        operations: StepOperations,
    ) -> None:
        self.files = files
        self.nodes = nodes
        self.installed = installed
        self.operations = operations
        self.consumers: dict[str, str] = {}
        self.composition_consumes = {t for f in files if f.composition for t in f.composition.topics.consumes}
        self.composition_publishes = {
            t for f in files if f.composition for t in f.composition.topics.publishes
        }

    def node_file(self, view: WorkflowView, s: StepView) -> ValidatedFile | None:
        """The node contract the step runs with, or None (reported)."""
        name = s.step.node
        found = self.nodes.latest(name)
        point = self.installed.get(name)
        if found is None:
            if name in self.nodes.known_names:
                return None  # its contract is invalid and reported in its own file
            if point is None:
                reason = f"no node named {name!r} (not installed: no onex.nodes entry point and no contract)"
            elif point.ours:
                reason = f"node {name!r} has an onex.nodes entry point ({point.value}) but no contract"
            else:
                reason = (
                    f"node {name!r} is installed ({point.value}) but has no contract: {point.why_no_contract}"
                )
            view.file.add(view.at(s.index, "node"), reason)
            return None
        if self.nodes.origins.get(name, set()) == {"extra"} and point is None:
            view.file.add(
                view.at(s.index, "node"),
                f"node {name!r} has a contract but no onex.nodes entry point: not installed",
            )
        if found.problems:
            return None  # checked against once its own problems (reported there) are fixed
        return found

    def operation(self, view: WorkflowView, s: StepView, node_file: ValidatedFile) -> StepOperation | None:
        """The step's operation: a capability of the node that declares input."""
        step = s.step
        document = node_file.node
        if document is None:
            return None
        operations = self.operations.get(node_file.file, {})
        found = operations.get(step.operation)
        if found is not None:
            return found
        names = ", ".join(sorted(operations)) or "none"
        sql = {op.name for op in document.operations} | _merged_operation_names(step.node, self.files)
        capability = next((c for c in document.capabilities if c.name == step.operation), None)
        if capability is not None:
            reason = (
                f"{step.node}.{step.operation} is not a step operation: its capability declares no input "
                f"(step operations: {names})"
            )
        elif step.operation in sql:
            reason = (
                f"{step.operation!r} is a SQL operation of {step.node}, not a step operation "
                f"(step operations: {names})"
            )
        else:
            reason = f"node {step.node} has no operation {step.operation!r} (step operations: {names})"
        view.file.add(view.at(s.index, "operation"), reason)
        return None

    def topics(self, view: WorkflowView, s: StepView, node_file: ValidatedFile) -> None:
        """Listed topics are declared; publishes only where the operation publishes."""
        step, document = s.step, node_file.node
        if document is None:
            return
        for t_index, topic in enumerate(step.consumes):
            if topic not in document.topics.consumes and topic not in self.composition_consumes:
                view.file.add(
                    view.at(s.index, "consumes", t_index),
                    f"topic {topic} is not declared as consumed by {step.node} or by a composition",
                )
            owner = self.consumers.setdefault(topic, view.workflow.name)
            if owner != view.workflow.name:
                view.file.add(
                    view.at(s.index, "consumes", t_index),
                    f"topic {topic} is already consumed by workflow {owner}; "
                    "a topic is consumed by one workflow (the gateway maps each topic to one workflow)",
                )
        for t_index, topic in enumerate(step.publishes):
            if topic not in document.topics.publishes and topic not in self.composition_publishes:
                view.file.add(
                    view.at(s.index, "publishes", t_index),
                    f"topic {topic} is not declared as published by {step.node} or by a composition",
                )
        operation = s.operation
        if operation is None:
            return
        use = operation.capability.topic_use
        if step.publishes and use is None:
            view.file.add(
                view.at(s.index, "publishes"),
                f"operation {operation.label} does not publish (its capability has no topic_use)",
            )
        if use is not None and not step.publishes:
            view.file.add(
                view.at(s.index, "publishes"),
                f"operation {operation.label} publishes ({use}) but the step lists no topic in publishes",
            )


def _check_types(view: WorkflowView, resolver: ClassResolver) -> None:
    """Each step takes what the previous one gives; record what each step gives."""
    trigger = view.workflow.trigger
    flowing: type[object] | None = resolver.require(start_payload(trigger))
    source = f"the {trigger} trigger starts with"
    for s in view.steps:
        operation = s.operation
        if operation is None or not operation.resolved or operation.input is None:
            flowing = None
            continue
        if flowing is not None and not issubclass(flowing, operation.input):
            view.file.add(
                view.at(s.index, "operation"),
                f"{operation.label} takes {class_label(operation.input)} but {source} {class_label(flowing)}",
            )
            flowing = operation.input
        s.gives = operation.gives(flowing) if flowing is not None else operation.output
        flowing = s.gives
        source = f"step {s.step.id!r} gives"


def _roles(view: WorkflowView, role: str) -> list[StepView]:
    return [s for s in view.steps if s.operation is not None and s.operation.capability.role == role]


def _check_records_workflow(view: WorkflowView) -> None:
    """First step consumes, poison goes to the DLQs, one commit and it is last."""
    first = view.steps[0]
    if first.operation is not None and first.operation.capability.role != "consume":
        role = first.operation.capability.role or "none"
        view.file.add(
            view.at(0, "operation"),
            f"a records workflow starts with a consume step; "
            f"{first.operation.label} is not one (role: {role})",
        )
    if not first.step.consumes:
        view.file.add(
            view.at(0, "consumes"), "the first step of a records workflow lists the topics it consumes"
        )
    for s in view.steps[1:]:
        if s.operation is not None and s.operation.capability.role == "consume":
            view.file.add(view.at(s.index, "operation"), "only the first step of a records workflow consumes")
        if s.step.consumes:
            view.file.add(
                view.at(s.index, "consumes"), "only the first step of a records workflow lists consumes"
            )
    known = all(s.operation is not None for s in view.steps)
    commits = _roles(view, "commit")
    at_steps: list[PathPart] = ["workflows", view.index, "steps"]
    if not commits and known:
        view.file.add(at_steps, "a records workflow ends with a commit step (role commit); it has none")
    for extra in commits[1:]:
        view.file.add(
            view.at(extra.index, "operation"),
            f"a records workflow commits once; step {commits[0].step.id!r} already commits",
        )
    if commits and commits[0].index != len(view.steps) - 1:
        commit, after = commits[0], view.steps[commits[0].index + 1]
        view.file.add(
            view.at(commit.index, "operation"),
            f"commit before the effect step: step {after.step.id!r} "
            f"({after.step.node}.{after.step.operation}) runs after the commit of step "
            f"{commit.step.id!r}; the commit is the last step",
        )
    dead_letters = _roles(view, "dead_letter")
    if not dead_letters and known:
        view.file.add(
            at_steps, "a records workflow has a dead_letter step before its commit (poison goes to T.dlq)"
        )


def _check_tick_workflow(view: WorkflowView) -> None:
    """``repeat`` and ``interval`` runs start from a Tick: nothing to consume or commit."""
    trigger = view.workflow.trigger
    for s in view.steps:
        role = s.operation.capability.role if s.operation is not None else None
        if s.operation is not None and role in ("consume", "commit"):
            view.file.add(
                view.at(s.index, "operation"),
                f"{s.operation.label} (role {role}) belongs in a records workflow, not trigger {trigger}",
            )
        if s.step.consumes:
            view.file.add(
                view.at(s.index, "consumes"), f"only a records workflow consumes topics (trigger {trigger})"
            )


def check_compositions(
    files: Sequence[ValidatedFile],
    nodes: ResolvedNodes,
    installed: Mapping[str, InstalledNode],
    resolver: ClassResolver | None = None,
) -> list[WorkflowView]:
    """Check every step of every workflow (the module docstring); the views feed later checks."""
    resolver = resolver or ClassResolver()
    operations = check_capabilities(files, resolver)
    checker = _StepChecker(files, nodes, installed, operations)
    views: list[WorkflowView] = []
    workflow_owner: dict[str, str] = {}
    for f in files:
        if f.kind != "composition":
            continue
        for index, workflow in f.workflows:
            owner = workflow_owner.setdefault(workflow.name, f.file)
            if owner != f.file:
                f.add(
                    ["workflows", index, "name"], f"workflow {workflow.name!r} is already declared in {owner}"
                )
            view = WorkflowView(f, index, workflow)
            for s_index, step in enumerate(workflow.steps):
                s = StepView(s_index, step)
                view.steps.append(s)
                node_file = checker.node_file(view, s)
                if node_file is None:
                    continue
                s.operation = checker.operation(view, s, node_file)
                checker.topics(view, s, node_file)
            _check_types(view, resolver)
            if workflow.trigger == "records":
                _check_records_workflow(view)
            else:
                _check_tick_workflow(view)
            views.append(view)
    return views


__all__ = [
    "StepOperation",
    "StepOperations",
    "StepView",
    "WorkflowView",
    "check_capabilities",
    "check_compositions",
]
