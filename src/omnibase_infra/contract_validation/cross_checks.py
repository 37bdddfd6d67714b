"""Checks across contract files: identities, operation merges, workflow steps and topics.

- Node contracts are identified by (name, version) (``resolved_nodes``).
- An operations file targets an existing node that takes SQL operations; its
  operation names must not clash with the node's operations or capabilities, nor
  with another file's.
- Every step of every workflow is executable (``composition_checks``): its node exists
  and is installed, its operation is a step operation, the payload types chain, a
  records workflow consumes first and commits last, the topics it lists are declared.
- An outbox relay step (an operation with ``topic_use: relay``) never publishes to the
  service's own topics: a reply or state topic (listed by a step whose operation has
  ``topic_use: reply`` or ``state``) or a command topic. A command topic is one consumed
  by a records workflow that does not carry events (its payload never becomes an
  ``EventBatch``; judged once its steps check out). Topics of workflows that carry events
  (event_store) may be relayed to: an application's outbox row reaches the event store
  through Kafka. The others are the service's identity; an outbox row there would be a
  forged reply, a looped command or a forged state event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from omnibase_infra.contract_validation.composition_checks import WorkflowView, check_compositions
from omnibase_infra.contract_validation.discovery import InstalledNode
from omnibase_infra.contract_validation.file_validation import ValidatedFile
from omnibase_infra.contract_validation.node_rules import SHIPPED_NODE_RULES
from omnibase_infra.contract_validation.payload_types import ClassResolver
from omnibase_infra.contract_validation.resolved_nodes import ResolvedNodes, resolve_nodes


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


_OWN_TOPIC_USES = ("reply", "state")


def service_topics(views: Sequence[WorkflowView]) -> dict[str, str]:
    """The service's own topics (never relay targets), each with what it is."""
    own: dict[str, str] = {}
    for view in views:
        for s in view.steps:
            use = s.operation.capability.topic_use if s.operation is not None else None
            if use in _OWN_TOPIC_USES:
                for topic in s.step.publishes:
                    own.setdefault(topic, f"{use} topic of workflow {view.workflow.name}")
        if view.workflow.trigger == "records" and view.types_known and not view.carries_events:
            for topic in view.workflow.consumed_topics:
                own.setdefault(topic, f"command topic of workflow {view.workflow.name}")
    return own


def check_relay_targets(views: Sequence[WorkflowView]) -> None:
    """No relay step (``topic_use: relay``) publishes to a command, reply or state topic."""
    own = service_topics(views)
    for view in views:
        for s in view.steps:
            if s.operation is None or s.operation.capability.topic_use != "relay":
                continue
            for t_index, topic in enumerate(s.step.publishes):
                if topic in own:
                    view.file.add(
                        view.at(s.index, "publishes", t_index),
                        f"topic {topic} is the {own[topic]}; it can never be an outbox relay target",
                    )


def cross_check(
    files: Sequence[ValidatedFile],
    installed: Mapping[str, InstalledNode] | None = None,
    resolver: ClassResolver | None = None,
) -> ResolvedNodes:
    """Run every check across ``files``; problems are added to the file they concern.

    ``installed``: the ``onex.nodes`` entry points by name (``discovery.installed_nodes``).
    """
    nodes = resolve_nodes(files)
    check_operation_files(files, nodes)
    views = check_compositions(files, nodes, {} if installed is None else installed, resolver)
    check_relay_targets(views)
    return nodes


__all__ = [
    "ResolvedNodes",
    "check_operation_files",
    "check_relay_targets",
    "cross_check",
    "resolve_nodes",
    "service_topics",
]
