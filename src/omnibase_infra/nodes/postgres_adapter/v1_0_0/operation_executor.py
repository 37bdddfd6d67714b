"""Run a named contract operation for a command envelope and build its reply (``OperationExecutor``).

The ``operations`` workflow uses it in two steps of postgres_adapter: ``execute``
(``run_operation``: ``plan`` per command, then ``execute_planned`` for a write and
``operation_reads.ReadSession``, over the same replies and checks, for a run of
read-only commands) and ``answer_refused``
(``answer_refused_replies``: ``refused_reply`` for a reply the broker refused for good);
the node's typed operation request (``execute``) runs one command through it too.

Guarantees:
- nothing from the wire is executed as SQL: the command names an operation of the
  postgres_adapter contract, whose parameterised statement runs with the
  command's parameters bound to $1..$n after they pass the operation's JSON Schema;
- a write operation is applied at most once: the inbox row for the command's
  envelope_id is inserted in the same transaction, and a redelivered command
  gets the stored reply back, byte for byte;
- a read-only operation runs in a read-only transaction (in a read run: the implicit
  transaction of its statement, with ``default_transaction_read_only`` on);
- the statement runs under ``statement_timeout`` (server side, ``SET LOCAL``): a
  statement that runs past it is cancelled by the server (SQLSTATE 57014) and
  the command gets a failed reply ``timeout``. The server answered, so it is
  the command's failure and never counts against the breaker; a server that
  does not answer at all ends in the pool's client-side ``command_timeout``,
  an outage;
- every failure after the database answered is the command's, answered with
  exactly one typed failed reply (see ``models.model_operation_reply``): a data/constraint
  error, the timeout, a result with no JSON form, a reply larger than
  ``max_reply_bytes``, a reply that cannot be kept in the inbox. A write that
  failed is rolled back. The failed reply is kept in ``onex_inbox`` (read
  operations included), so a redelivered command gets the same failed reply
  back instead of running again;
- ``refused_reply`` turns a reply the broker refused (too large, corrupt) into
  a failed reply kept the same way;
- the reply's envelope_id is derived from the request's (uuid5), its
  correlation_id is the request's and its parent_envelope_id is the request's
  envelope_id; error replies are typed and never carry connection details;
- an operation parameter marked ``relay_topic`` (``enqueue_outbox_event``'s ``topic``)
  must name a topic the topic ACL allows for the relay: otherwise the reply is a
  ``topic_not_allowed`` failure (kept in the inbox like any failed reply) and the
  operation's SQL never runs. The inbox is read first: a redelivered command whose
  reply is kept gets that reply, whatever the ACL says now (one reply per command);
- outage errors propagate for the breaker (and so does an error that is
  neither, e.g. a permission denied: fix the configuration); every failed
  reply comes with a ``PoisonRecordError`` for the DLQ.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import JsonValue, ValidationError

from omnibase_infra.errors import PoisonRecordError, TopicNotAllowedError
from omnibase_infra.infrastructure.error_classification import classify_error, sqlstate_of
from omnibase_infra.models.model_operation_reply import (
    COMPLETED_EVENT_TYPE,
    FAILED_EVENT_TYPE,
    ErrorKind,
    ModelOperationCommand,
    ModelOperationError,
    ModelOperationReply,
    reply_id_for,
)
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import poison_from_database_error
from omnibase_infra.observability.spans import trace_database_operation
from omnibase_infra.workflow.dlq_stages import STAGE_OPERATION
from omnibase_infra.workflow.records import OperationOutcome

if TYPE_CHECKING:
    import uuid
    from contextlib import AbstractAsyncContextManager

    import asyncpg

    from omnibase_infra.workflow.envelopes import Envelope
    from omnibase_infra.workflow.protocols import DbConnection, ProtocolTopicAcl

QUERY_CANCELED = "57014"
# SQLSTATE classes for which keeping a write's reply in the inbox fails for this command
# only: data exception, integrity constraint, program limit exceeded.
INBOX_POISON_CLASSES = frozenset({"22", "23", "54"})
REPLY_SIZE_CLASSES = frozenset({"MessageSizeTooLargeError", "RecordTooLargeError", "RecordListTooLargeError"})

# Sets the statement timeout of the transaction and reads a reply kept for this command.
# $2 NULL keeps the session's timeout. Allowed in a READ ONLY transaction.
PRELUDE_SQL = (
    "SELECT set_config('statement_timeout', COALESCE($2::text, current_setting('statement_timeout')), true), "
    "i.reply_topic, i.reply FROM (VALUES (1)) AS one LEFT JOIN onex_inbox AS i ON i.envelope_id = $1"
)
CLAIM_SQL = (
    "INSERT INTO onex_inbox (envelope_id, operation, reply_topic, reply) "
    "VALUES ($1, $2, $3, ''::bytea) ON CONFLICT (envelope_id) DO NOTHING RETURNING true"
)
KEEP_REPLY_SQL = "UPDATE onex_inbox SET reply = $2 WHERE envelope_id = $1"
KEEP_FAILED_SQL = (
    "INSERT INTO onex_inbox (envelope_id, operation, reply_topic, reply) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (envelope_id) DO UPDATE SET reply_topic = EXCLUDED.reply_topic, reply = EXCLUDED.reply"
)

_logger = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class PlannedCommand:
    """A command that passed every check made without SQL: the statement it runs."""

    request: Envelope
    operation: ProtocolOperation
    arguments: list[JsonValue]
    refusal: ModelOperationError | None
    """The topic ACL's refusal, answered (and kept) once the inbox has no reply for it."""

    @property
    def read_only(self) -> bool:
        return self.operation.read_only


class CommandFailed(Exception):
    """A failure of the command decided inside its transaction (which it rolls back)."""

    def __init__(self, error: ModelOperationError) -> None:
        super().__init__(error.message)
        self.error = error


def poison_class_of(error: ModelOperationError) -> str:
    """The DLQ ``error.class`` of a failed command: ``SQLSTATE 23505`` for a statement
    PostgreSQL rejected, the kind in CamelCase otherwise (``timeout`` → ``Timeout``)."""
    if error.kind == "sql_error" and error.sqlstate is not None:
        return f"SQLSTATE {error.sqlstate}"
    return "".join(part.capitalize() for part in error.kind.split("_"))


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
        max_reply_bytes: int | None = None,
        statement_timeout_seconds: float | None = None,
        topic_acl: ProtocolTopicAcl | None = None,
    ) -> None:
        """``max_reply_bytes``: the largest reply value the producer can publish (``None``: no
        check here; the broker's refusal is then handled by ``refused_reply``).
        ``statement_timeout_seconds``: how long a command's statement may run (``None``: the
        session's ``statement_timeout``)."""
        self._catalog = catalog
        self._topic_acl = topic_acl
        self._completed_topic = completed_topic
        self._failed_topic = failed_topic
        self._encode_reply = encode_reply
        self._max_rows = max_rows
        self._max_reply_bytes = max_reply_bytes
        self._statement_timeout = (
            None
            if statement_timeout_seconds is None
            else f"{max(1, round(statement_timeout_seconds * 1000))}ms"
        )

    @property
    def completed_topic(self) -> str:
        return self._completed_topic

    @property
    def statement_timeout(self) -> str | None:
        """A command statement's ``statement_timeout`` (``None``: the session's)."""
        return self._statement_timeout

    def failure(self, request: Envelope, operation: str, error: ModelOperationError) -> OperationOutcome:
        """The command's failed reply (typed error, DLQ reason); not kept yet."""
        reply = ModelOperationReply(operation=operation, status="failed", error=error)
        reply_id = reply_id_for(request.envelope_id)
        value = self._encode_reply(request, reply, reply_id, FAILED_EVENT_TYPE)
        poison = PoisonRecordError(STAGE_OPERATION, poison_class_of(error), error.message)
        return OperationOutcome(self._failed_topic, value, reply_id, False, poison)

    def kept(self, request: Envelope, topic: str, value: bytes) -> OperationOutcome:
        """A reply kept in the inbox, sent again as it is; a failed one is dead-lettered again."""
        poison = None
        if topic == self._failed_topic:
            error = _error_of(value)
            poison = PoisonRecordError(STAGE_OPERATION, poison_class_of(error), error.message)
        return OperationOutcome(topic, value, reply_id_for(request.envelope_id), True, poison)

    def _parse(self, request: Envelope) -> ModelOperationCommand | OperationOutcome:
        try:
            return ModelOperationCommand.model_validate(request.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            error = ModelOperationError(kind="invalid_command", message=f"{where}: {first['msg']}")
            return self.failure(request, "<unknown>", error)

    def plan(self, request: Envelope) -> OperationOutcome | PlannedCommand:
        """What ``request`` asks for, decided without SQL: its failed reply, or the statement to run.

        A command that is not one, names no exposed operation or has invalid parameters is
        answered here (nothing is kept: a redelivery is refused the same way). A topic the
        ACL refuses is carried as ``refusal``, answered after the inbox lookup.
        """
        command = self._parse(request)
        if isinstance(command, OperationOutcome):
            return command
        operation = self._catalog.get_operation(command.operation)
        if operation is None:
            error = ModelOperationError(
                kind="unknown_operation", message=f"no operation named {command.operation!r}"
            )
            return self.failure(request, command.operation, error)
        problems = self._catalog.validate_parameters(operation.name, command.parameters)
        if problems:
            error = ModelOperationError(kind="invalid_parameters", message="; ".join(problems)[:500])
            return self.failure(request, operation.name, error)
        refused = self._refused_topic(command, operation)
        refusal = (
            None if refused is None else ModelOperationError(kind="topic_not_allowed", message=refused.reason)
        )
        arguments = [command.parameters.get(name) for name in operation.parameter_names]
        return PlannedCommand(request, operation, arguments, refusal)

    async def execute(self, conn: DbConnection, request: Envelope) -> OperationOutcome:
        """Run the command in ``request``; raise only for outages (and configuration errors)."""
        planned = self.plan(request)
        if isinstance(planned, OperationOutcome):
            return planned
        return await self.execute_planned(conn, planned)

    async def execute_planned(self, conn: DbConnection, planned: PlannedCommand) -> OperationOutcome:
        """Run one planned command in its own transaction (``execute`` without the planning)."""
        request, operation, arguments = planned.request, planned.operation, planned.arguments
        # The refusal is checked after the inbox lookup (in _run_*): a redelivery gets its kept reply.
        refusal = planned.refusal
        try:
            async with traced_statement(operation, request):
                if operation.read_only:
                    return await self._run_read_only(conn, request, operation, arguments, refusal)
                return await self._run_write(conn, request, operation, arguments, refusal)
        except Exception as exc:
            error = failure_of(exc)
        outcome = self.failure(request, operation.name, error)
        await self.keep_failed(conn, request, operation.name, outcome)
        return outcome

    async def refused_reply(
        self, conn: DbConnection, request: Envelope, refused: PoisonRecordError
    ) -> OperationOutcome:
        """The failed reply that replaces a reply the broker refused (``refused`` says why).

        It is kept in ``onex_inbox`` in place of the refused one, so a redelivery is answered
        with it. For a write operation the write itself stays applied, and the message says so.
        """
        name = _operation_name(request)
        operation = self._catalog.get_operation(name)
        applied = operation is not None and not operation.read_only
        too_large = refused.poison_class.rsplit(".", 1)[-1] in REPLY_SIZE_CLASSES
        kind: ErrorKind = "reply_too_large" if too_large else "reply_rejected"
        what = "the reply is larger than the broker accepts" if too_large else "the broker refused the reply"
        message = f"{what} ({refused.poison_class})" + ("; the write was applied" if applied else "")
        outcome = self.failure(request, name, ModelOperationError(kind=kind, message=message))
        await self.keep_failed(conn, request, name, outcome)
        return outcome

    async def keep_failed(
        self, conn: DbConnection, request: Envelope, operation: str, outcome: OperationOutcome
    ) -> None:
        """Keep a failed reply in the inbox; an outage raises, any other failure is logged."""
        try:
            await conn.execute(
                KEEP_FAILED_SQL, request.envelope_id, operation, outcome.reply_topic, outcome.reply_value
            )
        except Exception as exc:
            if classify_error(exc).is_outage:
                raise
            # The answer still goes out; a redelivery computes the same failed reply again.
            _logger.warning(
                "the failed reply to command %s could not be kept in onex_inbox: %s",
                request.envelope_id,
                type(exc).__name__,
            )

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

    def completed(
        self,
        request: Envelope,
        operation: ProtocolOperation,
        rows: Sequence[asyncpg.Record] | Sequence[Mapping[str, object]],
    ) -> tuple[uuid.UUID, bytes]:
        """The completed reply; raises ``CommandFailed`` when it cannot be one."""
        try:
            encoded = [_row_to_json(row) for row in rows[: self._max_rows]]
        except ValueError as exc:  # pydantic_core's PydanticSerializationError, a UnicodeError
            message = f"a value of the result has no JSON form: {str(exc)[:200]}"
            error = ModelOperationError(kind="result_not_serialisable", message=message)
            raise CommandFailed(error) from exc
        # The rows are JSON values already (``_row_to_json``): the model's validation would
        # walk them again and change nothing.
        reply = ModelOperationReply.model_construct(
            operation=operation.name, status="completed", row_count=len(rows), rows=encoded
        )
        reply_id = reply_id_for(request.envelope_id)
        value = self._encode_reply(request, reply, reply_id, COMPLETED_EVENT_TYPE)
        if self._max_reply_bytes is not None and len(value) > self._max_reply_bytes:
            message = (
                f"the reply of {len(rows)} rows is {len(value)} bytes; "
                f"a reply may be at most {self._max_reply_bytes} bytes (ask for fewer rows)"
            )
            raise CommandFailed(ModelOperationError(kind="reply_too_large", message=message))
        return reply_id, value

    async def _prelude(self, conn: DbConnection, request: Envelope) -> OperationOutcome | None:
        """Set the statement timeout; the reply kept for this command, if there is one."""
        kept = await conn.fetchrow(PRELUDE_SQL, request.envelope_id, self._statement_timeout)
        if kept is None or kept["reply_topic"] is None:
            return None
        return self.kept(request, kept["reply_topic"], bytes(kept["reply"]))

    async def _run_read_only(
        self,
        conn: DbConnection,
        request: Envelope,
        operation: ProtocolOperation,
        arguments: list[JsonValue],
        refusal: ModelOperationError | None,
    ) -> OperationOutcome:
        async with conn.transaction(readonly=True):
            kept = await self._prelude(conn, request)
            if kept is not None:
                return kept
            if refusal is not None:
                raise CommandFailed(refusal)
            rows = await conn.fetch(operation.sql, *arguments)
            reply_id, value = self.completed(request, operation, rows)
        return OperationOutcome(self._completed_topic, value, reply_id, False, None)

    async def _run_write(
        self,
        conn: DbConnection,
        request: Envelope,
        operation: ProtocolOperation,
        arguments: list[JsonValue],
        refusal: ModelOperationError | None,
    ) -> OperationOutcome:
        async with conn.transaction():
            kept = await self._prelude(conn, request)
            if kept is not None:
                return kept
            if refusal is not None:
                raise CommandFailed(refusal)
            claimed = await conn.fetchval(
                CLAIM_SQL, request.envelope_id, operation.name, self._completed_topic
            )
            if not claimed:
                # Another instance claimed it between the prelude and here; its reply is kept.
                stored = await conn.fetchrow(
                    "SELECT reply_topic, reply FROM onex_inbox WHERE envelope_id = $1",
                    request.envelope_id,
                )
                assert stored is not None  # the conflicting row exists: it made the insert a no-op
                return self.kept(request, stored["reply_topic"], bytes(stored["reply"]))
            rows = await conn.fetch(operation.sql, *arguments)
            reply_id, value = self.completed(request, operation, rows)
            try:
                await conn.execute(KEEP_REPLY_SQL, request.envelope_id, value)
            except Exception as exc:
                error = _inbox_error(exc)
                if error is None:
                    raise
                raise CommandFailed(error) from exc
        return OperationOutcome(self._completed_topic, value, reply_id, False, None)


def traced_statement(operation: ProtocolOperation, request: Envelope) -> AbstractAsyncContextManager[object]:
    """The span of one command's statement (its first word names it)."""
    return trace_database_operation(
        operation.sql.split(None, 1)[0],
        operation.sql,
        operation_name=operation.name,
        correlation_id=request.correlation_id,
    )


def failure_of(exc: Exception) -> ModelOperationError:
    """The command's own failure for ``exc``; re-raises ``exc`` when it is not one (an outage)."""
    if isinstance(exc, CommandFailed):
        return exc.error
    error = command_error(exc)
    if error is None:
        raise exc
    return error


def command_error(exc: BaseException) -> ModelOperationError | None:
    """The command's own failure for what PostgreSQL answered, or ``None`` (raise it)."""
    sqlstate = sqlstate_of(exc)
    if sqlstate == QUERY_CANCELED:
        message = "the statement ran past its statement timeout and was cancelled"
        return ModelOperationError(kind="timeout", message=message, sqlstate=sqlstate)
    if poison_from_database_error(exc) is None:
        return None
    return ModelOperationError(kind="sql_error", message=type(exc).__name__, sqlstate=sqlstate)


def _inbox_error(exc: BaseException) -> ModelOperationError | None:
    sqlstate = sqlstate_of(exc)
    if sqlstate is None or sqlstate[:2] not in INBOX_POISON_CLASSES:
        return None
    message = f"the reply could not be kept in onex_inbox ({type(exc).__name__}); the write was rolled back"
    return ModelOperationError(kind="inbox_write_failed", message=message, sqlstate=sqlstate)


def _error_of(reply: bytes) -> ModelOperationError:
    """The error of a failed reply this executor encoded (a generic one if it cannot be read)."""
    try:
        error = json.loads(reply)["payload"]["error"]
        return ModelOperationError.model_validate(error)
    except (ValueError, KeyError, TypeError):
        return ModelOperationError(kind="sql_error", message="a failed reply kept in onex_inbox")


def _operation_name(request: Envelope) -> str:
    payload = request.payload
    name = payload.get("operation") if isinstance(payload, dict) else None
    return name if isinstance(name, str) and name else "<unknown>"


def _row_to_json(row: asyncpg.Record | Mapping[str, object]) -> dict[str, JsonValue]:
    import pydantic_core

    plain = {key: row[key] for key in row.keys()}  # noqa: SIM118 - asyncpg.Record is not a dict
    decoded: dict[str, JsonValue] = pydantic_core.from_json(pydantic_core.to_json(plain))
    return decoded


__all__ = [
    "CommandFailed",
    "OperationExecutor",
    "PlannedCommand",
    "ProtocolOperation",
    "ProtocolOperationCatalog",
    "command_error",
]
