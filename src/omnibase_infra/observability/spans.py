"""Spans for Kafka and PostgreSQL operations, named and attributed per OpenTelemetry conventions.

``trace_kafka_operation`` follows the messaging conventions for Kafka:

- ``send``    → span ``send T``,    operation.name ``send``,    type ``send``,    kind PRODUCER
- ``receive`` → span ``poll T``,    operation.name ``poll``,    type ``receive``, kind CONSUMER
- ``process`` → span ``process T``, operation.name ``process``, type ``process``, kind CONSUMER
- ``commit``  → span ``commit T``,  operation.name ``commit``,  type ``settle``,  kind CLIENT

``produce`` (the original guide's word) is ``send``.

A process span continues the producer's context when given ``parent`` (so producer and
consumer share one trace id) and links every context in ``links`` (a batch links all its
messages' producers).

``trace_database_operation`` follows the database conventions: span ``{op} {table}``
(``COPY onex_event_store``), kind CLIENT, ``db.system``/``db.system.name`` = postgresql.
It covers the COPY / bulk paths that the asyncpg instrumentation does not see. Only the
parameterised statement is recorded (``db.query.text``); parameter values never are.

Both managers make their span current inside the block, record an exception raised in
it (message and stack redacted), set ``error.type`` and an ERROR status, and re-raise.
They never swallow an exception.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Literal
from uuid import UUID

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from omnibase_infra import __version__
from omnibase_infra.errors import InfraError
from omnibase_infra.observability.redaction import redact

TRACER_NAME = "omnibase_infra"

KafkaOperation = Literal["send", "produce", "receive", "process", "commit"]

# (operation.name, operation.type, kind) for each Kafka operation.
_KAFKA_OPERATIONS: dict[str, tuple[str, str, SpanKind]] = {
    "send": ("send", "send", SpanKind.PRODUCER),
    "produce": ("send", "send", SpanKind.PRODUCER),
    "receive": ("poll", "receive", SpanKind.CONSUMER),
    "process": ("process", "process", SpanKind.CONSUMER),
    "commit": ("commit", "settle", SpanKind.CLIENT),
}

# Attribute names (OpenTelemetry semantic conventions, messaging and database).
MESSAGING_SYSTEM = "messaging.system"
MESSAGING_OPERATION_NAME = "messaging.operation.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"
MESSAGING_DESTINATION_NAME = "messaging.destination.name"
MESSAGING_DESTINATION_PARTITION_ID = "messaging.destination.partition.id"
MESSAGING_CONSUMER_GROUP_NAME = "messaging.consumer.group.name"
MESSAGING_KAFKA_OFFSET = "messaging.kafka.offset"
MESSAGING_KAFKA_MESSAGE_KEY = "messaging.kafka.message.key"
MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count"
MESSAGING_CONVERSATION_ID = "messaging.message.conversation_id"
DB_SYSTEM = "db.system"
DB_SYSTEM_NAME = "db.system.name"
DB_OPERATION_NAME = "db.operation.name"
DB_COLLECTION_NAME = "db.collection.name"
DB_QUERY_TEXT = "db.query.text"
DB_NAMESPACE = "db.namespace"
DB_OPERATION_BATCH_SIZE = "db.operation.batch.size"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ONEX_CORRELATION_ID = "onex.correlation_id"
ONEX_OPERATION = "onex.operation"


_LAST_TRACER: list[tuple[object, trace.Tracer]] = []
"""The tracer of the provider asked for last (a provider's ``get_tracer`` builds a new one each time)."""


def get_tracer(tracer_provider: TracerProvider | None = None) -> trace.Tracer:
    """The omnibase_infra tracer of ``tracer_provider`` (the global provider when ``None``)."""
    provider = trace.get_tracer_provider() if tracer_provider is None else tracer_provider
    last = _LAST_TRACER[0] if _LAST_TRACER else None
    if last is not None and last[0] is provider:
        return last[1]
    tracer = trace.get_tracer(TRACER_NAME, __version__, tracer_provider=provider)
    _LAST_TRACER[:] = [(provider, tracer)]
    return tracer


def error_type(exc: BaseException) -> str:
    """``error.type``: the InfraError class of the error (``outage``, ``poison``...) or its class name."""
    if isinstance(exc, InfraError):
        return exc.error_class
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def record_error(span: Span, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` (message and stack redacted), set error.type and ERROR status."""
    kind = error_type(exc)
    span.record_exception(
        exc,
        attributes={
            "exception.message": redact(str(exc)),
            "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
        },
    )
    span.set_attribute(ERROR_TYPE, kind)
    span.set_status(StatusCode.ERROR, kind)


class _SpanScope:
    """``tracer.start_as_current_span(...)`` (exceptions neither recorded nor set by the SDK) around
    ``record_error`` of an exception raised in the block, as one async context manager: one
    span per command is started in the hot path, and two generator-based managers per span
    cost more than the span."""

    __slots__ = ("_attributes", "_kind", "_links", "_name", "_parent", "_span", "_token", "_tracer_provider")

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        attributes: dict[str, AttributeValue],
        parent: Context | None,
        links: Sequence[Context],
        tracer_provider: TracerProvider | None,
    ) -> None:
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._parent = parent
        self._links = links
        self._tracer_provider = tracer_provider

    def start(self) -> Span:
        """The span, started but not made current."""
        links = self._links
        span_links = (
            [
                Link(trace.get_current_span(c).get_span_context())
                for c in links
                if trace.get_current_span(c).get_span_context().is_valid
            ]
            if links
            else []
        )
        return get_tracer(self._tracer_provider).start_span(
            self._name,
            context=self._parent,
            kind=self._kind,
            attributes=self._attributes,
            links=span_links,
            record_exception=False,
            set_status_on_exception=False,
        )

    async def __aenter__(self) -> Span:
        span = self._span = self.start()
        self._token = context_api.attach(trace.set_span_in_context(span))
        return span

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        context_api.detach(self._token)
        end_span(self._span, exc)


def _run_span(
    name: str,
    kind: SpanKind,
    attributes: dict[str, AttributeValue],
    *,
    parent: Context | None,
    links: Sequence[Context],
    tracer_provider: TracerProvider | None,
) -> AbstractAsyncContextManager[Span]:
    return _SpanScope(name, kind, attributes, parent, links, tracer_provider)


def _key_text(key: str | bytes) -> str:
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key


def trace_kafka_operation(
    operation_type: KafkaOperation,
    topic: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
    key: str | bytes | None = None,
    correlation_id: UUID | str | None = None,
    consumer_group: str | None = None,
    batch_size: int | None = None,
    server_address: str | None = None,
    parent: Context | None = None,
    links: Sequence[Context] = (),
    tracer_provider: TracerProvider | None = None,
) -> AbstractAsyncContextManager[Span]:
    """A span for one Kafka operation on ``topic`` (see the module table), current inside the block.

    ``parent`` is the context to continue (for ``process``: ``extract_trace_context(headers,
    envelope)``); ``None`` continues the current context. Contexts in ``links`` that hold a
    valid span become span links. Attributes learned later (offset after a send) can be set
    on the yielded span. ``ValueError`` for an unknown ``operation_type``.
    """
    try:
        op_name, op_type, kind = _KAFKA_OPERATIONS[operation_type]
    except KeyError:
        raise ValueError(f"unknown Kafka operation {operation_type!r}") from None
    attributes: dict[str, AttributeValue] = {
        MESSAGING_SYSTEM: "kafka",
        MESSAGING_OPERATION_NAME: op_name,
        MESSAGING_OPERATION_TYPE: op_type,
        MESSAGING_DESTINATION_NAME: topic,
    }
    if partition is not None:
        attributes[MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
    if offset is not None:
        attributes[MESSAGING_KAFKA_OFFSET] = offset
    if key is not None:
        attributes[MESSAGING_KAFKA_MESSAGE_KEY] = _key_text(key)
    if correlation_id is not None:
        attributes[MESSAGING_CONVERSATION_ID] = str(correlation_id)
        attributes[ONEX_CORRELATION_ID] = str(correlation_id)
    if consumer_group is not None:
        attributes[MESSAGING_CONSUMER_GROUP_NAME] = consumer_group
    if batch_size is not None:
        attributes[MESSAGING_BATCH_MESSAGE_COUNT] = batch_size
    if server_address is not None:
        attributes[SERVER_ADDRESS] = server_address
    return _run_span(
        f"{op_name} {topic}", kind, attributes, parent=parent, links=links, tracer_provider=tracer_provider
    )


def start_kafka_span(
    operation_type: KafkaOperation,
    topic: str,
    *,
    key: str | bytes | None = None,
    correlation_id: UUID | str | None = None,
    parent: Context | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Span:
    """``trace_kafka_operation``'s span, started but not made current: for a group of sends
    whose spans overlap (a batch's replies). The caller ends it with ``end_span``."""
    scope = trace_kafka_operation(
        operation_type,
        topic,
        key=key,
        correlation_id=correlation_id,
        parent=parent,
        tracer_provider=tracer_provider,
    )
    assert isinstance(scope, _SpanScope)
    return scope.start()


def end_span(span: Span, error: BaseException | None = None) -> None:
    """End ``span``; with an ``error`` that is an ``Exception``, recorded on it first
    (``record_error``; a cancellation is not an error of the span's work)."""
    try:
        if isinstance(error, Exception):
            record_error(span, error)
    finally:
        span.end()


def set_delivery_attributes(span: Span, partition: int, offset: int) -> None:
    """Record where a ``send`` landed (partition and offset are known only after the ack)."""
    span.set_attribute(MESSAGING_DESTINATION_PARTITION_ID, str(partition))
    span.set_attribute(MESSAGING_KAFKA_OFFSET, offset)


def _verb(operation_type: str | None, statement: str | None) -> str:
    if operation_type is not None and operation_type.strip().lower() != "query":
        return operation_type.strip().upper()
    words = (statement or "").split(None, 1)
    if not words:
        raise ValueError("a database span needs an operation_type or a statement to take the verb from")
    return words[0].upper()


def trace_database_operation(
    operation_type: str | None = None,
    statement: str | None = None,
    *,
    query: str | None = None,
    collection: str | None = None,
    operation_name: str | None = None,
    correlation_id: UUID | str | None = None,
    database: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    batch_size: int | None = None,
    parent: Context | None = None,
    tracer_provider: TracerProvider | None = None,
) -> AbstractAsyncContextManager[Span]:
    """A CLIENT span for one PostgreSQL operation, current inside the block.

    ``operation_type`` is the SQL verb (``SELECT``, ``INSERT``, ``COPY``...) and becomes
    ``db.operation.name``; ``collection`` is the table; ``statement`` must be the
    parameterised text (``$1``...), never one with values spliced in; ``operation_name`` is the
    contract operation (``onex.operation``); ``batch_size`` the rows of a bulk write.
    The span is named ``{operation_type} {collection}`` (or the contract operation name,
    or the verb alone).

    The original guide's form, ``trace_database_operation(operation_type="query", query=SQL)``,
    works too: ``query`` is the statement, and with no verb (or the generic ``"query"``) the
    verb is the statement's first keyword. ``ValueError`` when neither gives a verb, or when
    both ``statement`` and ``query`` are given.
    """
    if statement is not None and query is not None:
        raise ValueError("give the statement once: statement or query, not both")
    statement = statement if statement is not None else query
    verb = _verb(operation_type, statement)
    attributes: dict[str, AttributeValue] = {
        DB_SYSTEM: "postgresql",
        DB_SYSTEM_NAME: "postgresql",
        DB_OPERATION_NAME: verb,
    }
    if collection is not None:
        attributes[DB_COLLECTION_NAME] = collection
    if statement is not None:
        attributes[DB_QUERY_TEXT] = statement
    if operation_name is not None:
        attributes[ONEX_OPERATION] = operation_name
    if correlation_id is not None:
        attributes[ONEX_CORRELATION_ID] = str(correlation_id)
    if database is not None:
        attributes[DB_NAMESPACE] = database
    if server_address is not None:
        attributes[SERVER_ADDRESS] = server_address
    if server_port is not None:
        attributes[SERVER_PORT] = server_port
    if batch_size is not None:
        attributes[DB_OPERATION_BATCH_SIZE] = batch_size
    target = collection or operation_name
    name = f"{verb} {target}" if target else verb
    return _run_span(
        name, SpanKind.CLIENT, attributes, parent=parent, links=(), tracer_provider=tracer_provider
    )


ONEX_WORKFLOW = "onex.workflow"
ONEX_STEP = "onex.step"
ONEX_NODE = "onex.node"


def trace_workflow_step(
    name: str,
    *,
    workflow: str,
    step_id: str,
    node: str,
    operation: str,
    parent: Context | None = None,
    links: Sequence[Context] = (),
    tracer_provider: TracerProvider | None = None,
) -> AbstractAsyncContextManager[Span]:
    """A span for one executed workflow step, named ``node.operation`` (kind INTERNAL).

    ``parent`` continues a consumed record's trace (the first of the batch that carries
    one); ``links`` are the other records' contexts.
    """
    attributes: dict[str, AttributeValue] = {
        ONEX_WORKFLOW: workflow,
        ONEX_STEP: step_id,
        ONEX_NODE: node,
        ONEX_OPERATION: operation,
    }
    return _run_span(
        name, SpanKind.INTERNAL, attributes, parent=parent, links=links, tracer_provider=tracer_provider
    )


__all__ = [
    "TRACER_NAME",
    "KafkaOperation",
    "end_span",
    "error_type",
    "get_tracer",
    "record_error",
    "set_delivery_attributes",
    "start_kafka_span",
    "trace_database_operation",
    "trace_kafka_operation",
    "trace_workflow_step",
]
