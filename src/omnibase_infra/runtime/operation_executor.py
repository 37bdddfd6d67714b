"""Workflow 2: run a named contract operation for a command envelope and build its reply.

Guarantees:
- nothing from the wire is executed as SQL: the command names an operation of the
  postgres_adapter contract, whose parameterised statement runs with the
  command's parameters bound to $1..$n after they pass the operation's JSON Schema;
- a write operation is applied at most once: the inbox row for the command's
  envelope_id is inserted in the same transaction, and a redelivered command
  gets the stored reply back, byte for byte;
- a read-only operation runs in a read-only transaction;
- the reply's envelope_id is derived from the request's (uuid5), its
  correlation_id is the request's and its parent_envelope_id is the request's
  envelope_id; error replies are typed and never carry connection details;
- an operation parameter marked ``relay_topic`` (``enqueue_outbox_event``'s ``topic``)
  must name a topic the topic ACL allows for the relay: otherwise the reply is a
  ``topic_not_allowed`` failure and no SQL runs;
- outage errors propagate for the breaker; data/constraint errors become a
  failed reply plus a ``PoisonRecordError`` for the DLQ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from omnibase_infra.errors import PoisonRecordError, TopicNotAllowedError
from omnibase_infra.observability.spans import trace_database_operation
from omnibase_infra.runtime.event_store_writer import poison_from_database_error

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.runtime.envelope_codec import Envelope
    from omnibase_infra.runtime.protocols import DbConnection, ProtocolTopicAcl

STAGE_OPERATION = "operation"
REPLY_NAMESPACE = uuid.UUID("6f1d1c1e-7c38-4d67-9a55-0d5a3c0b9e11")
COMPLETED_EVENT_TYPE = "onex.postgres.operation.completed"
FAILED_EVENT_TYPE = "onex.postgres.operation.failed"

ErrorKind = Literal[
    "unknown_operation", "invalid_command", "invalid_parameters", "topic_not_allowed", "sql_error"
]


class ProtocolOperation(Protocol):
    """A named operation of the postgres_adapter contract."""

    @property
    def name(self) -> str: ...

    @property
    def sql(self) -> str: ...

    @property
    def read_only(self) -> bool: ...

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Parameters in $1..$n order."""
        ...

    @property
    def relay_topic_parameters(self) -> tuple[str, ...]:
        """Parameters naming an outbox row's topic: the topic ACL must allow it for the relay."""
        ...


class ProtocolOperationCatalog(Protocol):
    def get_operation(self, name: str) -> ProtocolOperation | None: ...

    def validate_parameters(self, name: str, parameters: Mapping[str, JsonValue]) -> list[str]:
        """Problems of ``parameters`` against the operation's JSON Schema (empty when valid)."""
        ...


class ModelOperationCommand(BaseModel):
    """Payload of a command envelope on ``onex.cmd.postgres.operation.v1``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    parameters: dict[str, JsonValue] = {}


class ModelOperationError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ErrorKind
    message: str
    sqlstate: str | None = None


class ModelOperationReply(BaseModel):
    """Payload of a reply envelope (completed or failed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    status: Literal["completed", "failed"]
    row_count: int = 0
    rows: list[dict[str, JsonValue]] = []
    error: ModelOperationError | None = None


@dataclass(frozen=True)
class OperationOutcome:
    """What the workflow publishes: the reply bytes, where, and an optional DLQ reason."""

    reply_topic: str
    reply_value: bytes
    reply_envelope_id: uuid.UUID
    duplicate: bool
    poison: PoisonRecordError | None


def reply_id_for(request_id: uuid.UUID) -> uuid.UUID:
    """The reply's envelope id: the same for every delivery of one request."""
    return uuid.uuid5(REPLY_NAMESPACE, str(request_id))


class OperationExecutor:
    """Runs commands against PostgreSQL; see the module docstring for the guarantees."""

    def __init__(
        self,
        catalog: ProtocolOperationCatalog,
        *,
        completed_topic: str,
        failed_topic: str,
        encode_reply: Callable[[Envelope, ModelOperationReply, uuid.UUID, str], bytes],
        max_rows: int = 1000,
        topic_acl: ProtocolTopicAcl | None = None,
    ) -> None:
        self._catalog = catalog
        self._topic_acl = topic_acl
        self._completed_topic = completed_topic
        self._failed_topic = failed_topic
        self._encode_reply = encode_reply
        self._max_rows = max_rows

    def _failure(
        self, request: Envelope, operation: str, error: ModelOperationError, stage_class: str
    ) -> OperationOutcome:
        reply = ModelOperationReply(operation=operation, status="failed", error=error)
        reply_id = reply_id_for(request.envelope_id)
        value = self._encode_reply(request, reply, reply_id, FAILED_EVENT_TYPE)
        poison = PoisonRecordError(STAGE_OPERATION, stage_class, error.message)
        return OperationOutcome(self._failed_topic, value, reply_id, False, poison)

    def _parse(self, request: Envelope) -> ModelOperationCommand | OperationOutcome:
        try:
            return ModelOperationCommand.model_validate(request.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            error = ModelOperationError(kind="invalid_command", message=f"{where}: {first['msg']}")
            return self._failure(request, "<unknown>", error, "InvalidCommand")

    async def execute(self, conn: DbConnection, request: Envelope) -> OperationOutcome:
        """Run the command in ``request``; raise only for outages."""
        command = self._parse(request)
        if isinstance(command, OperationOutcome):
            return command
        operation = self._catalog.get_operation(command.operation)
        if operation is None:
            error = ModelOperationError(
                kind="unknown_operation", message=f"no operation named {command.operation!r}"
            )
            return self._failure(request, command.operation, error, "UnknownOperation")
        problems = self._catalog.validate_parameters(operation.name, command.parameters)
        if problems:
            error = ModelOperationError(kind="invalid_parameters", message="; ".join(problems)[:500])
            return self._failure(request, operation.name, error, "InvalidParameters")
        refused = self._refused_topic(command, operation)
        if refused is not None:
            error = ModelOperationError(kind="topic_not_allowed", message=refused.reason)
            return self._failure(request, operation.name, error, "TopicNotAllowed")
        arguments = [command.parameters.get(name) for name in operation.parameter_names]
        try:
            async with trace_database_operation(
                operation.sql.split(None, 1)[0],
                operation.sql,
                operation_name=operation.name,
                correlation_id=request.correlation_id,
            ):
                if operation.read_only:
                    return await self._run_read_only(conn, request, operation, arguments)
                return await self._run_write(conn, request, operation, arguments)
        except Exception as exc:
            poison = poison_from_database_error(exc)
            if poison is None:
                raise
            sqlstate = getattr(exc, "sqlstate", None)
            error = ModelOperationError(
                kind="sql_error",
                message=f"{type(exc).__name__}",
                sqlstate=sqlstate if isinstance(sqlstate, str) else None,
            )
            return self._failure(request, operation.name, error, poison.poison_class)

    def _refused_topic(
        self, command: ModelOperationCommand, operation: ProtocolOperation
    ) -> TopicNotAllowedError | None:
        """The ACL's refusal of a topic parameter, checked before any SQL runs (nothing is inserted)."""
        if self._topic_acl is None:
            return None
        for name in operation.relay_topic_parameters:
            topic = command.parameters.get(name)
            if isinstance(topic, str):
                try:
                    self._topic_acl.require(topic, "relay")
                except TopicNotAllowedError as exc:
                    return exc
        return None

    def _completed(
        self, request: Envelope, operation: ProtocolOperation, rows: Sequence[asyncpg.Record]
    ) -> tuple[uuid.UUID, bytes]:
        reply = ModelOperationReply(
            operation=operation.name,
            status="completed",
            row_count=len(rows),
            rows=[_row_to_json(row) for row in rows[: self._max_rows]],
        )
        reply_id = reply_id_for(request.envelope_id)
        return reply_id, self._encode_reply(request, reply, reply_id, COMPLETED_EVENT_TYPE)

    async def _run_read_only(
        self,
        conn: DbConnection,
        request: Envelope,
        operation: ProtocolOperation,
        arguments: list[JsonValue],
    ) -> OperationOutcome:
        async with conn.transaction(readonly=True):
            rows = await conn.fetch(operation.sql, *arguments)
        reply_id, value = self._completed(request, operation, rows)
        return OperationOutcome(self._completed_topic, value, reply_id, False, None)

    async def _run_write(
        self,
        conn: DbConnection,
        request: Envelope,
        operation: ProtocolOperation,
        arguments: list[JsonValue],
    ) -> OperationOutcome:
        async with conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO onex_inbox (envelope_id, operation, reply_topic, reply) "
                "VALUES ($1, $2, $3, ''::bytea) ON CONFLICT (envelope_id) DO NOTHING RETURNING true",
                request.envelope_id,
                operation.name,
                self._completed_topic,
            )
            if not claimed:
                stored = await conn.fetchrow(
                    "SELECT reply_topic, reply FROM onex_inbox WHERE envelope_id = $1",
                    request.envelope_id,
                )
                assert stored is not None  # the conflicting row exists: it made the insert a no-op
                return OperationOutcome(
                    stored["reply_topic"],
                    bytes(stored["reply"]),
                    reply_id_for(request.envelope_id),
                    True,
                    None,
                )
            rows = await conn.fetch(operation.sql, *arguments)
            reply_id, value = self._completed(request, operation, rows)
            await conn.execute(
                "UPDATE onex_inbox SET reply = $2 WHERE envelope_id = $1", request.envelope_id, value
            )
        return OperationOutcome(self._completed_topic, value, reply_id, False, None)


def _row_to_json(row: asyncpg.Record) -> dict[str, JsonValue]:
    import pydantic_core

    plain = {key: row[key] for key in row.keys()}  # noqa: SIM118 - asyncpg.Record is not a dict
    decoded: dict[str, JsonValue] = pydantic_core.from_json(pydantic_core.to_json(plain))
    return decoded


__all__ = [
    "COMPLETED_EVENT_TYPE",
    "FAILED_EVENT_TYPE",
    "ModelOperationCommand",
    "ModelOperationError",
    "ModelOperationReply",
    "OperationExecutor",
    "OperationOutcome",
    "ProtocolOperation",
    "ProtocolOperationCatalog",
    "reply_id_for",
]
