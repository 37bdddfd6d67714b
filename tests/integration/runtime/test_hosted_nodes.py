"""The nodes hosted in the container (loaded through the registry) do real work against the real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from service_harness import consume_all

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.errors import TopicNotAllowedError
from omnibase_infra.models.model_consumed_record import ModelConsumedRecord
from omnibase_infra.nodes.kafka_adapter.v1_0_0.models import (
    ModelDeadLetterRequest,
    ModelKafkaAdapterInput,
    ModelOutgoingRecord,
    ModelPublishRequest,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelEventStoreWriteRequest,
    ModelHealthCheckRequest,
    ModelOperationRequest,
    ModelPostgresAdapterInput,
)
from omnibase_infra.runtime.node_host import HostedNodes
from omnibase_infra.runtime.service_components import ServiceComponents, host_components
from omnibase_infra.settings import load_settings


@pytest.fixture
async def hosted(
    pg_schema: str, unique_topic: Callable[..., Awaitable[str]]
) -> AsyncIterator[tuple[ServiceComponents, HostedNodes]]:
    store = await unique_topic(1)
    environ = {
        **os.environ,
        "POSTGRES_SCHEMA": pg_schema,
        "ENVIRONMENT": "development",
        "ONEX_EVENT_STORE_TOPICS": store,
        "ONEX_OUTBOX_TOPICS": store,
    }
    settings = load_settings(environ)
    components = await host_components(settings, load_contract_set())
    await components.database.start()
    async with components.database.acquire_connection() as conn:
        await migrations.migrate(conn, pg_schema)
    await components.nodes.kafka_adapter.start()
    try:
        yield components, components.nodes
    finally:
        await components.nodes.kafka_adapter.stop()
        await components.nodes.postgres_adapter.stop()


def _record(topic: str, offset: int) -> ModelConsumedRecord:
    return ModelConsumedRecord(
        topic=topic, partition=0, offset=offset, envelope_id=uuid.uuid4(), payload={"n": offset}
    )


async def test_postgres_adapter_node_writes_batches_runs_operations_and_checks_health(
    hosted: tuple[ServiceComponents, HostedNodes],
) -> None:
    _, nodes = hosted
    records = tuple(_record("onex.evt.test.nodes.v1", i) for i in range(3))
    write = ModelPostgresAdapterInput(request=ModelEventStoreWriteRequest(records=records))
    first = (await nodes.postgres_adapter.execute(write)).result
    again = (await nodes.postgres_adapter.execute(write)).result
    assert (first.stored, first.duplicates) == (3, 0)  # type: ignore[union-attr]
    assert (again.stored, again.duplicates) == (0, 3)  # type: ignore[union-attr]

    count = ModelOperationRequest(operation="count_events_by_type", request_envelope_id=uuid.uuid4())
    result = (await nodes.postgres_adapter.execute(ModelPostgresAdapterInput(request=count))).result
    assert result.status == "completed"  # type: ignore[union-attr]
    assert result.rows[0]["events"] == 3  # type: ignore[union-attr]

    bogus = ModelOperationRequest(operation="drop_everything", request_envelope_id=uuid.uuid4())
    failed = (await nodes.postgres_adapter.execute(ModelPostgresAdapterInput(request=bogus))).result
    assert failed.status == "failed"  # type: ignore[union-attr]
    assert failed.failure.error_kind == "unknown_operation"  # type: ignore[union-attr]

    health = ModelPostgresAdapterInput(request=ModelHealthCheckRequest())
    checked = (await nodes.postgres_adapter.execute(health)).result
    assert checked.health.status == "healthy"  # type: ignore[union-attr]


async def test_kafka_adapter_node_publishes_and_dead_letters_with_acknowledgement(
    hosted: tuple[ServiceComponents, HostedNodes],
    kafka_bootstrap: str,
    unique_topic: Callable[..., Awaitable[str]],
) -> None:
    components, nodes = hosted
    # Consumed (its DLQ is allowed) and a relay topic (a generic publish is allowed).
    topic = components.topology.event_store_topics[0]
    publish = ModelPublishRequest(
        records=(ModelOutgoingRecord(topic=topic, key=b"k", value=b"v1", headers=(("h", b"1"),)),)
    )
    published = (await nodes.kafka_adapter.execute(ModelKafkaAdapterInput(request=publish))).result
    assert published.acknowledged[0].offset == 0  # type: ignore[union-attr]
    dead = ModelDeadLetterRequest(
        source_topic=topic,
        partition=0,
        offset=7,
        stage="validate",
        error_class="ValidationError",
        message="bad",
        attempts=1,
        value=b"oops",
    )
    parked = (await nodes.kafka_adapter.execute(ModelKafkaAdapterInput(request=dead))).result
    assert parked.acknowledged.topic == topic + ".dlq"  # type: ignore[union-attr]
    stranger = await unique_topic(1)
    with pytest.raises(TopicNotAllowedError, match=r"\.dlq is not allowed for dead_letter"):
        refused = dead.model_copy(update={"source_topic": stranger})
        await nodes.kafka_adapter.execute(ModelKafkaAdapterInput(request=refused))
    with pytest.raises(TopicNotAllowedError, match=f"topic {stranger} is not allowed for publish"):
        refused_publish = ModelPublishRequest(records=(ModelOutgoingRecord(topic=stranger, value=b"x"),))
        await nodes.kafka_adapter.execute(ModelKafkaAdapterInput(request=refused_publish))
    assert await consume_all(kafka_bootstrap, stranger, expect=1, within=3) == []
    on_topic = await consume_all(kafka_bootstrap, topic, expect=1, within=20)
    assert [r.value for r in on_topic] == [b"v1"]  # type: ignore[attr-defined]
    on_dlq = await consume_all(kafka_bootstrap, topic + ".dlq", expect=1, within=20)
    headers = dict(on_dlq[0].headers)  # type: ignore[attr-defined]
    assert headers["onex.dlq.original.offset"] == b"7"
    assert headers["onex.dlq.stage"] == b"validate"
