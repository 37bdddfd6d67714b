"""The outbox relay's wake-up against the real server: migration 003's NOTIFY and the listener.

No timing is asserted: each wait is for a condition, bounded only so a broken build fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_listener import CHANNEL, OutboxListener


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), within)


class PoolSource:
    """``ProtocolConnectionSource`` over a plain asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn:
            yield conn


async def test_each_inserting_statement_notifies_its_schema_once_at_commit(
    db: asyncpg.Connection, pg_schema: str, postgres_dsn: str
) -> None:
    await migrations.migrate(db, pg_schema)
    heard: list[str] = []
    listener = await asyncpg.connect(postgres_dsn)
    try:
        await listener.add_listener(CHANNEL, lambda _c, _pid, _channel, payload: heard.append(payload))
        async with db.transaction():
            await db.execute("INSERT INTO onex_outbox (topic, payload) VALUES ('t', 'a')")
            await db.execute("INSERT INTO onex_outbox (topic, payload) VALUES ('t', 'b'), ('t', 'c')")
            await asyncio.sleep(0.2)
            assert heard == [], "nothing is told before the commit"
        await db.copy_records_to_table(
            "onex_outbox", records=[("t", b"x")] * 500, columns=("topic", "payload"), schema_name=pg_schema
        )
        await until(lambda: len(heard) >= 2)
        await db.execute("UPDATE onex_outbox SET status = 'published'")  # the relay's marking
        await db.execute("SELECT pg_notify($1, 'fence')", CHANNEL)
        await until(lambda: "fence" in heard)
    finally:
        await listener.close()
    # Identical notifications of one transaction are folded into one by PostgreSQL.
    assert heard == [pg_schema, pg_schema, "fence"], "one per committed insert, none for an update"


async def test_the_listener_falls_back_to_polling_when_its_connection_dies_and_listens_again(
    db: asyncpg.Connection, pg_schema: str, postgres_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    await migrations.migrate(db, pg_schema)
    caplog.set_level(logging.INFO, logger="omnibase_infra.nodes.postgres_adapter.v1_0_0.outbox_listener")
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    outbox = OutboxListener(
        PoolSource(pool),  # type: ignore[arg-type]  # a plain asyncpg pool lends the same connections
        pg_schema,
        poll_seconds=0.5,
        retry_seconds=0.05,
        probe_seconds=30.0,
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(outbox.run(stopping))
    try:
        await until(lambda: outbox.listening)
        outbox.wake.clear()
        await db.execute("INSERT INTO onex_outbox (topic, payload) VALUES ('t', 'a')")
        await until(outbox.wake.is_set)

        pids = await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        assert pids, "the listener's session is visible"
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [r["pid"] for r in pids]
        )
        await until(lambda: outbox.losses >= 1)
        await until(lambda: outbox.listening)
        assert any("outbox notifications lost" in r.getMessage() for r in caplog.records)
        assert any("outbox notifications restored" in r.getMessage() for r in caplog.records)

        outbox.wake.clear()
        await db.execute("INSERT INTO onex_outbox (topic, payload) VALUES ('t', 'b')")
        await until(outbox.wake.is_set)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 20)
        await pool.close()
