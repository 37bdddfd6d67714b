"""A large event-store batch split over ``postgres_pool.write_connections``, on the real server.

Each part is its own transaction: the rows of a split batch carry as many distinct ``xmin``
(the id of the transaction that wrote them) as there were parts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.models.model_consumed_record import ModelConsumedRecord
from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import ROWS_PER_WRITE_CONNECTION
from omnibase_infra.nodes.postgres_adapter.v1_0_0.models import (
    ModelEventStoreWriteRequest,
    ModelEventStoreWriteResult,
    ModelPostgresAdapterInput,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
from omnibase_infra.runtime.service_components import host_components
from omnibase_infra.settings import load_settings

TOPIC = "onex.evt.test.split-writes.v1"
SPLIT = 2 * ROWS_PER_WRITE_CONNECTION + 100


@pytest.fixture
async def postgres(
    pg_schema: str, unique_topic: Callable[..., Awaitable[str]]
) -> AsyncIterator[NodePostgresAdapterEffect]:
    store = await unique_topic(1)
    environ = {
        **os.environ,
        "POSTGRES_SCHEMA": pg_schema,
        "ENVIRONMENT": "development",
        "POSTGRES_MIN_CONNECTIONS": "3",  # parts go only to connections idle in the pool
        "ONEX_EVENT_STORE_TOPICS": store,
        "ONEX_OUTBOX_TOPICS": store,
    }
    components = await host_components(load_settings(environ), load_contract_set())
    await components.database.start()
    async with components.database.acquire_connection() as conn:
        await migrations.migrate(conn, pg_schema)
    node = components.nodes.postgres_adapter
    try:
        yield node
    finally:
        await node.stop()


def records(
    first: int, count: int, payload: dict[str, object] | None = None
) -> tuple[ModelConsumedRecord, ...]:
    return tuple(
        ModelConsumedRecord(
            topic=TOPIC, partition=0, offset=n, envelope_id=uuid.UUID(int=n + 1), payload=payload or {"n": n}
        )
        for n in range(first, first + count)
    )


async def write(node: NodePostgresAdapterEffect, batch: tuple[ModelConsumedRecord, ...]) -> tuple[int, int]:
    output = await node.execute(ModelPostgresAdapterInput(request=ModelEventStoreWriteRequest(records=batch)))
    result = output.result
    assert isinstance(result, ModelEventStoreWriteResult)
    return result.stored, result.duplicates


async def stored(postgres_dsn: str, pg_schema: str) -> tuple[int, int]:
    """(rows, distinct writing transactions) in the schema's event store."""
    conn = await asyncpg.connect(postgres_dsn, server_settings={"search_path": pg_schema})
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT xmin::text) AS tx FROM onex_event_store"
        )
        assert row is not None
        return row["n"], row["tx"]
    finally:
        await conn.close()


@pytest.mark.parametrize(("connections", "transactions"), [(1, 1), (2, 2), (3, 2)])
async def test_a_large_batch_is_written_in_one_transaction_per_part(
    postgres: NodePostgresAdapterEffect,
    postgres_dsn: str,
    pg_schema: str,
    connections: int,
    transactions: int,
) -> None:
    """Three connections but too few rows for three parts of the minimum size: two parts."""
    postgres.resources.write_connections = connections

    assert await write(postgres, records(0, SPLIT)) == (SPLIT, 0)

    assert await stored(postgres_dsn, pg_schema) == (SPLIT, transactions)


async def test_a_split_batch_whose_part_was_stored_before_adds_only_the_rest(
    postgres: NodePostgresAdapterEffect, postgres_dsn: str, pg_schema: str
) -> None:
    """A redelivery after one part committed and the other failed: the stored part is duplicates."""
    postgres.resources.write_connections = 2
    second_half = SPLIT // 2 + SPLIT % 2
    assert await write(postgres, records(SPLIT - second_half, second_half)) == (second_half, 0)

    assert await write(postgres, records(0, SPLIT)) == (SPLIT - second_half, second_half)
    assert (await stored(postgres_dsn, pg_schema))[0] == SPLIT
    assert await write(postgres, records(0, SPLIT)) == (0, SPLIT)  # both parts through the staging path


async def test_a_poison_row_in_one_part_is_isolated_and_every_other_row_is_stored(
    postgres: NodePostgresAdapterEffect, postgres_dsn: str, pg_schema: str
) -> None:
    postgres.resources.write_connections = 2
    batch = list(records(0, SPLIT))
    # jsonb refuses the NUL character (SQLSTATE 22P05): a data error, so the row is poison.
    batch[SPLIT - 3] = records(SPLIT - 3, 1, {"text": "nul \u0000 here"})[0]

    assert await write(postgres, tuple(batch)) == (SPLIT - 1, 0)
    assert (await stored(postgres_dsn, pg_schema))[0] == SPLIT - 1
