"""Pure parts of the operation executor: reply ids, command parsing, refusals decided before any SQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue, ValidationError

from omnibase_infra.models.model_operation_reply import (
    FAILED_EVENT_TYPE,
    ModelOperationCommand,
    ModelOperationReply,
    reply_id_for,
)
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import (
    KEEP_FAILED_SQL,
    PRELUDE_SQL,
    OperationExecutor,
)

from .fakes import FakeCatalog, FakeOperation, UnusableConnection, encode_reply

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.workflow.protocols import DbConnection

COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"
NO_SQL = cast("asyncpg.Connection", UnusableConnection())


def test_reply_id_is_the_same_for_every_delivery_of_a_request() -> None:
    request_id = uuid.UUID("12345678-1234-5678-1234-567812345678")

    assert reply_id_for(request_id) == reply_id_for(uuid.UUID(str(request_id)))
    assert reply_id_for(request_id).version == 5
    assert reply_id_for(request_id) != request_id


def test_reply_ids_differ_between_requests() -> None:
    ids = {reply_id_for(uuid.uuid4()) for _ in range(100)}

    assert len(ids) == 100


def test_command_parses_operation_and_parameters() -> None:
    command = ModelOperationCommand.model_validate(
        {"operation": "get_order", "parameters": {"id": 7, "tags": ["a"], "filter": {"x": None}}}
    )

    assert command.operation == "get_order"
    assert command.parameters == {"id": 7, "tags": ["a"], "filter": {"x": None}}


def test_command_parameters_default_to_empty() -> None:
    assert ModelOperationCommand.model_validate({"operation": "ping"}).parameters == {}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"parameters": {}},
        {"operation": "x", "sql": "DROP TABLE t"},
        {"operation": 5},
        {"operation": "x", "parameters": [1, 2]},
        "get_order",
        None,
    ],
    ids=[
        "empty",
        "no-operation",
        "extra-sql-field",
        "operation-not-text",
        "parameters-not-object",
        "text",
        "null",
    ],
)
def test_malformed_commands_are_rejected(payload: object) -> None:
    with pytest.raises(ValidationError):
        ModelOperationCommand.model_validate(payload)


def executor(catalog: FakeCatalog) -> OperationExecutor:
    return OperationExecutor(
        catalog, completed_topic=COMPLETED, failed_topic=FAILED, encode_reply=encode_reply
    )


def request(payload: JsonValue) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](payload=payload, correlation_id=uuid.uuid4())


def reply_of(value: bytes) -> ModelOperationReply:
    return ModelOperationReply.model_validate(decode_envelope(value).payload)


async def test_invalid_command_fails_without_sql() -> None:
    command = request({"operation": "get_order", "sql": "DROP TABLE orders"})

    outcome = await executor(FakeCatalog(FakeOperation("get_order"))).execute(NO_SQL, command)

    assert outcome.reply_topic == FAILED
    assert outcome.reply_envelope_id == reply_id_for(command.envelope_id)
    assert outcome.poison is not None
    assert (outcome.poison.stage, outcome.poison.poison_class) == ("operation", "InvalidCommand")
    reply = reply_of(outcome.reply_value)
    assert reply.status == "failed"
    assert reply.error is not None
    assert reply.error.kind == "invalid_command"
    assert "sql" in reply.error.message


async def test_unknown_operation_fails_without_sql() -> None:
    command = request({"operation": "drop_everything"})

    outcome = await executor(FakeCatalog(FakeOperation("get_order"))).execute(NO_SQL, command)

    assert outcome.poison is not None
    assert outcome.poison.poison_class == "UnknownOperation"
    reply = reply_of(outcome.reply_value)
    assert reply.operation == "drop_everything"
    assert reply.error is not None
    assert reply.error.kind == "unknown_operation"
    envelope = decode_envelope(outcome.reply_value)
    assert envelope.event_type == FAILED_EVENT_TYPE
    assert envelope.parent_envelope_id == command.envelope_id
    assert envelope.correlation_id == command.correlation_id


async def test_invalid_parameters_fail_without_sql_and_list_the_problems() -> None:
    catalog = FakeCatalog(
        FakeOperation("get_order", parameter_names=("id",)), problems=["id: required", "x: extra"]
    )

    outcome = await executor(catalog).execute(
        NO_SQL, request({"operation": "get_order", "parameters": {"x": 1}})
    )

    assert outcome.reply_topic == FAILED
    assert outcome.poison is not None
    assert outcome.poison.poison_class == "InvalidParameters"
    reply = reply_of(outcome.reply_value)
    assert reply.error is not None
    assert reply.error.kind == "invalid_parameters"
    assert reply.error.message == "id: required; x: extra"


async def test_a_redelivered_refusal_gets_the_same_reply_id() -> None:
    command = request({"operation": "nope"})
    run = executor(FakeCatalog())

    first = await run.execute(NO_SQL, command)
    second = await run.execute(NO_SQL, command)

    assert first.reply_envelope_id == second.reply_envelope_id
    assert decode_envelope(first.reply_value).envelope_id == decode_envelope(second.reply_value).envelope_id


class InboxOnlyConnection:
    """Looks the command up in an empty inbox and keeps a failed reply; running any other SQL fails."""

    def __init__(self) -> None:
        self.kept = 0

    @contextlib.asynccontextmanager
    async def transaction(self, readonly: bool = False) -> AsyncIterator[None]:
        yield

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object] | None:
        assert sql == PRELUDE_SQL
        return {"reply_topic": None, "reply": None}

    async def execute(self, sql: str, *args: object) -> str:
        assert sql == KEEP_FAILED_SQL
        self.kept += 1
        return "INSERT 0 1"


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        ("onex.cmd.postgres.operation.v1", "a command loop"),
        (COMPLETED, "a forged reply"),
        ("onex.evt.infrastructure.state-changed.v1", "a forged state event"),
        ("onex.evt.nobody.declared.v1", "an undeclared topic"),
    ],
)
async def test_a_refused_outbox_topic_gets_topic_not_allowed_without_running_its_sql(
    topic: str, why: str
) -> None:
    from omnibase_infra.nodes.group_gateway.v1_0_0.topic_acl import TopicAcl

    acl = TopicAcl(
        reply=(COMPLETED, FAILED),
        relay=("onex.evt.orders.created.v1",),
        state=("onex.evt.infrastructure.state-changed.v1",),
        consumed=("onex.cmd.postgres.operation.v1",),
    )
    enqueue = FakeOperation("enqueue_outbox_event", read_only=False, relay_topic_parameters=("topic",))
    run = OperationExecutor(
        FakeCatalog(enqueue),
        completed_topic=COMPLETED,
        failed_topic=FAILED,
        encode_reply=encode_reply,
        topic_acl=acl,
    )

    conn = InboxOnlyConnection()
    outcome = await run.execute(
        cast("DbConnection", conn),
        request({"operation": "enqueue_outbox_event", "parameters": {"topic": topic, "payload": "x"}}),
    )

    assert conn.kept == 1, "the failed reply is kept in the inbox; nothing else ran"
    assert outcome.reply_topic == FAILED, why
    assert outcome.poison is not None
    assert outcome.poison.poison_class == "TopicNotAllowed"
    reply = reply_of(outcome.reply_value)
    assert reply.error is not None
    assert reply.error.kind == "topic_not_allowed"
    assert reply.error.message.startswith(f"topic {topic} is not allowed for relay")
