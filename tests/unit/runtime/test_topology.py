"""The subscription follows the composition contracts' workflows; environment overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.nodes.group_gateway.v1_0_0.topology import resolve_topology
from omnibase_infra.settings import ModelInfraSettings, load_settings

ORDERS = """\
kind: composition
name: orders
contract_version: {major: 1, minor: 0, patch: 0}
description: store the orders topic too
topics:
  consumes: [onex.evt.orders.order-placed.v1]
workflows:
  - name: orders_event_store
    description: store every order event
    steps:
      - {id: consume, node: kafka_adapter, operation: consume, consumes: [onex.evt.orders.order-placed.v1]}
      - {id: decode, node: kafka_wrapper, operation: decode_events}
      - {id: store, node: postgres_adapter, operation: store_event_batch}
      - {id: dead_letter, node: kafka_adapter, operation: publish_dead_letters}
      - {id: commit, node: kafka_adapter, operation: commit_offsets}
"""


def _settings(**extra: str) -> ModelInfraSettings:
    return load_settings(
        {
            "POSTGRES_HOST": "db",
            "POSTGRES_DATABASE": "d",
            "POSTGRES_USER": "u",
            "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
            **extra,
        }
    )


def test_shipped_workflows_give_the_store_and_command_topics() -> None:
    topology = resolve_topology(load_contract_set(validate_core=False), _settings())
    assert topology.event_store_topics == (
        "onex.evt.infrastructure.event-store.v1",
        "onex.evt.infrastructure.state-changed.v1",
    )
    assert topology.command_topics == ("onex.cmd.postgres.operation.v1",)
    assert topology.operation_completed_topic == "onex.evt.postgres.operation-completed.v1"
    assert topology.operation_failed_topic == "onex.evt.postgres.operation-failed.v1"


def test_an_extra_composition_adds_its_topic_to_the_subscription(tmp_path: Path) -> None:
    extra = tmp_path / "orders.yaml"
    extra.write_text(ORDERS)
    topology = resolve_topology(load_contract_set([extra], validate_core=False), _settings())
    # a records workflow (the default trigger) of its own takes the topic
    assert topology.workflow_topics["orders_event_store"] == ("onex.evt.orders.order-placed.v1",)
    assert topology.workflow_of("onex.evt.orders.order-placed.v1") == "orders_event_store"
    assert "onex.evt.orders.order-placed.v1" in topology.subscription
    assert "onex.evt.orders.order-placed.v1" not in topology.event_store_topics  # the shipped workflow's
    assert topology.workflow_of("onex.evt.infrastructure.event-store.v1") == "event_store"


def test_environment_overrides_replace_the_declarations() -> None:
    topology = resolve_topology(
        load_contract_set(validate_core=False),
        _settings(ONEX_EVENT_STORE_TOPICS="onex.evt.a.b.v1", ONEX_COMMAND_TOPIC="onex.cmd.a.b.v1"),
    )
    assert topology.subscription == ("onex.evt.a.b.v1", "onex.cmd.a.b.v1")


def test_a_dlq_topic_is_never_consumed() -> None:
    from omnibase_infra.errors import ContractError

    with pytest.raises(ContractError, match=r"refusing to consume DLQ topic onex\.evt\.a\.b\.v1\.dlq"):
        resolve_topology(
            load_contract_set(validate_core=False), _settings(ONEX_EVENT_STORE_TOPICS="onex.evt.a.b.v1.dlq")
        )
