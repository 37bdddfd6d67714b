"""Which topics the service consumes and publishes: the contracts' declarations, env overrides on top.

Rules: the composition contracts' workflows decide. The topics consumed by the
steps of every ``event_store`` workflow are stored; those of every
``request_reply`` workflow carry operation commands — so an extra composition
file (``ONEX_CONTRACTS_PATH``) that adds an event-store workflow for a new topic
makes the service consume and store it. ``ONEX_EVENT_STORE_TOPICS``,
``ONEX_COMMAND_TOPIC``, ``ONEX_OPERATION_COMPLETED_TOPIC``,
``ONEX_OPERATION_FAILED_TOPIC`` and ``ONEX_STATE_CHANGED_TOPIC`` replace the
corresponding declaration (e.g. to run several isolated instances side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.model_workflows import WorkflowPattern
from omnibase_infra.errors import ContractError
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.records import is_dlq_topic


@dataclass(frozen=True)
class ServiceTopology:
    event_store_topics: tuple[str, ...]
    command_topics: tuple[str, ...]
    operation_completed_topic: str
    operation_failed_topic: str
    state_changed_topic: str

    @property
    def subscription(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.event_store_topics + self.command_topics))


def _declared(contracts: ContractSet, node: str, marker: str) -> str:
    contract = contracts.node(node)
    for topic in contract.topics.publishes:
        if marker in topic:
            return topic
    raise ContractError([(contract.path, "topics.publishes", f"no topic containing {marker!r}")])


def _workflow_topics(contracts: ContractSet, pattern: WorkflowPattern) -> tuple[str, ...]:
    topics = (
        topic
        for workflow in contracts.workflows_with_pattern(pattern)
        for step in workflow.steps
        for topic in step.consumes
    )
    return tuple(dict.fromkeys(topics))


def resolve_topology(contracts: ContractSet, settings: ModelInfraSettings) -> ServiceTopology:
    """The topics of this run; raises ``ContractError`` if a needed declaration is missing."""
    store = settings.event_store_topics or _workflow_topics(contracts, "event_store")
    commands = (
        (settings.command_topic,) if settings.command_topic else _workflow_topics(contracts, "request_reply")
    )
    if not store and not commands:
        raise ContractError(
            [("<compositions>", "workflows", "no event_store or request_reply workflow consumes a topic")]
        )
    topology = ServiceTopology(
        event_store_topics=tuple(store),
        command_topics=commands,
        operation_completed_topic=settings.operation_completed_topic
        or _declared(contracts, "postgres_adapter", "operation-completed"),
        operation_failed_topic=settings.operation_failed_topic
        or _declared(contracts, "postgres_adapter", "operation-failed"),
        state_changed_topic=settings.state_changed_topic
        or _declared(contracts, "kafka_adapter", "state-changed"),
    )
    for topic in topology.subscription:
        if is_dlq_topic(topic):
            raise ContractError([("<environment>", "topics", f"refusing to consume DLQ topic {topic}")])
    return topology


__all__ = ["ServiceTopology", "resolve_topology"]
