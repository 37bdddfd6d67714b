"""Typed seams between the runtime and the adapters it drives.

The runtime depends on these protocols, never on aiokafka or a concrete pool,
so each workflow can be tested with a small fake and run with the real adapters.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncpg
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
    from pydantic import JsonValue

    from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
    from omnibase_infra.workflow.records import (
        DeadLetter,
        OperationOutcome,
        SourceRecord,
        StoredEvent,
        WriteResult,
    )

    Envelope = ModelEventEnvelope[JsonValue]

    # A plain connection or one lent by a pool: the runtime's SQL runs on either.
    type DbConnection = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]

Headers = Sequence[tuple[str, bytes]]

T = TypeVar("T")


class ProtocolRecordOrigin(Protocol):
    """Where a record was read and what it held: a consumed record, or a ``SourceRecord``."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class ProtocolRecordPublisher(Protocol):
    """Publishes one record and waits for the broker's acknowledgement."""

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Return (partition, offset) once acknowledged; raise on failure."""
        ...


TopicUse = Literal["reply", "relay", "dead_letter", "state", "forward"]
"""Why the service publishes to a topic; the topic ACL allows each topic for named uses only."""


class ProtocolTopicAcl(Protocol):
    """Which topics the service may publish to, and for what (group_gateway holds it: ``topic_acl``)."""

    def require(self, topic: str, use: TopicUse) -> None:
        """Return if ``topic`` is declared for ``use``; raise ``TopicNotAllowedError`` otherwise."""
        ...

    def require_relayable(self, topic: str, *, service_row: bool) -> None:
        """Like ``require(topic, "relay")``; a ``service_row`` (spilled by the service) may be state."""
        ...

    def require_declared(self, topic: str) -> None:
        """Return if ``topic`` is allowed for some use (a generic publish that names no use)."""
        ...


class ProtocolTopicDirectory(Protocol):
    """Tells whether a topic exists on the brokers (the producer pool)."""

    async def topic_exists(self, topic: str) -> bool:
        """Ask without creating the topic; raise ``OutageError`` when the brokers cannot say."""
        ...


class ProtocolConnectionSource(Protocol):
    """Lends PostgreSQL connections (the connection manager)."""

    def acquire_connection(
        self,
    ) -> AbstractAsyncContextManager[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]]: ...


class ProtocolGuard(Protocol):
    """Runs a call under protection (a circuit breaker)."""

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T: ...


class ProtocolBreakerListener(Protocol):
    """Told of every circuit-breaker transition of the effect nodes (metrics, audit, log)."""

    def __call__(self, transition: ModelCircuitBreakerTransition) -> None: ...


class ProtocolWorkflowObserver(Protocol):
    """Hooks for metrics and audit, called by the nodes as they work; cheap, never raising."""

    def on_stored(self, result: WriteResult, rows: Sequence[StoredEvent]) -> None: ...
    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None: ...
    def on_dead_letter(self, letter: DeadLetter) -> None: ...
    def on_relayed(self, published: int) -> None:
        """An outbox round committed: ``published`` rows were acknowledged and marked."""
        ...


def notify(observer: ProtocolWorkflowObserver | None, hook: str, *args: object) -> None:
    """Call ``observer.<hook>(*args)`` if there is an observer; log, never raise, what it raises:
    metrics and audit must never stall or rewind the work they observe."""
    if observer is None:
        return
    try:
        getattr(observer, hook)(*args)
    except Exception:
        logging.getLogger(__name__).exception("workflow observer failed in %s", hook)


class ProtocolReplyAddressing(Protocol):
    """Where a command's reply goes (group_gateway): the completed or the failed topic."""

    def reply_topic(self, *, failed: bool) -> str: ...


class ProtocolNodeDirectory(Protocol):
    """The node instances the host created, by name (what the orchestrator binds steps to)."""

    def node(self, name: str) -> object: ...
    def names(self) -> tuple[str, ...]: ...


__all__ = [
    "Headers",
    "ProtocolBreakerListener",
    "ProtocolConnectionSource",
    "ProtocolGuard",
    "ProtocolNodeDirectory",
    "ProtocolRecordOrigin",
    "ProtocolRecordPublisher",
    "ProtocolReplyAddressing",
    "ProtocolTopicAcl",
    "ProtocolTopicDirectory",
    "ProtocolWorkflowObserver",
    "TopicUse",
    "notify",
]
