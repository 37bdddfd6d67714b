"""A read run on a real PostgreSQL: read-only and under the statement timeout, settings put back after."""

from __future__ import annotations

import json
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


def executor_of(*ops: Op, timeout: float) -> OperationExecutor:
    """An executor over a catalog of plain operations, each statement under ``timeout`` seconds."""
    return OperationExecutor(
        Catalog(*ops),  # type: ignore[arg-type]  # a catalog of plain operations
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        statement_timeout_seconds=timeout,
    )


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
    executor = executor_of(SLEEPS, WRITES, READS, timeout=0.2)
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


COUNTS = Op("counts", "SELECT n, n * 10 AS tens FROM generate_series(1, $1::int) AS n ORDER BY n DESC")
COUNTS.parameter_names = ("n",)
DIVIDES = Op("divides", "SELECT 10 / $1::int AS q -- a trailing comment")
DIVIDES.parameter_names = ("n",)


def planned_with(executor: OperationExecutor, name: str, n: int) -> PlannedCommand:
    request = ModelEventEnvelope[JsonValue](
        payload={"operation": name, "parameters": {"n": n}}, correlation_id=uuid.uuid4()
    )
    plan = executor.plan(request)
    assert isinstance(plan, PlannedCommand)
    return plan


def payload_of(reply: bytes) -> object:
    return json.loads(reply)["payload"]


async def test_pipelined_reads_answer_each_command_as_its_statement_alone_would(
    db: asyncpg.Connection, pg_schema: str
) -> None:
    await migrations.migrate(db, pg_schema)
    executor = executor_of(COUNTS, DIVIDES, READS, timeout=5)
    counts = [planned_with(executor, "counts", n) for n in (3, 0, 2, 1)]
    reads = [planned(executor, "reads"), planned(executor, "reads")]
    divides = [planned_with(executor, "divides", n) for n in (5, 0, 2)]
    commands = counts + reads + divides

    alone = ReadSession(executor)
    await alone.begin(db, commands)
    expected = [payload_of((await alone.read(db, c)).reply_value) for c in commands]
    await alone.end(db)
    await alone.finish(db)

    pipelined = ReadSession(executor)
    await pipelined.begin(db, [])
    await pipelined.prefetch(db, commands)
    assert set(pipelined.prefetched) == {c.request.envelope_id for c in counts + reads}, (
        "the group with a failing statement is not kept: its commands run alone"
    )
    answered = [payload_of((await pipelined.read(db, c)).reply_value) for c in commands]
    await pipelined.end(db)

    assert answered == expected
    assert [a["row_count"] for a in answered[:4]] == [3, 0, 2, 1]  # type: ignore[index]
    assert answered[0]["rows"] == [  # type: ignore[index]
        {"n": 3, "tens": 30},
        {"n": 2, "tens": 20},
        {"n": 1, "tens": 10},
    ], "each command's rows in its statement's order"
    assert answered[4]["rows"] == [{"ro": "on"}], "read-only in the pipeline too"  # type: ignore[index]
    assert answered[7]["error"]["sqlstate"] == "22012"  # type: ignore[index]
    assert await db.fetchval("SELECT 1") == 1, "the connection is usable after a failed pipeline"


COLLIDES = Op("collides", "SELECT $1::int AS n, 'mine' AS onex_pipeline_index")
COLLIDES.parameter_names = ("n",)


async def test_a_statements_own_column_named_like_the_pipelines_index_is_kept(
    db: asyncpg.Connection, pg_schema: str
) -> None:
    """The index is read by position: the statement's column of the same name stays its own."""
    await migrations.migrate(db, pg_schema)
    executor = executor_of(COLLIDES, DIVIDES, timeout=5)
    commands = [planned_with(executor, "collides", n) for n in (1, 2, 3)]
    commands += [planned_with(executor, "divides", n) for n in (0, 1)]

    pipelined = ReadSession(executor)
    await pipelined.begin(db, [])
    await pipelined.prefetch(db, commands)
    answered = [payload_of((await pipelined.read(db, c)).reply_value) for c in commands[:3]]
    await pipelined.end(db)

    assert [a["rows"] for a in answered] == [  # type: ignore[index]
        [{"n": n, "onex_pipeline_index": "mine"}] for n in (1, 2, 3)
    ]
    assert pipelined.one_by_one == {"divides"}, "a failed group's operation is not pipelined again"
    await pipelined.prefetch(db, commands[3:])
    assert not any(c.request.envelope_id in pipelined.prefetched for c in commands[3:])
