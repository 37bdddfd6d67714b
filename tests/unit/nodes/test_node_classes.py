"""The node classes bind to their validated contract through the container.

No node pretends: the effect nodes do their own work, built from their contract and the
settings in the container, and refuse to initialise without settings; the orchestrator
binds every workflow step to the operation of the node it names; core's generic
``process`` is refused where it cannot apply.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from omnibase_core.enums.enum_reducer_types import EnumReductionType
from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput

from omnibase_infra.container import build_container
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import ConfigurationError, LifecycleError, UnsupportedRequestError
from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.models.model_infrastructure_state import ModelComponentSample, ModelHealthSummary
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.node import NodeInfrastructureOrchestrator
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.node import NodeInfrastructureReducer
from omnibase_infra.nodes.message_aggregator.v1_0_0.models import (
    ModelBatchEnvelopesRequest,
    ModelBatchPlan,
    ModelHealthSummaryResult,
    ModelMessageAggregatorInput,
    ModelSummariseHealthRequest,
)
from omnibase_infra.nodes.message_aggregator.v1_0_0.node import NodeMessageAggregatorCompute
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelHealthCheckRequest,
    ModelHealthCheckResult,
    ModelPostgresAdapterInput,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
from omnibase_infra.registry.entry_points import discover_nodes
from omnibase_infra.runtime.node_host import NodeDirectory
from omnibase_infra.settings import load_settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS_ENV = {
    "POSTGRES_HOST": "db.example",
    "POSTGRES_DATABASE": "onex",
    "POSTGRES_USER": "onex_app",
    "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
}


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set()


async def test_contract_data_is_our_validated_contract(contracts: ContractSet) -> None:
    container = await build_container(contracts, environment=EnumEnvironment.STAGING)
    node = NodeMessageAggregatorCompute(container)
    with pytest.raises(LifecycleError, match="initialize"):
        _ = node.binding
    await node.initialize()
    assert type(node.contract_data).__name__ == "ModelContractCompute"
    assert getattr(node.contract_data, "name", None) == "message_aggregator"
    assert node.binding.environment is EnumEnvironment.STAGING


async def test_effect_node_does_its_own_work_from_its_contract_and_the_settings(
    contracts: ContractSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without settings in the container the node reads the process environment (a node used on
    # its own): clear what scripts/test exports for the integration tests.
    for name in [n for n in os.environ if n.startswith(("POSTGRES_", "KAFKA_"))]:
        monkeypatch.delenv(name)
    bare = NodePostgresAdapterEffect(
        await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    )
    with pytest.raises(ConfigurationError, match="POSTGRES_HOST"):
        await bare.initialize()  # no settings in the container: nothing to connect to

    settings = load_settings({**SETTINGS_ENV, "ENVIRONMENT": "development"})
    node = NodePostgresAdapterEffect(await build_container(contracts, settings=settings))
    await node.initialize()
    resources = node.resources
    assert resources.database.config.host == "db.example"
    breaker = contracts.node("postgres_adapter").circuit_breaker(EnumEnvironment.DEVELOPMENT)
    assert resources.breaker.config.failure_threshold == breaker.failure_threshold
    request = ModelPostgresAdapterInput(request=ModelHealthCheckRequest())
    output = await node.execute(request)  # the node's own pool, never started: unhealthy, no I/O
    assert isinstance(output.result, ModelHealthCheckResult)
    assert output.result.health.status == "unhealthy"
    assert output.result.health.error == "connection manager not started"
    with pytest.raises(UnsupportedRequestError):
        await node.process(None)  # type: ignore[arg-type]  # refused before the input is read


async def test_aggregator_batches_with_the_environment_batch_size(contracts: ContractSet) -> None:
    node = NodeMessageAggregatorCompute(
        await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    )
    await node.initialize()
    records = [
        {
            "target": "event_store",
            "record": {
                "topic": "t",
                "partition": 0,
                "offset": i,
                "envelope_id": str(uuid.uuid4()),
                "payload": i,
            },
        }
        for i in range(120)
    ]
    request = ModelMessageAggregatorInput.model_validate(
        {"request": {"kind": "batch_envelopes", "records": records}}
    )
    assert isinstance(request.request, ModelBatchEnvelopesRequest)
    output = await node.process(ModelComputeInput[ModelMessageAggregatorInput](data=request))
    plan = output.result.result
    assert isinstance(plan, ModelBatchPlan)
    assert [len(b.records) for b in plan.batches] == [50, 50, 20]  # development batch_size 50

    metrics = InfrastructureHealthMetrics(
        overall_status="healthy",
        timestamp=NOW,
        environment="development",
        postgres_healthy=True,
        kafka_healthy=False,
        circuit_breaker_healthy=True,
        total_connections=0,
        total_messages_processed=0,
        total_events_queued=0,
        error_rate_percent=0,
        avg_db_response_time_ms=0,
        avg_kafka_throughput_mps=0,
        circuit_breaker_success_rate=1,
    )
    summary = node.aggregate(
        ModelMessageAggregatorInput(request=ModelSummariseHealthRequest(metrics=metrics))
    )
    assert isinstance(summary.result, ModelHealthSummaryResult)
    assert {s.component: s.status for s in summary.result.summary.samples} == {
        "postgres": "healthy",
        "kafka": "unhealthy",
    }


async def test_reducer_folds_into_its_held_state(contracts: ContractSet) -> None:
    node = NodeInfrastructureReducer(
        await build_container(contracts, environment=EnumEnvironment.DEVELOPMENT)
    )
    await node.initialize()

    def summary(status: str) -> ModelHealthSummary:
        sample = ModelComponentSample.model_validate(
            {"component": "kafka", "status": status, "observed_at": NOW}
        )
        return ModelHealthSummary(samples=(sample,), observed_at=NOW)

    first = await node.process(
        ModelReducerInput[ModelHealthSummary](
            data=[summary("healthy"), summary("unhealthy")], reduction_type=EnumReductionType.FOLD
        )
    )
    assert [(i.previous_status, i.status) for i in first.result.intents] == [
        (None, "healthy"),
        ("healthy", "unhealthy"),
    ]
    assert node.infrastructure_state.overall == "unhealthy"
    again = await node.process(
        ModelReducerInput[ModelHealthSummary](
            data=[summary("unhealthy")], reduction_type=EnumReductionType.FOLD
        )
    )
    assert again.result.intents == ()


def _node_class(loaded: type[object]) -> Any:
    """A node class as the registry loads it (constructed with the container)."""
    return loaded


async def test_orchestrator_binds_every_workflow_step_and_refuses_core_process(
    contracts: ContractSet,
) -> None:
    settings = load_settings({**SETTINGS_ENV, "ENVIRONMENT": "production"})
    container = await build_container(contracts, settings=settings)
    registry = discover_nodes(contracts).registry
    directory = NodeDirectory(
        {
            name: _node_class(registry.load_class(name))(container)
            for name in dict.fromkeys(step.node for w in contracts.workflows for step in w.steps)
        }
    )
    node = NodeInfrastructureOrchestrator(container)
    await node.initialize()
    assert node.scheduled() == ()  # no node directory registered: nothing compiled yet
    node.compile(directory)
    compiled = node.workflows

    assert [(w.name, w.trigger) for w in compiled] == [
        ("event_store", "records"),
        ("operations", "records"),
        ("outbox_relay", "repeat"),
        ("infrastructure_state", "interval"),
    ]
    assert [w.name for w in node.scheduled()] == ["outbox_relay", "infrastructure_state"]
    event_store = node.workflow("event_store")
    assert [(s.context.step_id, s.context.span_name) for s in event_store.steps] == [
        ("consume", "kafka_adapter.consume"),
        ("decode", "kafka_wrapper.decode_events"),
        ("fold", "message_aggregator.fold_duplicates"),
        ("store", "postgres_adapter.store_event_batch"),
        ("dead_letter", "kafka_adapter.publish_dead_letters"),
        ("commit", "kafka_adapter.commit_offsets"),
    ]
    assert event_store.consumes == (
        "onex.evt.infrastructure.event-store.v1",
        "onex.evt.infrastructure.state-changed.v1",
    )
    assert event_store.ahead == 3  # consume, then the two COMPUTE steps, run ahead of the effects
    store = event_store.steps[3]
    assert getattr(store.call, "__self__", None) is directory.node("postgres_adapter")  # a bound method
    assert getattr(store.call, "__name__", None) == "store_event_batch"
    with pytest.raises(LifecycleError, match="no compiled workflow 'nope'"):
        node.workflow("nope")

    del directory.by_name["kafka_wrapper"]
    with pytest.raises(LifecycleError, match="workflow event_store, step decode: node kafka_wrapper"):
        node.compile(directory)
    with pytest.raises(UnsupportedRequestError):
        await node.process(None)  # type: ignore[arg-type]  # refused before the input is read
