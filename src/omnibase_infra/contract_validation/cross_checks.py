"""Checks across contract files: identities, operation merges, workflow steps and topics.

- Node contracts are identified by (name, version). An extra node contract with the
  identity of a shipped one replaces it (an operator's tuned copy); two extras with
  the same identity, or two shipped ones, are an error.
- An operations file targets an existing node that takes SQL operations; its
  operation names must not clash with the node's operations or capabilities, nor
  with another file's.
- Every workflow step names an existing node and one of its operations, and every
  topic a step consumes or publishes is declared by that node or by a composition.
- Workflow names are unique across all compositions.
- An ``outbox_relay`` workflow never publishes to the service's own topics: a command
  topic (consumed by a ``request_reply`` workflow), a reply topic (published by one) or
  the state topic (published by an ``infrastructure_state`` workflow). Those are the
  service's identity; an outbox row there would be a forged reply, a looped command or
  a forged state event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omnibase_infra.contract_validation.file_validation import ValidatedFile
from omnibase_infra.contract_validation.model_node_document import ModelNodeContractDocument
from omnibase_infra.contract_validation.node_rules import SHIPPED_NODE_RULES
from omnibase_infra.contract_validation.problems import PathPart


@dataclass
class ResolvedNodes:
    """Which node file wins for each (name, version), and every node name seen."""

    winners: dict[tuple[str, str], ValidatedFile] = field(default_factory=dict)
    known_names: set[str] = field(default_factory=set)
    overrides: list[str] = field(default_factory=list)

    def by_name(self, name: str) -> list[ModelNodeContractDocument]:
        return [f.node for (n, _), f in self.winners.items() if n == name and f.node is not None]


def resolve_nodes(files: Sequence[ValidatedFile]) -> ResolvedNodes:
    """Pick the contract for each node identity; report duplicates."""
    resolved = ResolvedNodes()
    for f in files:
        if f.kind != "node" or f.raw_name is None:
            continue
        resolved.known_names.add(f.raw_name)
        version = str(f.node.contract_version) if f.node is not None else "?"
        key = (f.raw_name, version)
        previous = resolved.winners.get(key)
        if previous is None:
            resolved.winners[key] = f
        elif previous.source.origin == "shipped" and f.source.origin == "extra":
            resolved.winners[key] = f
            resolved.overrides.append(f"{f.file} replaces the shipped contract of {f.raw_name} {version}")
        else:
            f.add(["name"], f"node {f.raw_name} {version} is already declared in {previous.file}")
    return resolved


def _takes_operations(name: str) -> bool:
    rule = SHIPPED_NODE_RULES.get(name)
    return rule is None or rule.has_operations


def check_operation_files(files: Sequence[ValidatedFile], nodes: ResolvedNodes) -> None:
    """Extra operations: known target, no clash with the target's names or other files."""
    claimed: dict[tuple[str, str], str] = {}
    for f in nodes.winners.values():
        if f.node is None:
            continue
        for op in f.node.operations:
            claimed[(f.node.name, op.name)] = f.file
        for capability in f.node.capabilities:
            claimed[(f.node.name, capability.name)] = f.file
    for f in files:
        if f.kind != "operations" or f.raw_name is None:
            continue
        target = f.raw_name
        if target not in nodes.known_names:
            f.add(
                ["target_node"], f"no node named {target!r} (nodes: {', '.join(sorted(nodes.known_names))})"
            )
            continue
        if not _takes_operations(target):
            f.add(["target_node"], f"node {target} does not run SQL operations")
            continue
        for index, op in f.operations:
            owner = claimed.get((target, op.name))
            if owner is not None and owner != f.file:
                f.add(
                    ["operations", index, "name"], f"{target} already has an operation {op.name!r} ({owner})"
                )
            claimed.setdefault((target, op.name), f.file)


def _merged_operation_names(name: str, files: Sequence[ValidatedFile]) -> set[str]:
    return {op.name for f in files if f.kind == "operations" and f.raw_name == name for _, op in f.operations}


def check_workflows(files: Sequence[ValidatedFile], nodes: ResolvedNodes) -> None:
    """Steps name real nodes and operations; their topics are declared; names are unique."""
    composition_consumes = {t for f in files if f.composition for t in f.composition.topics.consumes}
    composition_publishes = {t for f in files if f.composition for t in f.composition.topics.publishes}
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
            for s_index, step in enumerate(workflow.steps):
                at: list[PathPart] = ["workflows", index, "steps", s_index]
                if step.node not in nodes.known_names:
                    known = ", ".join(sorted(nodes.known_names))
                    f.add([*at, "node"], f"no node named {step.node!r} (nodes: {known})")
                    continue
                documents = nodes.by_name(step.node)
                if not documents:
                    continue  # the node's own contract is invalid and reported there
                node = documents[0]
                names = {c.name for c in node.capabilities} | {op.name for op in node.operations}
                names |= _merged_operation_names(step.node, files)
                if step.operation not in names:
                    has = ", ".join(sorted(names))
                    f.add(
                        [*at, "operation"],
                        f"node {step.node} has no operation {step.operation!r} (has: {has})",
                    )
                for t_index, topic in enumerate(step.consumes):
                    if topic not in node.topics.consumes and topic not in composition_consumes:
                        f.add(
                            [*at, "consumes", t_index],
                            f"topic {topic} is not declared as consumed by {step.node} or by a composition",
                        )
                for t_index, topic in enumerate(step.publishes):
                    if topic not in node.topics.publishes and topic not in composition_publishes:
                        f.add(
                            [*at, "publishes", t_index],
                            f"topic {topic} is not declared as published by {step.node} or by a composition",
                        )


_OWN_TOPIC_USES = {
    ("request_reply", "consumes"): "command",
    ("request_reply", "publishes"): "reply",
    ("infrastructure_state", "publishes"): "state",
}


def check_relay_targets(files: Sequence[ValidatedFile]) -> None:
    """No outbox_relay step publishes to a command, reply or state topic of any workflow."""
    own: dict[str, str] = {}
    for f in files:
        for _, workflow in f.workflows:
            for step in workflow.steps:
                for direction, topics in (("consumes", step.consumes), ("publishes", step.publishes)):
                    use = _OWN_TOPIC_USES.get((workflow.pattern, direction))
                    if use is not None:
                        for topic in topics:
                            own.setdefault(topic, f"{use} topic of workflow {workflow.name}")
    for f in files:
        if f.kind != "composition":
            continue
        for index, workflow in f.workflows:
            if workflow.pattern != "outbox_relay":
                continue
            for s_index, step in enumerate(workflow.steps):
                for t_index, topic in enumerate(step.publishes):
                    if topic in own:
                        f.add(
                            ["workflows", index, "steps", s_index, "publishes", t_index],
                            f"topic {topic} is the {own[topic]}; it can never be an outbox relay target",
                        )


def cross_check(files: Sequence[ValidatedFile]) -> ResolvedNodes:
    """Run every check across ``files``; problems are added to the file they concern."""
    nodes = resolve_nodes(files)
    check_operation_files(files, nodes)
    check_workflows(files, nodes)
    check_relay_targets(files)
    return nodes


__all__ = [
    "ResolvedNodes",
    "check_operation_files",
    "check_relay_targets",
    "check_workflows",
    "cross_check",
    "resolve_nodes",
]
