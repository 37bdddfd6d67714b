"""The topic ACL: every topic the service publishes to is declared for that use, nothing else.

Uses and where their topics are declared (an ``ONEX_*`` variable replaces the
declaration, as everywhere in ``topology``):

- ``reply``: the completed and failed topics of the operations workflow
  (``ONEX_OPERATION_COMPLETED_TOPIC``, ``ONEX_OPERATION_FAILED_TOPIC``);
- ``state``: the state-changed topic (``ONEX_STATE_CHANGED_TOPIC``);
- ``dead_letter``: ``T.dlq`` for each topic ``T`` the service consumes;
- ``relay``: the ``publishes`` of every step whose operation publishes for ``relay``
  (``topic_use: relay``, e.g. the outbox_relay workflow's publish step;
  ``ONEX_OUTBOX_TOPICS`` replaces them);
- ``forward``: the ``publishes`` of every step whose operation forwards consumed records
  (``topic_use: forward``, kafka_adapter's ``publish_events``). The command, reply and state topics are never
  relay targets: a contract that lists one fails ``contracts check``, a variable that
  makes one stops startup (``ConfigurationError``, exit 3).

The outbox relay also publishes the state events the event queue spilled to the
outbox. Those rows, and only those, carry ``origin = 'service'``, so ``require_relayable``
admits the state topic for a service row only: an application row naming the state topic
is refused like any undeclared topic (the relay dead-letters it). ``enqueue_outbox_event``
checks ``relay`` only, so a command sender can never queue a state event, a reply or a
command. kafka_adapter's typed publish request (``execute`` with a ``ModelPublishRequest``)
names no use: it takes any topic allowed for some use (``require_declared``). Every
refusal raises ``TopicNotAllowedError`` naming the topic and the use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.errors import ConfigurationError, TopicNotAllowedError
from omnibase_infra.nodes.group_gateway.v1_0_0.topology import ServiceTopology
from omnibase_infra.workflow.protocols import TopicUse
from omnibase_infra.workflow.records import dlq_topic_for

_WHERE: Mapping[TopicUse, str] = {
    "reply": "the operations workflow's reply topics",
    "relay": "the publishes of an outbox_relay workflow (or ONEX_OUTBOX_TOPICS)",
    "dead_letter": "the DLQ (T.dlq) of a consumed topic",
    "state": "the state-changed topic",
    "forward": "the publishes of a step that forwards records (topic_use: forward)",
}


def contract_relay_topics(contracts: ContractSet) -> tuple[str, ...]:
    """The topics the compositions' relay steps (``topic_use: relay``) declare they publish."""
    return contracts.topics_for_use("relay")


class TopicAcl:
    """``ProtocolTopicAcl`` over fixed sets of topics per use (see the module docstring)."""

    def __init__(
        self,
        *,
        reply: Iterable[str],
        relay: Iterable[str],
        state: Iterable[str],
        consumed: Iterable[str],
        forward: Iterable[str] = (),
    ) -> None:
        self._allowed: dict[TopicUse, frozenset[str]] = {
            "reply": frozenset(reply),
            "relay": frozenset(relay),
            "state": frozenset(state),
            "dead_letter": frozenset(dlq_topic_for(t) for t in consumed),
            "forward": frozenset(forward),
        }

    @classmethod
    def for_service(
        cls, contracts: ContractSet, topology: ServiceTopology, relay_topics: tuple[str, ...] | None = None
    ) -> TopicAcl:
        """The ACL of a run; ``relay_topics`` (``ONEX_OUTBOX_TOPICS``) replaces the contracts'.

        Raises ``ConfigurationError`` when a relay topic is the command, a reply or the
        state topic of this run (possible only through a variable: ``contracts check``
        rejects such a contract).
        """
        relay = relay_topics if relay_topics is not None else contract_relay_topics(contracts)
        own = {
            **{t: ("command", "ONEX_COMMAND_TOPIC") for t in topology.command_topics},
            topology.operation_completed_topic: ("reply", "ONEX_OPERATION_COMPLETED_TOPIC"),
            topology.operation_failed_topic: ("reply", "ONEX_OPERATION_FAILED_TOPIC"),
            topology.state_changed_topic: ("state", "ONEX_STATE_CHANGED_TOPIC"),
        }
        for topic in relay:
            if topic in own:
                what, variable = own[topic]
                raise ConfigurationError(
                    "ONEX_OUTBOX_TOPICS" if relay_topics is not None else variable,
                    f"topic {topic} is the service's {what} topic and can never be an outbox relay target",
                )
        return cls(
            reply=(topology.operation_completed_topic, topology.operation_failed_topic),
            relay=relay,
            state=(topology.state_changed_topic,),
            consumed=topology.subscription,
            forward=contracts.topics_for_use("forward"),
        )

    def topics(self, use: TopicUse) -> frozenset[str]:
        """The topics allowed for ``use``."""
        return self._allowed[use]

    def allows(self, topic: str, use: TopicUse) -> bool:
        return topic in self._allowed[use]

    def require(self, topic: str, use: TopicUse) -> None:
        if topic not in self._allowed[use]:
            raise TopicNotAllowedError(topic, use, f"not one of {_WHERE[use]}")

    def require_relayable(self, topic: str, *, service_row: bool) -> None:
        """Allow ``relay`` topics, and the state topic for a row the service spilled itself."""
        if topic in self._allowed["relay"] or (service_row and topic in self._allowed["state"]):
            return
        if topic in self._allowed["state"]:
            raise TopicNotAllowedError(
                topic, "relay", "the state topic is relayed only from rows the service spilled itself"
            )
        raise TopicNotAllowedError(topic, "relay", f"not one of {_WHERE['relay']}")

    def require_declared(self, topic: str) -> None:
        if not any(topic in allowed for allowed in self._allowed.values()):
            raise TopicNotAllowedError(
                topic, "publish", "not declared for any use (reply, relay, dead_letter, state, forward)"
            )


__all__ = ["TopicAcl", "contract_relay_topics"]
