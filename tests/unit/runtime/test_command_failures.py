"""Every way a command fails after PostgreSQL answered ends in one typed failed reply, kept in the inbox.

A scripted connection stands in for PostgreSQL: it keeps ``onex_inbox`` in a dict, rolls
a transaction back when its body raises, and runs each operation statement as the test
says (rows, or an error with a SQLSTATE).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.infrastructure.error_classification import classify_error
from omnibase_infra.models.model_operation_reply import (
    FAILED_EVENT_TYPE,
    ModelOperationReply,
    reply_id_for,
)
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
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.resources import command_statement_timeout
from omnibase_infra.workflow.records import (
    OperationOutcome,
)

from .fakes import FakeCatalog, FakeOperation, encode_reply

if TYPE_CHECKING:
    import asyncpg

COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"
COMMANDS = "onex.cmd.postgres.operation.v1"
READ = FakeOperation("read_things", sql="SELECT * FROM things")
WRITE = FakeOperation("write_thing", sql="INSERT INTO things DEFAULT VALUES RETURNING id", read_only=False)


class SqlError(Exception):
    """A PostgreSQL error as asyncpg raises it: the class carries ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


Statement = Callable[[], list[dict[str, object]]]


class ScriptedConnection:
    """The statements the executor sends, against an in-memory ``onex_inbox``."""

    def __init__(self, statement: Statement, *, keep_reply_error: Exception | None = None) -> None:
        self.statement = statement
        self.keep_reply_error = keep_reply_error
        self.keep_failed_error: Exception | None = None
        self.inbox: dict[uuid.UUID, tuple[str, bytes]] = {}
        self.applied: list[str] = []  # writes of committed transactions
        self._pending: list[str] = []
        self.timeouts: list[str | None] = []
        self.statements_run = 0
        self.read_session = False  # default_transaction_read_only set by a read run

    @asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[None]:
        saved = dict(self.inbox)
        self._pending = []
        try:
            yield
        except BaseException:
            self.inbox = saved  # rolled back
            raise
        self.applied.extend(self._pending)

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object] | None:
        envelope_id = cast("uuid.UUID", args[0])
        kept = self.inbox.get(envelope_id)
        if sql == PRELUDE_SQL:
            self.timeouts.append(cast("str | None", args[1]))
            return {"reply_topic": kept[0] if kept else None, "reply": kept[1] if kept else None}
        return {"reply_topic": kept[0], "reply": kept[1]} if kept else None

    async def fetchval(self, sql: str, *args: object) -> bool | None:
        assert sql == CLAIM_SQL
        envelope_id = cast("uuid.UUID", args[0])
        if envelope_id in self.inbox:
            return None
        self.inbox[envelope_id] = (cast("str", args[2]), b"")
        return True

    async def fetch(self, sql: str, *args: object) -> list[dict[str, object]]:
        if sql == BEGIN_READS_SQL:  # a read run: session settings and the inbox lookup of its commands
            self.read_session = True
            self.timeouts.append(cast("str | None", args[1]))
            ids = cast("list[uuid.UUID]", args[0])
            found = [
                {"envelope_id": i, "reply_topic": self.inbox[i][0], "reply": self.inbox[i][1]}
                for i in ids
                if i in self.inbox
            ]
            return found or [{"envelope_id": None, "reply_topic": None, "reply": None}]
        self.statements_run += 1
        rows = self.statement()
        self._pending.append(sql)
        return rows

    async def execute(self, sql: str, *args: object) -> str:
        if sql == END_READS_SQL:
            self.read_session = False
            return "RESET"
        if sql == JOIN_READS_SQL:
            self.read_session = True
            return "SELECT 1"
        assert not self.read_session, "a write while the session's transactions are read-only"
        envelope_id = cast("uuid.UUID", args[0])
        if sql == KEEP_REPLY_SQL:
            if self.keep_reply_error is not None:
                raise self.keep_reply_error
            self.inbox[envelope_id] = (self.inbox[envelope_id][0], cast("bytes", args[1]))
            return "UPDATE 1"
        assert sql == KEEP_FAILED_SQL
        if self.keep_failed_error is not None:
            raise self.keep_failed_error
        self.inbox[envelope_id] = (cast("str", args[2]), cast("bytes", args[3]))
        return "INSERT 0 1"


def rows(*values: dict[str, object]) -> Statement:
    return lambda: list(values)


def fails(error: BaseException) -> Statement:
    def run() -> list[dict[str, object]]:
        raise error

    return run


def executor(
    *, max_reply_bytes: int | None = None, statement_timeout: float | None = 1.5
) -> OperationExecutor:
    return OperationExecutor(
        FakeCatalog(READ, WRITE),
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        max_reply_bytes=max_reply_bytes,
        statement_timeout_seconds=statement_timeout,
    )


def command(operation: str) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](
        payload={"operation": operation, "parameters": {}}, correlation_id=uuid.uuid4()
    )


def as_connection(conn: ScriptedConnection) -> asyncpg.Connection:
    return cast("asyncpg.Connection", conn)


def failed_reply(outcome: OperationOutcome) -> ModelOperationReply:
    assert outcome.reply_topic == FAILED
    envelope = decode_envelope(outcome.reply_value)
    assert envelope.event_type == FAILED_EVENT_TYPE
    reply = ModelOperationReply.model_validate(envelope.payload)
    assert reply.status == "failed" and reply.error is not None
    return reply


def assert_kept(
    conn: ScriptedConnection, request: ModelEventEnvelope[JsonValue], outcome: OperationOutcome
) -> None:
    assert conn.inbox[request.envelope_id] == (FAILED, outcome.reply_value)


async def test_a_statement_timeout_is_the_commands_failure_not_an_outage() -> None:
    conn = ScriptedConnection(fails(SqlError("57014")))
    request = command("read_things")

    outcome = await executor().execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and (error.kind, error.sqlstate) == ("timeout", "57014")
    assert outcome.poison is not None and outcome.poison.poison_class == "Timeout"
    assert conn.timeouts == ["1500ms"], "the statement runs under the executor's statement timeout"
    assert_kept(conn, request, outcome)
    # The same SQLSTATE anywhere else (the event-store write) is still an outage.
    assert classify_error(SqlError("57014")).is_outage


async def test_no_statement_timeout_keeps_the_sessions() -> None:
    conn = ScriptedConnection(rows({"id": 1}))

    await executor(statement_timeout=None).execute(as_connection(conn), command("read_things"))

    assert conn.timeouts == [None]


async def test_a_client_side_timeout_is_an_outage_and_raises() -> None:
    conn = ScriptedConnection(fails(TimeoutError()))

    with pytest.raises(TimeoutError):
        await executor().execute(as_connection(conn), command("read_things"))

    assert conn.inbox == {}


async def test_a_result_that_is_not_utf8_is_answered_result_not_serialisable() -> None:
    conn = ScriptedConnection(rows({"id": 1, "blob": b"\xff\xfe not UTF-8"}))
    request = command("read_things")

    outcome = await executor().execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and error.kind == "result_not_serialisable"
    assert "utf-8" in error.message.lower()
    assert outcome.poison is not None and outcome.poison.poison_class == "ResultNotSerialisable"
    assert_kept(conn, request, outcome)


async def test_a_reply_larger_than_a_record_may_be_is_answered_reply_too_large() -> None:
    big = [{"id": n, "payload": "x" * 1500} for n in range(100)]
    conn = ScriptedConnection(rows(*big))
    request = command("read_things")

    outcome = await executor(max_reply_bytes=64 * 1024).execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and error.kind == "reply_too_large"
    assert "100 rows" in error.message and "65536" in error.message
    assert len(outcome.reply_value) < 2048
    assert_kept(conn, request, outcome)


async def test_a_write_whose_reply_is_too_large_is_rolled_back_and_answered_once() -> None:
    conn = ScriptedConnection(rows(*[{"id": n, "payload": "y" * 500} for n in range(50)]))
    request = command("write_thing")

    outcome = await executor(max_reply_bytes=4096).execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and error.kind == "reply_too_large"
    assert conn.applied == [], "the write was rolled back"
    assert_kept(conn, request, outcome)


async def test_a_write_whose_reply_cannot_be_kept_is_rolled_back_and_answered_inbox_write_failed() -> None:
    conn = ScriptedConnection(rows({"id": 1}), keep_reply_error=SqlError("54000"))
    request = command("write_thing")

    outcome = await executor().execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and (error.kind, error.sqlstate) == ("inbox_write_failed", "54000")
    assert conn.applied == []
    assert_kept(conn, request, outcome)


async def test_an_inbox_write_that_fails_for_a_configuration_reason_raises() -> None:
    conn = ScriptedConnection(rows({"id": 1}), keep_reply_error=SqlError("42501"))  # permission denied

    with pytest.raises(SqlError):
        await executor().execute(as_connection(conn), command("write_thing"))


async def test_a_redelivered_command_gets_its_kept_failed_reply_without_running_again() -> None:
    conn = ScriptedConnection(fails(SqlError("57014")))
    request = command("read_things")
    run = executor()
    first = await run.execute(as_connection(conn), request)
    conn.statement = rows({"id": 1})  # the statement would now succeed

    again = await run.execute(as_connection(conn), request)

    assert (again.reply_topic, again.reply_value, again.duplicate) == (FAILED, first.reply_value, True)
    assert again.reply_envelope_id == reply_id_for(request.envelope_id)
    assert conn.statements_run == 1
    # Dead-lettered again: the first DLQ write may be what made the batch come back.
    assert again.poison is not None and first.poison is not None
    assert (again.poison.poison_class, again.poison.reason) == (
        first.poison.poison_class,
        first.poison.reason,
    )


async def test_a_redelivered_write_gets_its_kept_completed_reply_without_a_dead_letter() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    request = command("write_thing")
    first = await executor().execute(as_connection(conn), request)

    again = await executor().execute(as_connection(conn), request)

    assert (first.reply_topic, first.poison) == (COMPLETED, None)
    assert (again.reply_value, again.duplicate, again.poison) == (first.reply_value, True, None)
    assert conn.applied == ["INSERT INTO things DEFAULT VALUES RETURNING id"]


async def test_a_failed_reply_that_cannot_be_kept_is_still_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = ScriptedConnection(fails(SqlError("57014")))
    conn.keep_failed_error = SqlError("42501")

    with caplog.at_level(logging.WARNING):
        outcome = await executor().execute(as_connection(conn), command("read_things"))

    error = failed_reply(outcome).error
    assert error is not None and error.kind == "timeout"
    assert "could not be kept in onex_inbox" in caplog.text


async def test_keeping_a_failed_reply_during_an_outage_raises() -> None:
    conn = ScriptedConnection(fails(SqlError("57014")))
    conn.keep_failed_error = SqlError("08006")

    with pytest.raises(SqlError):
        await executor().execute(as_connection(conn), command("read_things"))


@pytest.mark.parametrize(
    ("poison_class", "kind"),
    [
        ("aiokafka.errors.MessageSizeTooLargeError", "reply_too_large"),
        ("aiokafka.errors.RecordTooLargeError", "reply_too_large"),
        ("aiokafka.errors.InvalidTimestampError", "reply_rejected"),
    ],
)
async def test_a_reply_the_broker_refuses_is_replaced_by_a_kept_failed_reply(
    poison_class: str, kind: str
) -> None:
    conn = ScriptedConnection(rows())
    request = command("write_thing")

    outcome = await executor().refused_reply(
        as_connection(conn), request, PoisonRecordError("kafka_send", poison_class, "refused")
    )

    error = failed_reply(outcome).error
    assert error is not None and error.kind == kind
    assert "the write was applied" in error.message
    assert outcome.reply_envelope_id == reply_id_for(request.envelope_id)
    assert_kept(conn, request, outcome)


@pytest.mark.parametrize(
    ("command_timeout", "breaker_timeout", "statement_timeout"),
    [(10.0, 10.0, 9.0), (30.0, 20.0, 18.0), (2.0, 10.0, 1.8)],
)
def test_a_commands_statement_timeout_leaves_the_server_time_to_say_so(
    command_timeout: float, breaker_timeout: float, statement_timeout: float
) -> None:
    """Below both the client-side timeout and the breaker's, so a live server answers 57014 first."""
    assert command_statement_timeout(command_timeout, breaker_timeout) == pytest.approx(statement_timeout)


def enqueue_executor(*relay: str) -> OperationExecutor:
    from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl

    enqueue = FakeOperation(
        "enqueue_outbox_event",
        sql="INSERT INTO onex_outbox (topic) VALUES ($1) RETURNING id",
        read_only=False,
        relay_topic_parameters=("topic",),
    )
    acl = TopicAcl(reply=(COMPLETED, FAILED), relay=relay, state=(), consumed=(COMMANDS,))
    return OperationExecutor(
        FakeCatalog(enqueue),
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        topic_acl=acl,
    )


async def test_a_redelivered_command_gets_its_kept_reply_even_if_the_acl_now_refuses_its_topic() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    topic = "onex.evt.orders.created.v1"
    request = ModelEventEnvelope[JsonValue](
        payload={"operation": "enqueue_outbox_event", "parameters": {"topic": topic}},
        correlation_id=uuid.uuid4(),
    )
    first = await enqueue_executor(topic).execute(as_connection(conn), request)

    # The relay topics changed (ONEX_OUTBOX_TOPICS) before the command was redelivered.
    again = await enqueue_executor("onex.evt.other.v1").execute(as_connection(conn), request)

    assert (first.reply_topic, first.poison) == (COMPLETED, None)
    assert (again.reply_topic, again.reply_value, again.duplicate) == (COMPLETED, first.reply_value, True)
    assert conn.statements_run == 1, "the insert ran once"


async def test_a_refused_topic_is_one_kept_failed_reply_and_its_sql_never_runs() -> None:
    conn = ScriptedConnection(rows({"id": 1}))
    request = ModelEventEnvelope[JsonValue](
        payload={"operation": "enqueue_outbox_event", "parameters": {"topic": "onex.evt.nobody.v1"}},
        correlation_id=uuid.uuid4(),
    )

    outcome = await enqueue_executor("onex.evt.orders.created.v1").execute(as_connection(conn), request)

    error = failed_reply(outcome).error
    assert error is not None and error.kind == "topic_not_allowed"
    assert_kept(conn, request, outcome)
    assert conn.statements_run == 0
