"""The five node classes bind to their validated contract through the container.

No node pretends: the effect nodes carry out typed requests themselves (no handler
behind them); core's generic ``process`` is refused where it cannot apply.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from omnibase_core.enums.enum_reducer_types import EnumReductionType
from omnibase_core.models.compute.model_compute_input import ModelComputeInput
from omnibase_core.models.reducer.model_reducer_input import ModelReducerInput

from omnibase_infra.container import build_container
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.errors import LifecycleError, UnsupportedRequestError
from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.models.model_infrastructure_state import ModelComponentSample, ModelHealthSummary
from omnibase_infra.nodes.infrastructure_orchestrator.v1_0_0.models import ModelRouteRequest
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
from omnibase_infra.settings import load_settings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


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


async def test_effect_node_answers_a_typed_request_itself(contracts: ContractSet) -> None:
    settings = load_settings(
        {
            "ENVIRONMENT": "development",
            "POSTGRES_HOST": "db",
            "POSTGRES_DATABASE": "onex",
            "POSTGRES_USER": "onex",
            "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        }
    )
    node = NodePostgresAdapterEffect(await build_container(contracts, settings=settings))
    with pytest.raises(LifecycleError, match="initialize"):
        await node.execute(ModelPostgresAdapterInput(request=ModelHealthCheckRequest()))
    await node.initialize()

    output = await node.execute(ModelPostgresAdapterInput(request=ModelHealthCheckRequest()))

    # Its own pool, not started here: the health check says so instead of raising.
    assert isinstance(output.result, ModelHealthCheckResult)
    assert output.result.health.status == "unhealthy"
    assert output.result.health.error == "connection manager not started"


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


async def test_orchestrator_routes_and_refuses_core_process(contracts: ContractSet) -> None:
    node = NodeInfrastructureOrchestrator(
        await build_container(contracts, environment=EnumEnvironment.PRODUCTION)
    )
    await node.initialize()
    plan = node.route(
        ModelRouteRequest(topic="onex.evt.infrastructure.event-store.v1", envelope_id=uuid.uuid4())
    )
    assert [w.name for w in plan.workflows] == ["event_store"]
    with pytest.raises(UnsupportedRequestError):
        await node.process(None)  # type: ignore[arg-type]  # refused before the input is read
