"""The shipped contracts validate and expose what the runtime reads from them.

Every check runs except the comparison of the steps with the node classes' ``@operation``
methods (``check_classes``), which the node rewrite of issue #14 makes pass: its test is
``test_shipped_steps_match_the_node_classes``.
"""

from __future__ import annotations

import pytest

from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import check_contracts, load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ContractError
from omnibase_infra.models.model_circuit_breaker_config import ModelCircuitBreakerEnvironmentConfig

NODES = {
    "postgres_adapter": "EFFECT",
    "kafka_adapter": "EFFECT",
    "message_aggregator": "COMPUTE",
    "infrastructure_reducer": "REDUCER",
    "infrastructure_orchestrator": "ORCHESTRATOR",
    "vault_adapter": "EFFECT",
    "kafka_wrapper": "COMPUTE",
    "group_gateway": "ORCHESTRATOR",
}


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set(check_classes=False)


def test_shipped_contracts_pass_every_check() -> None:
    report, contract_set = check_contracts([], check_classes=False)
    assert report.valid, [p.render() for p in report.problems]
    assert report.core_validation and not report.class_validation
    assert contract_set is not None
    # Other installed node distributions (tests/third_party/onex_field_dropper) join the set too.
    assert len([f for f in report.files if f.kind == "node" and f.origin == "shipped"]) == 8
    assert report.summary.workflows == 4


def test_shipped_steps_match_the_node_classes() -> None:
    report, contract_set = check_contracts([])
    assert report.valid, [p.render() for p in report.problems]
    assert report.class_validation and contract_set is not None


def test_every_node_has_its_kind_and_version(contracts: ContractSet) -> None:
    shipped = [n for n in contracts.nodes if n.origin == "shipped"]
    assert {n.name: n.kind for n in shipped} == NODES
    assert {str(n.version) for n in shipped} == {"1.0.0"}
    assert all(n.origin == "entry_point" for n in contracts.nodes if n.name not in NODES)


BREAKER_POLICY = {
    "postgres_adapter": set(),
    "kafka_adapter": {"max_queue_size", "dead_letter_enabled", "graceful_degradation"},
    "vault_adapter": {"graceful_degradation"},
}


@pytest.mark.parametrize("name", sorted(BREAKER_POLICY))
def test_circuit_breakers_carry_the_seed_values_their_breaker_reads(
    contracts: ContractSet, name: str
) -> None:
    seed = ModelCircuitBreakerEnvironmentConfig.create_default_config()
    thresholds = {"failure_threshold", "recovery_timeout", "success_threshold", "timeout_seconds"}
    for environment in ("production", "staging", "development"):
        written = getattr(contracts.node(name).circuit_breakers, environment)
        assert written.model_fields_set == thresholds | BREAKER_POLICY[name]
        expected = getattr(seed, environment)
        assert {k: getattr(written, k) for k in written.model_fields_set} == {
            k: getattr(expected, k) for k in written.model_fields_set
        }


@pytest.mark.parametrize("name", sorted(set(NODES) - set(BREAKER_POLICY)))
def test_nodes_without_a_breaker_carry_no_breaker_settings(contracts: ContractSet, name: str) -> None:
    with pytest.raises(ContractError, match=r"environment_config\.circuit_breaker"):
        _ = contracts.node(name).circuit_breakers


def test_per_environment_settings_are_typed(contracts: ContractSet) -> None:
    postgres = contracts.node("postgres_adapter")
    assert postgres.postgres_pool(EnumEnvironment.PRODUCTION).max_connections == 50
    assert postgres.postgres_pool("dev").max_connections == 5
    kafka = contracts.node("kafka_adapter")
    assert kafka.kafka_producer("production").acks == "all"
    assert kafka.kafka_consumer("staging").isolation_level == "read_committed"
    assert contracts.node("message_aggregator").batching("prod").batch_size == 2000
    assert contracts.node("infrastructure_orchestrator").workflow_runtime("stg").shutdown_grace_seconds == 20
    assert postgres.circuit_breaker("live").failure_threshold == 5


def test_a_section_the_node_lacks_is_a_contract_error(contracts: ContractSet) -> None:
    with pytest.raises(ContractError, match=r"environment_config\.postgres_pool"):
        contracts.node("kafka_adapter").postgres_pool("production")


def test_operations_have_ordered_parameters_and_a_schema(contracts: ContractSet) -> None:
    postgres = contracts.node("postgres_adapter")
    op = postgres.operation("list_events_by_correlation")
    assert op.read_only and op.exposed
    assert op.parameter_names == ("correlation_id", "limit")
    assert op.parameters_schema["required"] == ["correlation_id"]
    assert op.parameters_schema["additionalProperties"] is False
    assert postgres.find_operation("drop_everything") is None
    with pytest.raises(KeyError):
        postgres.operation("drop_everything")
    writes = {o.name for o in postgres.operations if not o.read_only}
    assert writes == {"requeue_dead_letter_outbox", "enqueue_outbox_event"}


def test_workflows_name_real_nodes_and_operations(contracts: ContractSet) -> None:
    assert [(w.name, w.trigger) for w in contracts.workflows] == [
        ("event_store", "records"),
        ("operations", "records"),
        ("outbox_relay", "repeat"),
        ("infrastructure_state", "interval"),
    ]
    for workflow in contracts.workflows:
        for step in workflow.steps:
            assert step.operation in contracts.node(step.node).step_operations
    assert contracts.topics_for_use("reply") == (
        "onex.evt.postgres.operation-completed.v1",
        "onex.evt.postgres.operation-failed.v1",
    )


def test_topics_and_dead_letter_rule(contracts: ContractSet) -> None:
    assert "onex.cmd.postgres.operation.v1" in contracts.consumed_topics
    assert "onex.evt.infrastructure.state-changed.v1" in contracts.published_topics
    assert not any(t.endswith(".dlq") for t in contracts.declared_topics)
    assert (
        contracts.dead_letter_topic("onex.cmd.postgres.operation.v1") == "onex.cmd.postgres.operation.v1.dlq"
    )
    contracts.require_declared(("onex.evt.postgres.operation-failed.v1",), "test")
    with pytest.raises(ContractError, match=r"onex\.evt\.orders\.placed\.v1"):
        contracts.require_declared(("onex.evt.orders.placed.v1",), "ONEX_EVENT_STORE_TOPICS")


def test_core_document_is_what_core_accepts(contracts: ContractSet) -> None:
    from omnibase_infra.contract_validation.core_validation import validate_core

    for node in contracts.nodes:
        core = validate_core(node.core_document(), node.document.node_type)
        assert getattr(core, "name", None) == node.name
        assert "environment_config" not in node.core_document()


def test_check_without_core_models_reports_it() -> None:
    report, contract_set = check_contracts([], validate_core=False)
    assert report.valid and contract_set is not None
    assert not report.core_validation and not report.class_validation


def test_one_scan_of_the_installed_entry_points_serves_discovery_and_the_class_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    from omnibase_infra.contract_validation import discovery
    from omnibase_infra.registry import entry_points as registry_entry_points

    scans: list[str] = []

    def counted(**selection: str) -> metadata.EntryPoints:
        scans.append(selection.get("group", ""))
        return metadata.entry_points(**selection)

    monkeypatch.setattr(discovery, "entry_points", counted)
    monkeypatch.setattr(registry_entry_points, "entry_points", counted)
    report, contract_set = check_contracts([], validate_core=False, check_classes=True)
    assert report.valid and report.class_validation and contract_set is not None
    assert scans == ["onex.nodes"]
