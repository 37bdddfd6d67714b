"""Configs and helpers for the resilience core against the real servers.

Builds on ``tests/integration/conftest.py`` (``pg_schema``, ``unique_topic``, ``pg_admin``).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f'environment variable {name} is not set; eval "$(scripts/services env)"', pytrace=False)
    return value


@pytest.fixture
def pg_config(pg_schema: str) -> ModelPostgresConnectionConfig:
    """The test server, with the per-test schema first on the search path."""
    return ModelPostgresConnectionConfig(
        host=_env("POSTGRES_HOST"),
        port=int(_env("POSTGRES_PORT")),
        database=_env("POSTGRES_DATABASE"),
        user=_env("POSTGRES_USER"),
        password=SecretStr(os.environ.get("POSTGRES_PASSWORD", "")),
        schema_name=pg_schema,
        min_connections=2,
        max_connections=5,
        command_timeout=10.0,
        connect_timeout=3.0,
    )


@pytest.fixture
async def pg_manager(pg_config: ModelPostgresConnectionConfig) -> AsyncIterator[PostgresConnectionManager]:
    manager = PostgresConnectionManager(pg_config, health_timeout_seconds=3.0)
    await manager.start()
    try:
        yield manager
    finally:
        await manager.stop()


@pytest.fixture
def kafka_config(kafka_bootstrap: str) -> ModelKafkaProducerConfig:
    """Short timeouts so that outage tests finish quickly (the producer gives up before a breaker)."""
    return ModelKafkaProducerConfig(
        bootstrap_servers=kafka_bootstrap,
        client_id="onex-infra-test",
        linger_ms=0,
        request_timeout_ms=2000,
        delivery_timeout_ms=3000,
        min_pool_size=1,
        max_pool_size=3,
    )


async def read_topic(
    bootstrap: str, topic: str, partitions: int, *, within: float = 20.0
) -> list[tuple[int, bytes | None, bytes]]:
    """Every record of ``topic`` from the beginning as ``(partition, key, value)``, in offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        records: list[tuple[int, bytes | None, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while [tp for tp in assigned if await consumer.position(tp) < end[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {within} s")
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                records.extend((r.partition, r.key, r.value) for r in tp_records)
        return records
    finally:
        await consumer.stop()


def duplicates(values: list[bytes]) -> dict[bytes, int]:
    return {value: count for value, count in Counter(values).items() if count > 1}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "outage: stops or kills a shared server; such tests run after every other test"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that take servers down last, so a slow recovery cannot disturb the others."""
    items.sort(key=lambda item: item.get_closest_marker("outage") is not None)
