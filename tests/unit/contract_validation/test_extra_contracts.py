"""Extra contract files (``--contracts`` / ONEX_CONTRACTS_PATH) join the shipped set, validated alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnibase_infra.contract_validation.discovery import (
    NODES_ROOT,
    combined_extra_paths,
    expand_extra_paths,
    paths_from_environment,
)
from omnibase_infra.contract_validation.loader import check_contracts, load_contract_set
from omnibase_infra.errors import ContractError

from .conftest import Installer
from .third_party import RELAY_NODE

OPERATIONS = """\
kind: operations
target_node: postgres_adapter
operations:
  - name: events_of_topic
    description: latest envelopes of a topic
    read_only: true
    exposed: true
    sql: SELECT envelope_id FROM onex_event_store WHERE topic = $1 ORDER BY stored_at DESC LIMIT $2
    parameters:
      - {name: topic, schema: {type: string}}
      - {name: limit, schema: {type: integer, minimum: 1}}
"""

COMPOSITION = """\
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


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_extra_operations_and_workflows_join_the_set(tmp_path: Path) -> None:
    ops = _write(tmp_path, "ops.yaml", OPERATIONS)
    comp = _write(tmp_path, "orders.yaml", COMPOSITION)
    contracts = load_contract_set([ops, comp], check_classes=False)
    postgres = contracts.node("postgres_adapter")
    assert postgres.operation("events_of_topic").parameter_names == ("topic", "limit")
    assert postgres.operation_files["events_of_topic"] == str(ops)
    assert contracts.workflow("orders_event_store").consumed_topics == ("onex.evt.orders.order-placed.v1",)
    assert contracts.workflow("orders_event_store").trigger == "records"
    assert "onex.evt.orders.order-placed.v1" in contracts.declared_topics


def test_a_step_may_not_name_a_sql_operation(tmp_path: Path) -> None:
    ops = _write(tmp_path, "ops.yaml", OPERATIONS)
    comp = _write(tmp_path, "orders.yaml", COMPOSITION.replace("store_event_batch", "events_of_topic"))
    report, contracts = check_contracts([ops, comp], check_classes=False)
    assert contracts is None
    own = [(p.key_path, p.reason.partition(" (")[0]) for p in report.problems if p.file == str(comp)]
    assert own == [
        (
            "workflows[0].steps[2].operation",
            "'events_of_topic' is a SQL operation of postgres_adapter, not a step operation",
        )
    ]


def test_a_folder_is_searched_for_yaml_files_once_each(tmp_path: Path) -> None:
    _write(tmp_path, "ops.yaml", OPERATIONS)
    (tmp_path / "nested").mkdir()
    _write(tmp_path / "nested", "orders.yml", COMPOSITION)
    _write(tmp_path, "notes.txt", "not a contract")
    expanded = expand_extra_paths([tmp_path, tmp_path / "ops.yaml", tmp_path / "missing.yaml"])
    assert sorted(s.path.name for s in expanded.sources) == ["ops.yaml", "orders.yml"]
    assert expanded.missing == [str(tmp_path / "missing.yaml")]


def test_a_missing_path_is_reported(tmp_path: Path) -> None:
    report, contract_set = check_contracts([tmp_path / "absent.yaml"])
    assert contract_set is None
    assert [(p.file, p.reason) for p in report.problems] == [
        (str(tmp_path / "absent.yaml"), "no such file or folder")
    ]


def test_environment_variable_lists_paths_before_the_command_line() -> None:
    environ = {"ONEX_CONTRACTS_PATH": " /a.yaml, ,/b "}
    assert paths_from_environment(environ) == ("/a.yaml", "/b")
    assert combined_extra_paths(["/c"], environ) == ("/a.yaml", "/b", "/c")
    assert paths_from_environment({}) == ()


def test_two_files_adding_the_same_operation_clash(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", OPERATIONS)
    second = _write(tmp_path, "b.yaml", OPERATIONS)
    with pytest.raises(ContractError) as caught:
        load_contract_set([first, second], check_classes=False)
    assert caught.value.problems == [
        (
            str(second),
            "operations[0].name",
            f"postgres_adapter already has an operation 'events_of_topic' ({first})",
        )
    ]


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    broken = OPERATIONS.replace("LIMIT $2", "LIMIT $3").replace("read_only: true", "read_only: maybe")
    broken += "unexpected: 1\n"
    path = _write(tmp_path, "ops.yaml", broken)
    report, _ = check_contracts([path])
    paths = sorted(p.key_path for p in report.problems)
    assert paths == ["operations[0].read_only", "unexpected"]
    # the operation failed the schema, so its SQL is checked once it is fixed; the file still lists both
    assert all(p.file == str(path) and p.line is not None for p in report.problems)


def test_an_extra_node_contract_replaces_the_shipped_one(tmp_path: Path) -> None:
    shipped = (NODES_ROOT / "message_aggregator/v1_0_0/contract.yaml").read_text(encoding="utf-8")
    tuned = _write(tmp_path, "aggregator.yaml", shipped.replace("batch_size: 2000", "batch_size: 800"))
    report, contracts = check_contracts([tuned], check_classes=False)
    assert contracts is not None
    assert contracts.node("message_aggregator").batching("production").batch_size == 800
    assert contracts.node("message_aggregator").origin == "extra"
    assert report.notes == (f"{tuned} replaces the shipped contract of message_aggregator 1.0.0",)


def test_two_extra_contracts_for_one_node_clash(tmp_path: Path) -> None:
    shipped = (NODES_ROOT / "message_aggregator/v1_0_0/contract.yaml").read_text(encoding="utf-8")
    first = _write(tmp_path, "a.yaml", shipped)
    second = _write(tmp_path, "b.yaml", shipped)
    report, _ = check_contracts([first, second])
    assert [(p.file, p.key_path) for p in report.problems] == [(str(second), "name")]


FORGING_RELAY = """\
kind: composition
name: forging_relay
contract_version: {major: 1, minor: 0, patch: 0}
description: an outbox relay that would publish to the service's own topics
topics:
  publishes: [onex.cmd.postgres.operation.v1, onex.evt.postgres.operation-completed.v1]
workflows:
  - name: forging_outbox
    trigger: repeat
    description: relay to an application topic, the event store, the command and a reply topic
    steps:
      - id: publish
        node: acme_relay
        operation: relay
        publishes:
          - onex.evt.orders.order-placed.v1
          - onex.evt.infrastructure.event-store.v1
          - onex.cmd.postgres.operation.v1
          - onex.evt.postgres.operation-completed.v1
"""


def test_a_relay_step_may_not_target_the_command_or_reply_topic(tmp_path: Path, install: Installer) -> None:
    node = install(RELAY_NODE)
    path = _write(tmp_path, "forging.yaml", FORGING_RELAY)
    report, contracts = check_contracts([path], entry_points=node.entry_points, check_classes=False)
    assert contracts is None
    assert [(p.file, p.key_path, p.reason) for p in report.problems if p.file == str(path)] == [
        (
            str(path),
            "workflows[0].steps[0].publishes[2]",
            "topic onex.cmd.postgres.operation.v1 is the command topic of workflow operations; "
            "it can never be an outbox relay target",
        ),
        (
            str(path),
            "workflows[0].steps[0].publishes[3]",
            "topic onex.evt.postgres.operation-completed.v1 is the reply topic of workflow operations; "
            "it can never be an outbox relay target",
        ),
    ]


STATE_AND_RELAY = """\
kind: composition
name: acme_state
contract_version: {major: 1, minor: 0, patch: 0}
description: a state workflow and a relay that would forge its events
topics:
  publishes: [onex.evt.acme.state-changed.v1]
workflows:
  - name: acme_state
    trigger: interval
    description: publish the state
    steps:
      - {id: publish, node: acme_relay, operation: publish_state, publishes: [onex.evt.acme.state-changed.v1]}
  - name: acme_outbox
    trigger: repeat
    description: relay outbox rows
    steps:
      - {id: publish, node: acme_relay, operation: relay, publishes: [onex.evt.acme.state-changed.v1]}
"""


def test_a_relay_step_may_not_target_a_state_topic(tmp_path: Path, install: Installer) -> None:
    node = install(RELAY_NODE)
    path = _write(tmp_path, "state.yaml", STATE_AND_RELAY)
    report, _ = check_contracts([path], entry_points=node.entry_points, check_classes=False)
    assert [(p.key_path, p.reason) for p in report.problems if p.file == str(path)] == [
        (
            "workflows[1].steps[0].publishes[0]",
            "topic onex.evt.acme.state-changed.v1 is the state topic of workflow acme_state; "
            "it can never be an outbox relay target",
        )
    ]
