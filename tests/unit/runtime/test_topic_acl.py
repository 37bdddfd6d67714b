"""The topic ACL: each topic is allowed for the uses its contract declares, and no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.errors import ConfigurationError, PoisonRecordError, TopicNotAllowedError
from omnibase_infra.infrastructure.error_classification import is_outage
from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl, contract_relay_topics
from omnibase_infra.nodes.group_gateway.v1_0_0.topology import resolve_topology
from omnibase_infra.settings import ModelInfraSettings, load_settings

STORE = "onex.evt.infrastructure.event-store.v1"
STATE = "onex.evt.infrastructure.state-changed.v1"
COMMAND = "onex.cmd.postgres.operation.v1"
COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"

ORDERS_RELAY = """\
kind: composition
name: orders_relay
contract_version: {major: 1, minor: 0, patch: 0}
description: the orders service publishes through the outbox
topics:
  publishes: [onex.evt.orders.order-placed.v1]
workflows:
  - name: orders_outbox
    trigger: repeat
    description: relay the orders rows
    steps:
      - {id: claim, node: postgres_adapter, operation: claim_outbox_batch}
      - id: publish
        node: kafka_adapter
        operation: publish_outbox
        publishes: [onex.evt.orders.order-placed.v1]
      - {id: mark, node: postgres_adapter, operation: mark_outbox_published}
"""


def _settings(**extra: str) -> ModelInfraSettings:
    return load_settings(
        {
            "POSTGRES_HOST": "db",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "KAFKA_BOOTSTRAP_SERVERS": "k:1",
            **extra,
        }
    )


def _acl(extra: list[Path] | None = None, **env: str) -> TopicAcl:
    contracts = load_contract_set(extra or [], validate_core=False)
    settings = _settings(**env)
    return TopicAcl.for_service(contracts, resolve_topology(contracts, settings), settings.outbox_topics)


def test_the_shipped_contracts_allow_each_topic_for_its_own_use_only() -> None:
    acl = _acl()
    assert acl.topics("reply") == {COMPLETED, FAILED}
    assert acl.topics("state") == {STATE}
    assert acl.topics("relay") == {STORE}
    assert acl.topics("dead_letter") == {f"{STORE}.dlq", f"{STATE}.dlq", f"{COMMAND}.dlq"}
    acl.require(COMPLETED, "reply")
    acl.require(f"{COMMAND}.dlq", "dead_letter")
    for topic, use in ((COMPLETED, "relay"), (STATE, "reply"), (COMMAND, "relay"), (STORE, "state")):
        with pytest.raises(TopicNotAllowedError):
            acl.require(topic, use)  # type: ignore[arg-type]


def test_a_refusal_is_typed_poison_naming_the_topic_and_the_use() -> None:
    with pytest.raises(TopicNotAllowedError) as refused:
        _acl().require("onex.evt.nobody.declared.v1", "relay")
    error = refused.value
    assert isinstance(error, PoisonRecordError)
    assert not is_outage(error)
    assert (error.topic, error.use) == ("onex.evt.nobody.declared.v1", "relay")
    assert error.error_class == "topic_not_allowed"
    assert "topic onex.evt.nobody.declared.v1 is not allowed for relay" in str(error)


def test_the_relay_may_publish_spilled_state_events_but_never_replies_or_commands() -> None:
    acl = _acl()
    acl.require_relayable(STATE, service_row=True)
    acl.require_relayable(STORE, service_row=True)
    acl.require_relayable(STORE, service_row=False)
    for topic in (COMPLETED, FAILED, COMMAND, "onex.evt.nobody.declared.v1"):
        for service_row in (True, False):
            with pytest.raises(TopicNotAllowedError, match=f"topic {topic} is not allowed for relay"):
                acl.require_relayable(topic, service_row=service_row)


def test_an_application_row_can_never_be_relayed_to_the_state_topic() -> None:
    with pytest.raises(TopicNotAllowedError) as refused:
        _acl().require_relayable(STATE, service_row=False)
    assert (refused.value.topic, refused.value.use) == (STATE, "relay")
    assert "relayed only from rows the service spilled itself" in str(refused.value)


def test_an_outbox_relay_workflow_of_an_extra_composition_declares_relay_topics(tmp_path: Path) -> None:
    extra = tmp_path / "orders.yaml"
    extra.write_text(ORDERS_RELAY)
    contracts = load_contract_set([extra], validate_core=False)
    assert contract_relay_topics(contracts) == (STORE, "onex.evt.orders.order-placed.v1")
    _acl([extra]).require("onex.evt.orders.order-placed.v1", "relay")


def test_onex_outbox_topics_replaces_the_contracts_relay_topics() -> None:
    acl = _acl(ONEX_OUTBOX_TOPICS="onex.evt.a.b.v1, onex.evt.c.d.v1")
    assert acl.topics("relay") == {"onex.evt.a.b.v1", "onex.evt.c.d.v1"}
    with pytest.raises(TopicNotAllowedError):
        acl.require(STORE, "relay")


def test_topic_variables_follow_into_the_acl() -> None:
    acl = _acl(
        ONEX_OPERATION_COMPLETED_TOPIC="onex.evt.mine.done.v1", ONEX_COMMAND_TOPIC="onex.cmd.mine.run.v1"
    )
    acl.require("onex.evt.mine.done.v1", "reply")
    acl.require("onex.cmd.mine.run.v1.dlq", "dead_letter")
    with pytest.raises(TopicNotAllowedError):
        acl.require(COMPLETED, "reply")


@pytest.mark.parametrize(
    ("env", "variable", "what"),
    [
        ({"ONEX_OUTBOX_TOPICS": COMMAND}, "ONEX_OUTBOX_TOPICS", "command"),
        ({"ONEX_OUTBOX_TOPICS": f"{STORE},{FAILED}"}, "ONEX_OUTBOX_TOPICS", "reply"),
        ({"ONEX_OUTBOX_TOPICS": STATE}, "ONEX_OUTBOX_TOPICS", "state"),
        ({"ONEX_COMMAND_TOPIC": STORE}, "ONEX_COMMAND_TOPIC", "command"),
        ({"ONEX_STATE_CHANGED_TOPIC": STORE}, "ONEX_STATE_CHANGED_TOPIC", "state"),
    ],
)
def test_a_variable_that_makes_an_own_topic_a_relay_target_stops_startup(
    env: dict[str, str], variable: str, what: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _acl(**env)
    assert refused.value.variable == variable
    assert f"is the service's {what} topic and can never be an outbox relay target" in refused.value.reason


def test_a_generic_publish_takes_any_topic_declared_for_some_use() -> None:
    acl = _acl()
    for topic in (COMPLETED, STATE, STORE, f"{COMMAND}.dlq"):
        acl.require_declared(topic)
    with pytest.raises(TopicNotAllowedError, match=f"topic {COMMAND} is not allowed for publish"):
        acl.require_declared(COMMAND)


async def test_the_state_workflow_publishes_only_to_the_state_topic() -> None:
    from datetime import UTC, datetime

    from omnibase_infra.container import build_container
    from omnibase_infra.infrastructure.event_queue import OutboundEvent
    from omnibase_infra.models.model_infrastructure_state import ModelStateChangedIntent
    from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
    from omnibase_infra.workflow.operations import StepContext
    from omnibase_infra.workflow.payloads import HealthRound, StateChange

    class Queue:
        """The durable publisher: records the topic of each event it was handed."""

        def __init__(self) -> None:
            self.topics: list[str] = []

        async def publish_durably(self, event: OutboundEvent) -> None:
            self.topics.append(event.topic)

    contracts = load_contract_set(validate_core=False)
    node = NodeKafkaAdapterEffect(await build_container(contracts, settings=_settings()))
    await node.initialize()
    queue = Queue()
    object.__setattr__(node, "_state_publisher", queue)
    object.__setattr__(node, "_acl", _acl())  # the service's ACL, as group_gateway holds it
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def one_change() -> HealthRound:
        intent = ModelStateChangedIntent(
            component="kafka", previous_status=None, status="healthy", changed_at=at
        )
        return HealthRound(at=at, environment="development", changes=[StateChange(intent, "healthy")])

    def publish_to(topic: str) -> StepContext:
        return StepContext(
            "infrastructure_state", "publish", "kafka_adapter", "publish_state", publishes=(topic,)
        )

    recorded = await node.publish_state(one_change(), publish_to(STATE))
    assert (recorded.recorded, queue.topics) == (1, [STATE])
    for other in (COMPLETED, STORE, COMMAND):
        refused = await node.publish_state(one_change(), publish_to(other))
        assert refused.recorded == 0, f"{other} is not the state topic: nothing is recorded"
    assert queue.topics == [STATE]
    assert node.state_published == 1
