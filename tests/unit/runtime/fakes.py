"""Small in-memory fakes at the runtime's seams: consumer, publisher, guard, gate, connections.

Each fake records what was done to it so tests assert on behaviour, not on calls
to mocks. None of them touches the network or sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

from pydantic import JsonValue

from omnibase_infra.errors import CircuitOpenError
from omnibase_infra.models.model_health import (
    CircuitState,
    HealthStatus,
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelKafkaHealth,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.models.model_operation_reply import ModelOperationReply
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.protocols import Headers
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.infrastructure.event_queue import OutboundEvent
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope

    # What ``ProtocolConnectionSource.acquire_connection`` lends.
    type LentConnection = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]

T = TypeVar("T")


@dataclass(frozen=True)
class FakeRecord:
    """A consumed record (``ProtocolConsumerRecord``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp: int = 0


class FakeConsumer:
    """``ProtocolKafkaConsumer`` over an in-memory log per partition.

    A partition's fetch position starts at its committed offset (0 if none);
    ``getmany`` yields to the event loop once, then returns records of assigned,
    unpaused partitions from their positions and advances them. ``timeline``
    receives ``"commit"`` on every successful commit, for ordering assertions.
    """

    def __init__(self, partitions: Iterable[Partition] = (), timeline: list[str] | None = None) -> None:
        self.logs: dict[Partition, list[FakeRecord]] = {}
        self.positions: dict[Partition, int] = {}
        self.committed: dict[Partition, int] = {}
        self.commits: list[dict[Partition, int]] = []
        self.assigned: set[Partition] = set()
        self.paused: set[Partition] = set()
        self.seeks: list[tuple[Partition, int]] = []
        self.getmany_calls = 0
        self.commit_failures: list[Exception] = []
        self.timeline = timeline if timeline is not None else []
        for partition in partitions:
            self.assign(partition)

    # --- test controls -------------------------------------------------------------
    def assign(self, partition: Partition, committed: int | None = None) -> None:
        if committed is not None:
            self.committed[partition] = committed
        self.assigned.add(partition)
        self.logs.setdefault(partition, [])
        self.positions[partition] = self.committed.get(partition, 0)

    def unassign(self, partition: Partition) -> None:
        self.assigned.discard(partition)
        self.paused.discard(partition)

    def append(self, partition: Partition, count: int = 1, key: bytes | None = b"k") -> list[FakeRecord]:
        log = self.logs.setdefault(partition, [])
        added = [
            FakeRecord(partition.topic, partition.partition, len(log) + i, key, f"v{len(log) + i}".encode())
            for i in range(count)
        ]
        log.extend(added)
        return added

    # --- ProtocolKafkaConsumer -----------------------------------------------------
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(
        self, timeout_ms: int, max_records: int
    ) -> dict[Partition, list[ProtocolConsumerRecord]]:
        self.getmany_calls += 1
        await asyncio.sleep(0)
        batch: dict[Partition, list[ProtocolConsumerRecord]] = {}
        budget = max_records
        for partition in sorted(self.assigned - self.paused):
            start = self.positions[partition]
            records: list[ProtocolConsumerRecord] = list(self.logs[partition][start : start + budget])
            if records:
                batch[partition] = records
                self.positions[partition] = start + len(records)
                budget -= len(records)
            if budget == 0:
                break
        return batch

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        if self.commit_failures:
            raise self.commit_failures.pop(0)
        self.commits.append(dict(offsets))
        self.committed.update(offsets)
        self.timeline.append("commit")

    def seek(self, partition: Partition, offset: int) -> None:
        self.seeks.append((partition, offset))
        self.positions[partition] = offset

    def pause(self, partitions: Iterable[Partition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: Iterable[Partition]) -> None:
        self.paused.difference_update(partitions)

    def assignment(self) -> set[Partition]:
        return set(self.assigned)

    def highwater(self, partition: Partition) -> int | None:
        return len(self.logs[partition]) if partition in self.assigned else None


@dataclass(frozen=True)
class SentRecord:
    topic: str
    value: bytes
    key: bytes | None
    headers: Headers | None
    partition: int | None


class FakePublisher:
    """``ProtocolRecordPublisher`` that records acknowledged sends.

    Each send first takes the next entry of ``failures``: an exception is raised,
    ``None`` lets that send through. ``fail_always`` fails every send.
    """

    def __init__(self) -> None:
        self.sent: list[SentRecord] = []
        self.attempts = 0
        self.failures: list[Exception | None] = []
        self.fail_always: Exception | None = None
        self.lingered: list[bool] = []  # each send's ``linger``
        self.batches: list[int] = []  # the records of each ``send_batch``

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Headers | None = None,
        partition: int | None = None,
        *,
        linger: bool = True,
    ) -> tuple[int, int]:
        self.attempts += 1
        self.lingered.append(linger)
        if self.fail_always is not None:
            raise self.fail_always
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.sent.append(SentRecord(topic, value, key, headers, partition))
        return (partition or 0, len(self.sent) - 1)

    async def send_batch(self, records: Sequence[OutboundEvent]) -> list[tuple[int, int] | Exception]:
        """``KafkaProducerPool.send_batch``: each record as a ``send`` without linger, its ack or error."""
        self.batches.append(len(records))
        results: list[tuple[int, int] | Exception] = []
        for record in records:
            try:
                headers = list(record.headers)
                results.append(await self.send(record.topic, record.value, record.key, headers, linger=False))
            except Exception as exc:
                results.append(exc)
        return results

    def to(self, topic: str) -> list[SentRecord]:
        return [record for record in self.sent if record.topic == topic]


class FakeGuard:
    """``ProtocolGuard``: runs the call, or raises ``CircuitOpenError`` while ``open``."""

    def __init__(self, name: str = "fake", *, open: bool = False) -> None:
        self.name = name
        self.open = open
        self.calls = 0
        self.refused = 0

    def allows_calls(self) -> bool:
        return not self.open

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.calls += 1
        if self.open:
            self.refused += 1
            raise CircuitOpenError(self.name, 30.0)
        return await fn()


class FakeGate:
    """``ProtocolTrafficGate`` switched by hand; counts how often it was asked."""

    def __init__(self, *, open: bool = True) -> None:
        self.open = open
        self.checks = 0

    def allows_traffic(self) -> bool:
        self.checks += 1
        return self.open


class UntouchableDatabase:
    """``ProtocolConnectionSource`` for code paths that must not reach PostgreSQL."""

    def __init__(self) -> None:
        self.acquired = 0

    def acquire_connection(self) -> AbstractAsyncContextManager[LentConnection]:
        self.acquired += 1
        raise AssertionError("this code path must not touch the database")


class SentinelDatabase:
    """``ProtocolConnectionSource`` lending a connection object that fails on any use.

    For paths that acquire a connection but must decide without running SQL.
    """

    def __init__(self) -> None:
        self.acquired = 0

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LentConnection]:
        self.acquired += 1
        yield cast("LentConnection", UnusableConnection())


class UnusableConnection:
    """A stand-in connection: any attribute access fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"connection.{name} used on a path that must not run SQL")


async def spin_until(predicate: Callable[[], bool], *, max_spins: int = 2000) -> None:
    """Yield to the event loop until ``predicate()`` holds; fail if it never does."""
    for _ in range(max_spins):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def spin(times: int = 50) -> None:
    """Yield to the event loop ``times`` times (lets a running loop go round)."""
    for _ in range(times):
        await asyncio.sleep(0)


@dataclass(frozen=True)
class FakeOperation:
    """``ProtocolOperation``."""

    name: str
    sql: str = "SELECT 1"
    read_only: bool = True
    parameter_names: tuple[str, ...] = ()
    relay_topic_parameters: tuple[str, ...] = ()


class FakeCatalog:
    """``ProtocolOperationCatalog`` over a dict; ``problems`` are returned by ``validate_parameters``."""

    def __init__(self, *operations: FakeOperation, problems: Sequence[str] = ()) -> None:
        self.operations = {op.name: op for op in operations}
        self.problems = list(problems)

    def get_operation(self, name: str) -> FakeOperation | None:
        return self.operations.get(name)

    def validate_parameters(self, name: str, parameters: Mapping[str, JsonValue]) -> list[str]:
        return list(self.problems)


def encode_reply(
    request: Envelope, reply: ModelOperationReply, reply_id: uuid.UUID, event_type: str
) -> bytes:
    """The reply envelope the service sends: same correlation id, parent = the request."""
    from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope

    envelope = ModelEventEnvelope[JsonValue](
        payload=reply.model_dump(mode="json"),
        envelope_id=reply_id,
        correlation_id=request.correlation_id,
        parent_envelope_id=request.envelope_id,
        event_type=event_type,
    )
    return encode_envelope(envelope)


HEALTH_AT = datetime(2026, 1, 1, tzinfo=UTC)


def breaker(name: str, state: CircuitState) -> ModelCircuitBreakerMetrics:
    return ModelCircuitBreakerMetrics(
        name=name,
        state=state,
        failure_count=0,
        successful_calls=0,
        failed_calls=0,
        ignored_calls=0,
        not_permitted_calls=0,
        success_rate=1.0,
        events_queued=0,
        events_spilled=0,
        transitions=0,
    )


def postgres_health(status: HealthStatus, error: str | None = None) -> ModelPostgresHealth:
    return ModelPostgresHealth(
        status=status,
        connection_pool=ModelPoolSnapshot(size=2, min_size=2, max_size=10, idle_connections=2),
        performance=ModelQueryPerformance(
            total_queries=0, failed_connections=0, reconnect_count=0, average_response_time_ms=0.0
        ),
        error=error,
    )


def health_metrics(
    *,
    timestamp: datetime = HEALTH_AT,
    postgres_healthy: bool = True,
    kafka_healthy: bool = True,
    postgres_metrics: ModelPostgresHealth | None = None,
    kafka_metrics: ModelKafkaHealth | None = None,
    breakers: list[ModelCircuitBreakerMetrics] | None = None,
) -> InfrastructureHealthMetrics:
    return InfrastructureHealthMetrics(
        overall_status="healthy",
        timestamp=timestamp,
        environment="development",
        postgres_healthy=postgres_healthy,
        kafka_healthy=kafka_healthy,
        circuit_breaker_healthy=True,
        total_connections=0,
        total_messages_processed=0,
        total_events_queued=0,
        error_rate_percent=0.0,
        avg_db_response_time_ms=0.0,
        avg_kafka_throughput_mps=0.0,
        circuit_breaker_success_rate=1.0,
        postgres_metrics=postgres_metrics,
        kafka_metrics=kafka_metrics,
        circuit_breaker_metrics=breakers or [],
    )


class RecordingConnection:
    """Accepts ``transaction()`` and ``execute()`` and records the statements' arguments.

    For workflows whose SQL is exercised by the integration tests; here only
    *what* gets written and *when* matters.
    """

    def __init__(self) -> None:
        self.executed: list[tuple[object, ...]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def execute(self, sql: str, *args: object) -> str:
        self.executed.append(args)
        return "INSERT 0 1"


class RecordingDatabase:
    """``ProtocolConnectionSource`` lending one ``RecordingConnection``."""

    def __init__(self) -> None:
        self.connection = RecordingConnection()

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LentConnection]:
        yield cast("LentConnection", self.connection)


class UniqueViolation(Exception):
    """Carries ``sqlstate`` 23505 like asyncpg's ``UniqueViolationError``."""

    sqlstate = "23505"


class EventStoreConnection:
    """Just enough of a connection for ``write_events``: a table keyed by envelope id.

    Records which COPY target each batch went to (``copied_into``): the table itself,
    or the staging table. A direct COPY that meets a stored id fails as PostgreSQL's does.
    """

    def __init__(self) -> None:
        self.stored: dict[object, tuple[object, ...]] = {}
        self.copied_into: list[str] = []
        self._staged: list[tuple[object, ...]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def copy_to_table(
        self,
        table: str,
        *,
        source: AsyncIterable[bytes],
        columns: Sequence[str],
        schema_name: str | None = None,
    ) -> str:
        """COPY of ``event_store_writer.copy_text``: one row a line, the envelope id first."""
        data = b"".join([chunk async for chunk in source])
        records = [tuple(line.split("\t")) for line in data.decode("utf-8").splitlines()]
        self.copied_into.append(table)
        if table != "onex_event_store":
            self._staged = list(records)
            return f"COPY {len(records)}"
        if any(r[0] in self.stored for r in records):
            raise UniqueViolation("duplicate key value violates unique constraint")
        self.stored.update((r[0], r) for r in records)
        return f"COPY {len(records)}"

    async def execute(self, sql: str, *args: object) -> str:
        if "CREATE TEMPORARY TABLE" in sql:
            return "CREATE TABLE"
        staged, self._staged = self._staged, []
        new = [r for r in staged if r[0] not in self.stored]
        self.stored.update((r[0], r) for r in new)
        return f"INSERT 0 {len(new)}"


class EventStoreDatabase:
    """``ProtocolConnectionSource`` lending one ``EventStoreConnection``."""

    def __init__(self) -> None:
        self.connection = EventStoreConnection()

    @asynccontextmanager
    async def acquire_connection(self) -> AsyncIterator[LentConnection]:
        yield cast("LentConnection", self.connection)
