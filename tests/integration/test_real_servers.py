"""The real servers answer: PostgreSQL through asyncpg, Kafka through aiokafka."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

if TYPE_CHECKING:
    from conftest import TopicFactory

RECORDS = 30


async def test_postgres_round_trip(postgres_dsn: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        version = await conn.fetchval("SELECT version()")
        assert "PostgreSQL" in version
        assert await conn.fetchval("SELECT current_user") == "onex"
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")

        await conn.execute(f'CREATE TABLE "{pg_schema}".items (id int PRIMARY KEY, body text)')
        await conn.executemany(
            f'INSERT INTO "{pg_schema}".items (id, body) VALUES ($1, $2)', [(1, "a"), (2, "b")]
        )
        rows = await conn.fetch(f'SELECT id, body FROM "{pg_schema}".items ORDER BY id')
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b")]
    finally:
        await conn.close()


async def test_produce_consume_commit_through_consumer_group(
    kafka_bootstrap: str, unique_topic: TopicFactory
) -> None:
    topic = await unique_topic(partitions=3)
    sent: dict[TopicPartition, list[tuple[int, bytes]]] = {}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(RECORDS):
            value = f"value-{i}".encode()
            meta = await producer.send_and_wait(topic, value=value, key=f"key-{i % 7}".encode())
            sent.setdefault(TopicPartition(meta.topic, meta.partition), []).append((meta.offset, value))
    finally:
        await producer.stop()

    group = f"onex-test-{uuid.uuid4().hex[:8]}"
    received: dict[TopicPartition, list[tuple[int, bytes]]] = {}
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while sum(len(records) for records in received.values()) < RECORDS:
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    received.setdefault(tp, []).extend(
                        (record.offset, record.value or b"") for record in records
                    )
        await consumer.commit()
        for tp, records in sent.items():
            assert await consumer.committed(tp) == records[-1][0] + 1
    finally:
        await consumer.stop()

    # Same records, same order within each partition.
    assert received == sent

    # The offsets live in the broker: another member of the group reads them back.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await reader.start()
    try:
        for tp, records in sent.items():
            assert await reader.committed(tp) == records[-1][0] + 1
    finally:
        await reader.stop()


async def test_admin_client_creates_topic(kafka_bootstrap: str, unique_topic: TopicFactory) -> None:
    topic = await unique_topic(partitions=4)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert topic in await admin.list_topics()
        [description] = await admin.describe_topics([topic])
        assert description["topic"] == topic
        assert description["error_code"] == 0
        assert len(description["partitions"]) == 4
    finally:
        await admin.close()
