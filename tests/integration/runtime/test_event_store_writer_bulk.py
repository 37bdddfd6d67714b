"""write_events against the real server, on each of its paths: one statement (small batches),
COPY straight into the table (new rows), COPY via the staging table (rows already stored)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import COPY_THRESHOLD, write_events
from omnibase_infra.nodes.postgres_adapter.v1_0_0.migrations import migrate
from omnibase_infra.workflow.records import SourceRecord, StoredEvent, timestamp_text

TOPIC = "onex.evt.test.bulk.v1"


def rows(count: int, *, start: int = 0, bad: set[int] | None = None) -> list[StoredEvent]:
    out = []
    for i in range(start, start + count):
        payload = "{not json" if bad and i in bad else f'{{"n": {i}}}'
        source = SourceRecord(TOPIC, 0, i, None, b"raw", ())
        out.append(
            StoredEvent(
                str(uuid.uuid4()),
                TOPIC,
                0,
                i,
                "test.bulk",
                None,
                timestamp_text(datetime.now(UTC)),
                payload,
                '{"tags": {}}',
                source,
            )
        )
    return out


@pytest.fixture
async def conn(db: asyncpg.Connection, pg_schema: str) -> asyncpg.Connection:
    await migrate(db, pg_schema)
    return db


@pytest.mark.parametrize("expect_duplicates", [False, True])
@pytest.mark.parametrize("count", [COPY_THRESHOLD - 1, COPY_THRESHOLD, 3 * COPY_THRESHOLD])
async def test_a_batch_is_stored_once_and_a_redelivery_adds_nothing(
    conn: asyncpg.Connection, count: int, expect_duplicates: bool
) -> None:
    batch = rows(count)

    first = await write_events(conn, batch, expect_duplicates=expect_duplicates)
    again = await write_events(conn, batch, expect_duplicates=expect_duplicates)

    assert (first.inserted, first.duplicates, first.rejected) == (count, 0, ())
    assert (again.inserted, again.duplicates, again.rejected) == (0, count, ())
    stored = await conn.fetch('SELECT "offset", payload FROM onex_event_store ORDER BY "offset"')
    assert [r["offset"] for r in stored] == list(range(count))
    assert stored[-1]["payload"] == f'{{"n": {count - 1}}}'


async def test_duplicates_inside_one_copied_batch_are_stored_once(conn: asyncpg.Connection) -> None:
    batch = rows(2 * COPY_THRESHOLD)
    batch += batch[:10]

    result = await write_events(conn, batch)

    assert (result.inserted, result.duplicates) == (2 * COPY_THRESHOLD, 10)


@pytest.mark.parametrize("count", [COPY_THRESHOLD - 1, 2 * COPY_THRESHOLD])
async def test_poison_rows_are_isolated_and_the_rest_is_stored(conn: asyncpg.Connection, count: int) -> None:
    batch = rows(count, bad={3, count - 1})

    result = await write_events(conn, batch)

    assert result.inserted == count - 2
    assert sorted(row.offset for row, _ in result.rejected) == [3, count - 1]
    assert all(error.poison_class.startswith("SQLSTATE 22") for _, error in result.rejected)
    assert await conn.fetchval("SELECT count(*) FROM onex_event_store") == count - 2


async def test_the_staging_table_is_empty_after_each_batch(conn: asyncpg.Connection) -> None:
    await write_events(conn, rows(2 * COPY_THRESHOLD), expect_duplicates=True)
    await write_events(conn, rows(2 * COPY_THRESHOLD, start=1000), expect_duplicates=True)

    assert await conn.fetchval("SELECT count(*) FROM pg_temp.onex_event_store_stage") == 0
    assert await conn.fetchval("SELECT count(*) FROM onex_event_store") == 4 * COPY_THRESHOLD


async def _staging_table_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass('pg_temp.onex_event_store_stage') IS NOT NULL"))


async def test_new_rows_are_copied_straight_into_the_table(conn: asyncpg.Connection) -> None:
    result = await write_events(conn, rows(2 * COPY_THRESHOLD))

    assert (result.inserted, result.duplicates) == (2 * COPY_THRESHOLD, 0)
    assert not await _staging_table_exists(conn)


@pytest.mark.parametrize("expect_duplicates", [False, True])
async def test_a_batch_overlapping_stored_rows_adds_only_the_new_ones(
    conn: asyncpg.Connection, expect_duplicates: bool
) -> None:
    stored = rows(2 * COPY_THRESHOLD)
    await write_events(conn, stored)
    fresh = rows(COPY_THRESHOLD, start=5000)
    overlapping = stored[COPY_THRESHOLD:] + fresh

    result = await write_events(conn, overlapping, expect_duplicates=expect_duplicates)

    assert (result.inserted, result.duplicates, result.rejected) == (COPY_THRESHOLD, COPY_THRESHOLD, ())
    assert await _staging_table_exists(conn)
    stored_rows = await conn.fetch('SELECT "offset" FROM onex_event_store ORDER BY "offset"')
    offsets = [r["offset"] for r in stored_rows]
    assert offsets == list(range(2 * COPY_THRESHOLD)) + list(range(5000, 5000 + COPY_THRESHOLD))
