"""The operations workflow runs the read-only commands between two writes as one run.

A logged pool stands in for PostgreSQL: every statement each connection receives is
written to one timeline, against an in-memory ``onex_inbox``. The tests count round trips
and check the order of reads and writes and where failed replies are kept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import cast

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import OutageError
from omnibase_infra.models.model_operation_reply import ModelOperationReply
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import (
    CLAIM_SQL,
    KEEP_FAILED_SQL,
    KEEP_REPLY_SQL,
    PRELUDE_SQL,
    OperationExecutor,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_reads import (
    BEGIN_READS_SQL,
    END_READS_SQL,
    JOIN_READS_SQL,
    PIPELINE_INDEX,
    pipelined_sql,
)
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord

from .fakes import FakeCatalog, FakeOperation, FakePublisher, FakeRecord, encode_reply
from .workflow_harness import WorkflowHarness, host_workflows

COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"
COMMANDS = "onex.cmd.postgres.operation.v1"
READ = FakeOperation("read_thing", sql="SELECT thing", parameter_names=("id",))
WRITE = FakeOperation("write_thing", sql="INSERT thing", read_only=False, parameter_names=("id",))
TIMED_OUT = 0  # a read of this id is cancelled by the statement timeout
NOTHING = 100  # a read of this id finds no row
TWO = 200  # a read of this id finds two rows


class QueryCanceled(Exception):
    sqlstate = "57014"


class Server:
    """What the logged connections share: the inbox and the timeline of statements."""

    def __init__(self) -> None:
        self.inbox: dict[uuid.UUID, tuple[str, bytes]] = {}
        self.log: list[tuple[int, str]] = []
        self.read_only: dict[int, bool] = {}
        self.outage_on: int | None = None  # a read of this id finds the server gone

    def statements(self, kind: str) -> list[tuple[int, str]]:
        return [entry for entry in self.log if entry[1].split(" ")[0] == kind]


class LoggedConnection:
    def __init__(self, server: Server, number: int) -> None:
        self.server = server
        self.number = number

    def _note(self, what: str) -> None:
        self.server.log.append((self.number, what))

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[None]:
        assert not self.server.read_only.get(self.number), "a transaction on a read-only session"
        self._note("BEGIN")
        saved = dict(self.server.inbox)
        try:
            yield
        except BaseException:
            self.server.inbox = saved
            self._note("ROLLBACK")
            raise
        self._note("COMMIT")

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object] | None:
        assert sql == PRELUDE_SQL
        self._note("prelude")
        kept = self.server.inbox.get(cast("uuid.UUID", args[0]))
        return {"reply_topic": kept[0] if kept else None, "reply": kept[1] if kept else None}

    async def fetchval(self, sql: str, *args: object) -> bool | None:
        assert sql == CLAIM_SQL
        self._note("claim")
        envelope_id = cast("uuid.UUID", args[0])
        if envelope_id in self.server.inbox:
            return None
        self.server.inbox[envelope_id] = (cast("str", args[2]), b"")
        return True

    async def fetch(self, sql: str, *args: object) -> list[dict[str, object]]:
        if sql == BEGIN_READS_SQL:
            self._note("begin-reads")
            self.server.read_only[self.number] = True
            ids = cast("list[uuid.UUID]", args[0])
            found = [
                {"envelope_id": i, "reply_topic": t, "reply": r}
                for i, (t, r) in self.server.inbox.items()
                if i in ids
            ]
            return found or [{"envelope_id": None, "reply_topic": None, "reply": None}]
        thing = cast("int", args[0])
        self._note(f"{sql.split(maxsplit=1)[0].lower()} {thing}")
        await asyncio.sleep(0)  # the server takes its time: other connections go meanwhile
        return self._rows(thing)

    def _rows(self, thing: int) -> list[dict[str, object]]:
        if thing == self.server.outage_on:
            raise OSError("connection reset")
        if thing == TIMED_OUT:
            raise QueryCanceled("canceling statement due to statement timeout")
        return [] if thing == NOTHING else [{"thing": thing}] * (2 if thing == TWO else 1)

    async def fetchmany(self, sql: str, args: list[list[object]]) -> list[dict[str, object]]:
        """asyncpg's pipeline: every statement's rows in one list; the first error stops it."""
        assert sql == pipelined_sql(READ)
        things = [cast("int", a[0]) for a in args]
        self._note("pipeline " + ",".join(map(str, things)))
        await asyncio.sleep(0)
        found: list[dict[str, object]] = []
        for thing, index in args:
            found.extend({**row, PIPELINE_INDEX: index} for row in self._rows(cast("int", thing)))
        return found

    async def execute(self, sql: str, *args: object) -> str:
        if sql == JOIN_READS_SQL:
            self._note("join-reads")
            self.server.read_only[self.number] = True
            return "SELECT 1"
        if sql == END_READS_SQL:
            self._note("end-reads")
            self.server.read_only[self.number] = False
            return "RESET"
        assert not self.server.read_only.get(self.number), "a write on a read-only session"
        envelope_id = cast("uuid.UUID", args[0])
        if sql == KEEP_REPLY_SQL:
            self._note("keep")
            self.server.inbox[envelope_id] = (self.server.inbox[envelope_id][0], cast("bytes", args[1]))
            return "UPDATE 1"
        assert sql == KEEP_FAILED_SQL
        self._note("keep-failed")
        self.server.inbox[envelope_id] = (cast("str", args[2]), cast("bytes", args[3]))
        return "INSERT 0 1"


class LoggedPool:
    """Lends a free connection (a new one when none is free), numbered in order of creation.

    ``capacity`` connections at most are idle or lent (``get_connection_stats().checked_in``
    is how many are not lent)."""

    def __init__(self, server: Server, capacity: int = 100) -> None:
        self.server = server
        self.capacity = capacity
        self.free: list[LoggedConnection] = []
        self.created = 0
        self.lent_at_once = 0
        self._lent = 0

    def get_connection_stats(self) -> SimpleNamespace:
        return SimpleNamespace(checked_in=self.capacity - self._lent)

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LoggedConnection]:
        assert self._lent < self.capacity, "a connection was asked for while none was idle"
        if self.free:
            conn = self.free.pop(0)
        else:
            self.created += 1
            conn = LoggedConnection(self.server, self.created)
        self._lent += 1
        self.lent_at_once = max(self.lent_at_once, self._lent)
        try:
            yield conn
        finally:
            # asyncpg's pool resets a connection it takes back (RESET ALL among others).
            conn._note("reset-all")
            self.server.read_only[conn.number] = False
            self._lent -= 1
            self.free.append(conn)


def executor() -> OperationExecutor:
    return OperationExecutor(
        FakeCatalog(READ, WRITE),
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        statement_timeout_seconds=1.5,
    )


def command(operation: str, thing: int) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](
        payload={"operation": operation, "parameters": {"id": thing}}, correlation_id=uuid.uuid4()
    )


def batch(*requests: ModelEventEnvelope[JsonValue]) -> dict[Partition, list[ProtocolConsumerRecord]]:
    records: list[ProtocolConsumerRecord] = [
        FakeRecord(COMMANDS, 0, offset, b"k", encode_envelope(r), ()) for offset, r in enumerate(requests)
    ]
    return {Partition(COMMANDS, 0): records}


async def hosted(
    server: Server, *, read_connections: int = 1, capacity: int = 100, reads_per_round_trip: int = 1
) -> tuple[WorkflowHarness, LoggedPool]:
    pool = LoggedPool(server, capacity)
    harness = await host_workflows(
        database=cast("object", pool),  # type: ignore[arg-type]  # a logged pool
        executor=executor(),
        publisher=FakePublisher(),
    )
    object.__setattr__(harness.postgres.resources, "read_connections", read_connections)
    object.__setattr__(harness.postgres.resources, "reads_per_round_trip", reads_per_round_trip)
    return harness, pool


async def handled(harness: WorkflowHarness, records: dict[Partition, list[ProtocolConsumerRecord]]) -> None:
    """The batch handled, and the connections its read runs gave back in the background back."""
    try:
        await harness.gateway.handle(records)
    finally:
        await harness.postgres.resources.settle_releases()


def replies(harness: WorkflowHarness) -> dict[uuid.UUID, ModelOperationReply]:
    """Each published reply by the envelope_id of its command."""
    found = {}
    for sent in harness.publisher.sent:
        if sent.topic in (COMPLETED, FAILED):
            envelope = decode_envelope(sent.value)
            assert envelope.parent_envelope_id is not None
            found[envelope.parent_envelope_id] = ModelOperationReply.model_validate(envelope.payload)
    return found


async def test_a_run_of_reads_costs_one_lookup_one_statement_each_and_the_pools_reset() -> None:
    server = Server()
    harness, _ = await hosted(server)
    reads = [command("read_thing", n) for n in range(1, 6)]

    await handled(harness, batch(*reads))

    assert [what for _, what in server.log] == [
        "begin-reads",
        "select 1",
        "select 2",
        "select 3",
        "select 4",
        "select 5",
        "reset-all",
    ]
    answered = replies(harness)
    assert [answered[r.envelope_id].rows for r in reads] == [[{"thing": n}] for n in range(1, 6)]


async def test_a_write_waits_for_the_reads_before_it_and_the_reads_after_it_wait_for_the_write() -> None:
    server = Server()
    harness, _ = await hosted(server, read_connections=3)
    requests = [
        command("read_thing", 1),
        command("read_thing", 2),
        command("write_thing", 3),
        command("read_thing", 4),
        command("read_thing", 5),
    ]

    await handled(harness, batch(*requests))

    events = [what for _, what in server.log]
    write = events.index("insert 3")
    assert {"select 1", "select 2"} <= set(events[:write])
    assert "end-reads" not in events
    assert max(events.index("select 1"), events.index("select 2")) < events.index("BEGIN")
    assert events.index("BEGIN") < write < events.index("COMMIT")
    assert {"select 4", "select 5"} <= set(events[events.index("COMMIT") :])
    assert [w for w in events if w in ("BEGIN", "prelude", "claim", "insert 3", "keep", "COMMIT")] == [
        "BEGIN",
        "prelude",
        "claim",
        "insert 3",
        "keep",
        "COMMIT",
    ]
    assert set(replies(harness)) == {r.envelope_id for r in requests}


class SlowResetPool(LoggedPool):
    """The pool's reset of a connection it takes back waits until ``reset_may_finish`` is set."""

    started = True

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.reset_may_finish = asyncio.Event()
        self.closed_with_free: list[int] | None = None

    async def stop(self) -> None:
        self.closed_with_free = [c.number for c in self.free]

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LoggedConnection]:
        async with super().acquire_connection() as conn:
            try:
                yield conn
            finally:
                await self.reset_may_finish.wait()


async def test_the_replies_of_a_read_run_do_not_wait_for_the_pools_reset_of_its_connection() -> None:
    server = Server()
    pool = SlowResetPool(server)
    harness = await host_workflows(
        database=cast("object", pool),  # type: ignore[arg-type]  # a logged pool
        executor=executor(),
        publisher=FakePublisher(),
    )
    read = command("read_thing", 1)

    await asyncio.wait_for(harness.gateway.handle(batch(read)), 5)

    assert replies(harness)[read.envelope_id].rows == [{"thing": 1}]
    resources = harness.postgres.resources
    assert "reset-all" not in [what for _, what in server.log]
    assert pool.free == [], "the connection is still being given back"
    stopping = asyncio.ensure_future(harness.postgres.stop())
    await asyncio.sleep(0.01)
    assert pool.closed_with_free is None, "the node's stop waits for the connection to be back"
    pool.reset_may_finish.set()
    await asyncio.wait_for(stopping, 5)
    assert [what for _, what in server.log][-1] == "reset-all"
    assert pool.closed_with_free == [1], "the pool closed once its connection was back"
    assert not resources.releasing


async def test_reads_spread_over_read_connections_each_set_up_and_reset() -> None:
    server = Server()
    harness, pool = await hosted(server, read_connections=3)
    reads = [command("read_thing", n) for n in range(1, 10)]

    await handled(harness, batch(*reads))

    assert pool.lent_at_once == 3
    used = {number for number, what in server.log if what.startswith("select")}
    assert used == {1, 2, 3}, "every connection of the run takes commands"
    assert len(server.statements("begin-reads")) == 1, "one inbox lookup for the whole run"
    assert sorted(n for n, _ in server.statements("join-reads")) == [2, 3]
    assert server.statements("end-reads") == [], "no RESET of its own: the pool's reset puts them back"
    assert sorted(n for n, _ in server.statements("reset-all")) == [1, 2, 3]
    answered = replies(harness)
    assert [answered[r.envelope_id].rows for r in reads] == [[{"thing": n}] for n in range(1, 10)]
    assert [decode_envelope(s.value).parent_envelope_id for s in harness.publisher.sent] == [
        r.envelope_id for r in reads
    ], "replies go out in the batch's order"


@pytest.mark.parametrize(("reads", "connections"), [(1, 1), (5, 1), (6, 2), (8, 2), (40, 8)])
async def test_each_connection_of_a_run_gets_at_least_three_reads(reads: int, connections: int) -> None:
    server = Server()
    harness, pool = await hosted(server, read_connections=8)

    await handled(harness, batch(*(command("read_thing", n) for n in range(1, reads + 1))))

    assert pool.lent_at_once == connections


async def test_a_run_takes_only_the_connections_idle_in_the_pool_and_never_waits_for_more() -> None:
    server = Server()
    harness, pool = await hosted(server, read_connections=8, capacity=2)
    reads = [command("read_thing", n) for n in range(1, 41)]

    await handled(harness, batch(*reads))

    assert pool.lent_at_once == 2, "a busy pool lends what it has; the run goes on with fewer"
    answered = replies(harness)
    assert [answered[r.envelope_id].rows for r in reads] == [[{"thing": n}] for n in range(1, 41)]


async def test_a_failed_read_is_kept_after_the_session_is_reset_and_a_redelivery_gets_it_back() -> None:
    server = Server()
    harness, _ = await hosted(server)
    slow = command("read_thing", TIMED_OUT)

    await handled(harness, batch(command("read_thing", 1), slow))

    events = [what for _, what in server.log]
    assert events[-3:] == ["end-reads", "keep-failed", "reset-all"]
    first = replies(harness)[slow.envelope_id]
    assert first.error is not None and first.error.kind == "timeout"
    kept = server.inbox[slow.envelope_id]

    server.log.clear()
    await handled(harness, batch(slow))

    assert [what for _, what in server.log] == ["begin-reads", "reset-all"], "not run again"
    assert harness.publisher.to(FAILED)[-1].value == kept[1], "the same reply, byte for byte"


async def test_a_redelivery_within_the_batch_starts_a_new_run_and_gets_the_first_ones_reply() -> None:
    server = Server()
    harness, _ = await hosted(server)
    slow = command("read_thing", TIMED_OUT)

    await handled(harness, batch(slow, command("read_thing", 1), slow))

    # Each run's connection goes back to the pool (reset-all) while what follows goes on.
    assert [what for _, what in server.log if what != "reset-all"] == [
        "begin-reads",
        "select 0",
        "select 1",
        "end-reads",
        "keep-failed",
        "begin-reads",
    ]
    assert [n for n, what in server.log if what == "reset-all"] == [1, 2]
    failed = [s.value for s in harness.publisher.sent if s.topic == FAILED]
    assert len(failed) == 2 and failed[0] == failed[1]


async def test_an_outage_during_a_run_stops_every_connection_of_it_and_raises() -> None:
    server = Server()
    server.outage_on = 2
    harness, pool = await hosted(server, read_connections=2)

    with pytest.raises(OSError, match="connection reset"):
        await harness.gateway.handle(batch(*(command("read_thing", n) for n in range(1, 8))))

    assert harness.publisher.sent == [], "no reply of the batch goes out"
    assert len(pool.free) == pool.created, "every connection went back to the pool"
    assert not harness.postgres.resources.releasing, "before the error was raised"
    started = [what for _, what in server.log if what.startswith("select")]
    assert len(started) < 7, "the other connection stopped taking commands"


async def test_commands_answered_without_sql_need_no_connection() -> None:
    server = Server()
    harness, pool = await hosted(server)

    await handled(harness, batch(command("no_such_operation", 1)))

    assert pool.created == 0
    [reply] = replies(harness).values()
    assert reply.error is not None and reply.error.kind == "unknown_operation"


async def test_an_outage_error_from_the_pool_is_what_the_batch_raises() -> None:
    class DownPool(LoggedPool):
        @asynccontextmanager
        async def acquire_connection(self) -> AsyncIterator[LoggedConnection]:
            raise OutageError("PostgreSQL unavailable")
            yield  # pragma: no cover

    harness = await host_workflows(
        database=cast("object", DownPool(Server())),  # type: ignore[arg-type]  # a pool that is down
        executor=executor(),
        publisher=FakePublisher(),
    )

    with pytest.raises(OutageError):
        await handled(harness, batch(command("read_thing", 1)))


# -- pipelined reads (postgres_pool.reads_per_round_trip) -----------------------------------


async def test_pipelined_reads_take_one_round_trip_per_connection_spread_evenly() -> None:
    server = Server()
    harness, pool = await hosted(server, read_connections=3, reads_per_round_trip=32)
    reads = [command("read_thing", n) for n in range(1, 10)]

    await handled(harness, batch(*reads))

    assert pool.lent_at_once == 3
    pipelines = server.statements("pipeline")
    assert sorted(n for n, _ in pipelines) == [1, 2, 3], "one round trip on each connection"
    assert sorted(len(what.split(" ")[1].split(",")) for _, what in pipelines) == [3, 3, 3]
    assert server.statements("select") == [], "no statement alone"
    answered = replies(harness)
    assert [answered[r.envelope_id].rows for r in reads] == [[{"thing": n}] for n in range(1, 10)]
    assert [decode_envelope(s.value).parent_envelope_id for s in harness.publisher.sent] == [
        r.envelope_id for r in reads
    ], "replies go out in the batch's order"


@pytest.mark.parametrize(
    ("per_round_trip", "groups"),
    [(1, []), (4, ["1,2,3,4", "5,6,7,8", "9,10"]), (32, ["1,2,3,4,5,6,7,8,9,10"])],
)
async def test_reads_per_round_trip_bounds_how_many_statements_go_together(
    per_round_trip: int, groups: list[str]
) -> None:
    server = Server()
    harness, _ = await hosted(server, reads_per_round_trip=per_round_trip)

    await handled(harness, batch(*(command("read_thing", n) for n in range(1, 11))))

    assert [what.split(" ")[1] for _, what in server.statements("pipeline")] == groups
    assert len(server.statements("select")) == (10 if per_round_trip == 1 else 0)


async def test_each_command_of_a_pipeline_gets_its_own_rows_none_or_several() -> None:
    server = Server()
    harness, _ = await hosted(server, reads_per_round_trip=8)
    reads = [command("read_thing", n) for n in (1, NOTHING, TWO, 4)]

    await handled(harness, batch(*reads))

    assert len(server.statements("pipeline")) == 1
    answered = replies(harness)
    assert [answered[r.envelope_id].rows for r in reads] == [
        [{"thing": 1}],
        [],
        [{"thing": TWO}, {"thing": TWO}],
        [{"thing": 4}],
    ]
    assert [answered[r.envelope_id].row_count for r in reads] == [1, 0, 2, 1]


async def test_a_failed_pipeline_runs_its_commands_one_by_one_and_the_failure_is_kept() -> None:
    server = Server()
    harness, _ = await hosted(server, reads_per_round_trip=8)
    slow = command("read_thing", TIMED_OUT)
    reads = [command("read_thing", 1), slow, command("read_thing", 3)]

    await handled(harness, batch(*reads))

    events = [what for _, what in server.log]
    assert events == [
        "begin-reads",
        "pipeline 1,0,3",
        "select 1",
        "select 0",
        "select 3",
        "end-reads",
        "keep-failed",
        "reset-all",
    ]
    answered = replies(harness)
    error = answered[slow.envelope_id].error
    assert error is not None and error.kind == "timeout"
    assert answered[reads[0].envelope_id].rows == [{"thing": 1}]
    assert answered[reads[2].envelope_id].rows == [{"thing": 3}]


async def test_an_outage_in_a_pipeline_is_raised_by_the_command_run_alone() -> None:
    server = Server()
    server.outage_on = 2
    harness, pool = await hosted(server, reads_per_round_trip=8)

    with pytest.raises(OSError, match="connection reset"):
        await handled(harness, batch(*(command("read_thing", n) for n in range(1, 5))))

    assert harness.publisher.sent == [], "no reply of the batch goes out"
    assert len(pool.free) == pool.created
    assert [what for _, what in server.log][:4] == ["begin-reads", "pipeline 1,2,3,4", "select 1", "select 2"]


async def test_pipelined_and_one_by_one_replies_are_the_same() -> None:
    reads = [command("read_thing", n) for n in (1, NOTHING, TWO, 7)]
    sent = []
    for per_round_trip in (1, 8):
        harness, _ = await hosted(Server(), reads_per_round_trip=per_round_trip)
        await handled(harness, batch(*reads))
        envelopes = [(s.topic, s.key, decode_envelope(s.value)) for s in harness.publisher.sent]
        sent.append([(t, k, e.envelope_id, e.parent_envelope_id, e.payload) for t, k, e in envelopes])
    assert sent[0] == sent[1]


def test_pipelined_sql_wraps_queries_only() -> None:
    read = FakeOperation("r", sql="SELECT a FROM t WHERE b = $1 -- the b", parameter_names=("b",))
    assert pipelined_sql(read) == (
        f"SELECT onex_q.*, $2::int4 AS {PIPELINE_INDEX} "
        "FROM (SELECT a FROM t WHERE b = $1 -- the b\n) AS onex_q"
    )
    assert pipelined_sql(FakeOperation("w", sql="with x AS (SELECT 1) SELECT 2")) is not None
    assert pipelined_sql(FakeOperation("s", sql="SHOW work_mem")) is None
    assert pipelined_sql(FakeOperation("two", sql="SELECT 1; SELECT 2")) is None
