"""Which topics the service consumes and publishes: the contracts' declarations, env overrides on top.

Rules: the kafka_adapter contract's consumed topics are the subscription;
``onex.cmd.*`` topics carry operation commands, every other consumed topic is
stored by the event-store workflow. ``ONEX_EVENT_STORE_TOPICS``,
``ONEX_COMMAND_TOPIC``, ``ONEX_OPERATION_COMPLETED_TOPIC``,
``ONEX_OPERATION_FAILED_TOPIC`` and ``ONEX_STATE_CHANGED_TOPIC`` replace the
corresponding declaration (e.g. to run several isolated instances side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.errors import ContractError
from omnibase_infra.runtime.dead_letter import is_dlq_topic
from omnibase_infra.settings import ModelInfraSettings

COMMAND_PREFIX = "onex.cmd."


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


def resolve_topology(contracts: ContractSet, settings: ModelInfraSettings) -> ServiceTopology:
    """The topics of this run; raises ``ContractError`` if a needed declaration is missing."""
    consumes = contracts.node("kafka_adapter").topics.consumes
    store = settings.event_store_topics or tuple(t for t in consumes if not t.startswith(COMMAND_PREFIX))
    commands = (
        (settings.command_topic,)
        if settings.command_topic
        else tuple(t for t in consumes if t.startswith(COMMAND_PREFIX))
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


__all__ = ["COMMAND_PREFIX", "ServiceTopology", "resolve_topology"]
