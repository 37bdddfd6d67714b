"""The resilience core against the real PostgreSQL and Kafka, with no fault injected."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]  # aiokafka is untyped
from conftest import read_topic  # tests/integration/infrastructure/conftest.py

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import LifecycleError, PoisonRecordError
from omnibase_infra.infrastructure.error_classification import classify_error, is_poison
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import DeadLetteredEvent, OutboundEvent
from omnibase_infra.infrastructure.infrastructure_health_monitor import InfrastructureHealthMonitor
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.infrastructure.outbox_spill import (
    PostgresOutboxSpill,
    create_outbox_table,
    decode_headers,
)
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

if TYPE_CHECKING:
    from tests.integration.conftest import TopicFactory


async def test_postgres_manager_queries_and_counts(
    pg_manager: PostgresConnectionManager, pg_schema: str
) -> None:
    await pg_manager.execute("CREATE TABLE items (id int PRIMARY KEY, body text NOT NULL)")
    await pg_manager.executemany("INSERT INTO items VALUES ($1, $2)", [(1, "a"), (2, "b")])
    await pg_manager.copy_records_to_table("items", records=[(3, "c"), (4, "d")], schema_name=pg_schema)
    assert await pg_manager.fetchval("SELECT count(*) FROM items") == 4
    row = await pg_manager.fetchrow("SELECT body FROM items WHERE id = $1", 3)
    assert row is not None and row["body"] == "c"
    assert [r["id"] for r in await pg_manager.fetch("SELECT id FROM items ORDER BY id")] == [1, 2, 3, 4]

    with pytest.raises(asyncpg.UniqueViolationError) as raised:  # poison passes through unchanged
        await pg_manager.execute("INSERT INTO items VALUES (1, 'again')")
    assert is_poison(raised.value)

    stats = pg_manager.get_connection_stats()
    assert stats.query_count == 7  # every helper call, the failed one included
    assert stats.failed_queries == 1
    assert stats.failed_connections == 0
    assert stats.total_connections >= 2
    assert stats.average_response_time_ms > 0


async def test_postgres_health_reports_the_seeds_shape(
    pg_manager: PostgresConnectionManager, pg_config: ModelPostgresConnectionConfig
) -> None:
    health = await pg_manager.health_check()
    assert health.status == "healthy", health.error
    assert health.database_info is not None
    assert health.database_info.version.startswith("PostgreSQL")
    assert health.database_info.current_schema == pg_config.schema_name
    assert health.database_info.active_connections >= 1
    assert (health.connection_pool.min_size, health.connection_pool.max_size) == (2, 5)
    assert health.connection_pool.size >= 2


async def test_postgres_manager_lifecycle(pg_config: ModelPostgresConnectionConfig) -> None:
    manager = PostgresConnectionManager(pg_config)
    async with manager:
        await manager.start()
        assert await manager.fetchval("SELECT 1") == 1
    await manager.stop()
    with pytest.raises(LifecycleError):
        await manager.fetchval("SELECT 1")


async def test_outbox_spill_and_drain_round_trip(
    pg_manager: PostgresConnectionManager, pg_schema: str
) -> None:
    await create_outbox_table(pg_manager, pg_schema)
    outbox = PostgresOutboxSpill(pg_manager, schema=pg_schema)
    spilled = [
        OutboundEvent(
            "onex.evt.test.a.v1", f"v{i}".encode(), b"k" if i % 2 else None, (("traceparent", b"00-ab"),)
        )
        for i in range(5)
    ]
    await outbox.spill(spilled)
    assert await outbox.pending_count() == 5
    row = await pg_manager.fetchrow(
        "SELECT status, attempts, headers::text AS h FROM onex_outbox ORDER BY id LIMIT 1"
    )
    assert row is not None and (row["status"], row["attempts"]) == ("pending", 0)

    published: list[OutboundEvent] = []

    async def publish(event: OutboundEvent) -> None:
        published.append(event)

    report = await outbox.drain(publish, max_attempts=3, park=None)
    assert (report.recovered, report.remaining, report.stopped) == (5, 0, "drained")
    assert published == spilled
    statuses = await pg_manager.fetch("SELECT status, published_at FROM onex_outbox")
    assert {r["status"] for r in statuses} == {"published"}
    assert all(r["published_at"] is not None for r in statuses)


async def test_outbox_spill_reports_its_backlog_and_parks_dead_letters_as_rows(
    pg_manager: PostgresConnectionManager, pg_schema: str
) -> None:
    await create_outbox_table(pg_manager, pg_schema)
    outbox = PostgresOutboxSpill(pg_manager, schema=pg_schema)
    state, app = "onex.evt.test.state.v1", "onex.evt.test.app.v1"
    assert not await outbox.has_pending([state])
    await outbox.spill([OutboundEvent(state, f"s{i}".encode(), b"postgres") for i in range(3)])
    await pg_manager.execute("INSERT INTO onex_outbox (topic, payload) VALUES ($1, 'x')", app)
    rows = await pg_manager.fetch("SELECT id, payload FROM onex_outbox ORDER BY id")
    ids = [r["id"] for r in rows]
    assert [bytes(r["payload"]) for r in rows][:3] == [b"s0", b"s1", b"s2"], "in event order"

    assert await outbox.has_pending([state])
    assert not await outbox.has_pending([app, "other"]), "an application's row is not the service's backlog"
    assert not await outbox.has_pending(["onex.evt.test.other.v1"]) and not await outbox.has_pending([])
    await pg_manager.execute(
        "UPDATE onex_outbox SET status = 'published' WHERE id = ANY($1::bigint[])", ids[:2]
    )
    assert await outbox.has_pending([state]), "one row of the topic is still pending"
    await pg_manager.execute("UPDATE onex_outbox SET status = 'dead_letter' WHERE id = $1", ids[2])
    assert not await outbox.has_pending([state])
    assert not await outbox.has_pending([app])

    parked = DeadLetteredEvent(
        event=OutboundEvent("onex.evt.test.state.v1", b"too big", b"kafka", (("h", b"v"),)),
        attempts=3,
        error_class="poison",
        error_message="RecordTooLarge",
        classification=classify_error(PoisonRecordError("kafka_send", "RecordTooLarge", "too big")),
        parked_at=FakeClock().now(),
    )
    await outbox.park(parked)
    row = await pg_manager.fetchrow(
        "SELECT topic, key, payload, status, attempts, last_error, headers::text AS h FROM onex_outbox "
        "WHERE payload = 'too big'"
    )
    assert row is not None
    assert (row["topic"], bytes(row["key"]), row["status"], row["attempts"]) == (
        "onex.evt.test.state.v1",
        b"kafka",
        "dead_letter",
        3,
    )
    assert row["last_error"] == "poison: RecordTooLarge"
    assert decode_headers(row["h"]) == (("h", b"v"),)


async def test_producer_pool_sends_and_reports(
    kafka_config: ModelKafkaProducerConfig, unique_topic: TopicFactory
) -> None:
    topic = await unique_topic(partitions=3)
    pool = KafkaProducerPool(kafka_config, name="it-pool")
    async with pool:
        partition, offset = await pool.send(topic, b"first", key=b"k1", headers=[("h", b"1")])
        assert partition in (0, 1, 2) and offset >= 0
        batch = [OutboundEvent(topic, f"b{i}".encode(), f"k{i % 3}".encode()) for i in range(50)]
        outcomes = await pool.send_batch(batch)
        assert all(isinstance(o, tuple) for o in outcomes)
        stats = pool.get_pool_stats()
        assert (stats.total_messages_sent, stats.total_messages_failed) == (51, 0)
        assert stats.total_bytes_sent == len(b"first") + 2 + sum(
            len(e.value) + len(e.key or b"") for e in batch
        )
        assert stats.average_response_time_ms > 0
        assert stats.average_throughput_mps > 0
        health = await pool.health_check()
        assert (health.status, health.brokers_reachable) == ("healthy", True), health.error
    records = await read_topic(kafka_config.bootstrap_servers, topic, 3)
    assert sorted(value for _, _, value in records) == sorted([b"first", *(e.value for e in batch)])


async def test_a_lane_puts_each_key_where_aiokafka_would_in_order(
    kafka_config: ModelKafkaProducerConfig, unique_topic: TopicFactory
) -> None:
    """A lane's own partition choice is aiokafka's DefaultPartitioner's, and each key keeps its order.

    Small batches (``batch_size`` 1,024) make every partition take several batches in a row."""
    topic = await unique_topic(partitions=3)
    pool = KafkaProducerPool(kafka_config.model_copy(update={"batch_size": 1024}), name="it-lane")
    records = [
        OutboundEvent(topic, f"value-{i:04d}".encode() * 8, f"key-{i % 40}".encode()) for i in range(600)
    ]
    async with pool:
        async with pool.lane() as lane:
            deliveries = [await lane.enqueue(record) for record in records]
            with pytest.raises(PoisonRecordError, match="MessageSizeTooLarge"):
                await lane.enqueue(OutboundEvent(topic, b"x" * (kafka_config.max_request_size + 1), b"key-0"))
            lane.send_buffered()
            acks = [await delivery.ack() for delivery in deliveries]
        stats = pool.get_pool_stats()
    assert (stats.total_messages_sent, stats.total_messages_failed) == (600, 1)
    choose = DefaultPartitioner()
    assert [partition for partition, _ in acks] == [choose(r.key, [0, 1, 2], [0, 1, 2]) for r in records]
    on_topic = await read_topic(kafka_config.bootstrap_servers, topic, 3)
    for key in {record.key for record in records}:
        sent = [record.value for record in records if record.key == key]
        assert [value for _, k, value in on_topic if k == key] == sent
        offsets = [offset for (_, offset), record in zip(acks, records, strict=True) if record.key == key]
        assert offsets == sorted(offsets)


async def test_publisher_and_monitor_over_real_servers(
    kafka_config: ModelKafkaProducerConfig,
    unique_topic: TopicFactory,
    pg_manager: PostgresConnectionManager,
) -> None:
    topic = await unique_topic(partitions=1)
    breaker = EventBusCircuitBreaker("kafka", DEVELOPMENT_DEFAULT, clock=FakeClock())
    async with KafkaProducerPool(kafka_config) as pool:
        publisher = ResilientPublisher(pool, breaker)
        async with publisher:
            outcomes = [await publisher.publish(OutboundEvent(topic, f"e{i}".encode())) for i in range(10)]
        assert {o.status for o in outcomes} == {"published"}
        monitor = InfrastructureHealthMonitor(
            postgres=pg_manager, kafka=pool, breakers=[breaker], environment="development"
        )
        metrics = await monitor.sample_once()
    assert metrics.overall_status == "healthy", metrics
    assert metrics.total_messages_processed == 10
    assert metrics.circuit_breaker_success_rate == 1.0
    records = await read_topic(kafka_config.bootstrap_servers, topic, 1)
    assert [value for _, _, value in records] == [f"e{i}".encode() for i in range(10)]
