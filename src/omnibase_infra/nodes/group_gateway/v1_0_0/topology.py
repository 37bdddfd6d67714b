"""Which topics the node group consumes and publishes: the contracts' declarations, env overrides on top.

The composition contracts decide. Each ``records`` workflow takes the topics its
consume step lists; a topic belongs to one workflow (``contracts check``). An
extra composition file (``ONEX_CONTRACTS_PATH``) adding a records workflow for a
new topic makes the service consume it and run that workflow on it.

Variables replace declarations, by workflow name (e.g. to run several isolated
instances side by side): ``ONEX_EVENT_STORE_TOPICS`` the topics of the workflow
named ``event_store``, ``ONEX_COMMAND_TOPIC`` those of ``operations``;
``ONEX_OPERATION_COMPLETED_TOPIC`` / ``ONEX_OPERATION_FAILED_TOPIC`` the reply topics
(declared by postgres_adapter's contract) and ``ONEX_STATE_CHANGED_TOPIC`` the state
topic (declared by kafka_adapter's contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.errors import ContractError
from omnibase_infra.settings import ModelInfraSettings
from omnibase_infra.workflow.records import is_dlq_topic

EVENT_STORE_WORKFLOW = "event_store"
OPERATIONS_WORKFLOW = "operations"


@dataclass(frozen=True)
class ServiceTopology:
    """The records workflows' topics (overrides applied) and the topics the group publishes itself."""

    workflow_topics: Mapping[str, tuple[str, ...]]
    operation_completed_topic: str
    operation_failed_topic: str
    state_changed_topic: str
    _by_topic: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, topics in self.workflow_topics.items():
            for topic in topics:
                self._by_topic.setdefault(topic, name)

    @property
    def subscription(self) -> tuple[str, ...]:
        return tuple(self._by_topic)

    def workflow_of(self, topic: str) -> str | None:
        """The records workflow that takes ``topic``, if any."""
        return self._by_topic.get(topic)

    @property
    def event_store_topics(self) -> tuple[str, ...]:
        return tuple(self.workflow_topics.get(EVENT_STORE_WORKFLOW, ()))

    @property
    def command_topics(self) -> tuple[str, ...]:
        return tuple(self.workflow_topics.get(OPERATIONS_WORKFLOW, ()))


def _declared(contracts: ContractSet, node: str, marker: str) -> str:
    contract = contracts.node(node)
    for topic in contract.topics.publishes:
        if marker in topic:
            return topic
    raise ContractError([(contract.path, "topics.publishes", f"no topic containing {marker!r}")])


def resolve_topology(contracts: ContractSet, settings: ModelInfraSettings) -> ServiceTopology:
    """The topics of this run; raises ``ContractError`` if a needed declaration is missing."""
    overrides: dict[str, tuple[str, ...]] = {}
    if settings.event_store_topics:
        overrides[EVENT_STORE_WORKFLOW] = tuple(settings.event_store_topics)
    if settings.command_topic:
        overrides[OPERATIONS_WORKFLOW] = (settings.command_topic,)
    workflow_topics: dict[str, tuple[str, ...]] = {}
    for workflow in contracts.workflows_with_trigger("records"):
        topics = overrides.get(workflow.name, workflow.consumed_topics)
        if topics:
            workflow_topics[workflow.name] = tuple(dict.fromkeys(topics))
    if not workflow_topics:
        raise ContractError([("<compositions>", "workflows", "no records workflow consumes a topic")])
    topology = ServiceTopology(
        workflow_topics=workflow_topics,
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


__all__ = ["EVENT_STORE_WORKFLOW", "OPERATIONS_WORKFLOW", "ServiceTopology", "resolve_topology"]
