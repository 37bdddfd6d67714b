"""A read run on a real PostgreSQL: read-only and under the statement timeout, settings put back after."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.nodes.postgres_adapter.v1_0_0 import migrations
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor, PlannedCommand
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_reads import ReadSession
from omnibase_infra.workflow.envelopes import encode_reply

COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"


class Op:
    def __init__(self, name: str, sql: str) -> None:
        self.name, self.sql = name, sql
        self.read_only = True
        self.parameter_names: tuple[str, ...] = ()
        self.relay_topic_parameters: tuple[str, ...] = ()


class Catalog:
    def __init__(self, *ops: Op) -> None:
        self.ops = {op.name: op for op in ops}

    def get_operation(self, name: str) -> Op | None:
        return self.ops.get(name)

    def validate_parameters(self, name: str, parameters: object) -> list[str]:
        return []


SLEEPS = Op("sleeps", "SELECT pg_sleep(2)::text AS slept")
WRITES = Op("writes", "INSERT INTO scratch VALUES (1) RETURNING n")
READS = Op("reads", "SELECT current_setting('transaction_read_only') AS ro")


def planned(executor: OperationExecutor, name: str) -> PlannedCommand:
    request = ModelEventEnvelope[JsonValue](payload={"operation": name}, correlation_id=uuid.uuid4())
    plan = executor.plan(request)
    assert isinstance(plan, PlannedCommand)
    return plan


async def test_a_read_run_is_read_only_timed_out_by_the_server_and_puts_the_settings_back(
    db: asyncpg.Connection, pg_schema: str
) -> None:
    await migrations.migrate(db, pg_schema)
    await db.execute("CREATE TABLE scratch (n int)")
    before = (
        await db.fetchval("SHOW statement_timeout"),
        await db.fetchval("SHOW default_transaction_read_only"),
    )
    executor = OperationExecutor(
        Catalog(SLEEPS, WRITES, READS),  # type: ignore[arg-type]  # a catalog of plain operations
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        statement_timeout_seconds=0.2,
    )
    session = ReadSession(executor)
    reads, sleeps, writes = (planned(executor, n) for n in ("reads", "sleeps", "writes"))

    await session.begin(db, [reads, sleeps, writes])
    completed = await session.read(db, reads)
    timed_out = await session.read(db, sleeps)
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await session.read(db, writes)
    await session.end(db)
    await session.finish(db)

    assert completed.reply_topic == COMPLETED and b'"ro":"on"' in completed.reply_value
    assert timed_out.reply_topic == FAILED and b"57014" in timed_out.reply_value
    assert await db.fetchval("SELECT count(*) FROM scratch") == 0
    after = (
        await db.fetchval("SHOW statement_timeout"),
        await db.fetchval("SHOW default_transaction_read_only"),
    )
    assert after == before
    kept = await db.fetchrow(
        "SELECT reply_topic, reply FROM onex_inbox WHERE envelope_id = $1", sleeps.request.envelope_id
    )
    assert kept is not None and (kept["reply_topic"], bytes(kept["reply"])) == (FAILED, timed_out.reply_value)

    again = ReadSession(executor)
    await again.begin(db, [sleeps])
    assert (await again.read(db, sleeps)).reply_value == timed_out.reply_value, "the kept reply, not a rerun"
    await again.end(db)
