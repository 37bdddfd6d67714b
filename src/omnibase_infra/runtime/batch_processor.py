"""Applies one consumed batch: the event-store and operations workflows plus the DLQ.

Per batch (one call of ``handle``):
1. every record is decoded; undecodable or invalid ones become dead letters;
2. envelopes from event-store topics are folded (duplicate envelope ids kept
   once, order per partition kept) and written in one transaction through the
   PostgreSQL breaker; rows PostgreSQL rejects as data/constraint errors become
   dead letters;
3. commands are run one by one through the PostgreSQL breaker; each reply is
   published and acknowledged through the Kafka breaker; failed commands are
   also dead-lettered;
4. dead letters are published to ``T.dlq`` and acknowledged.
Any outage raises, and the consumer loop rewinds and pauses: everything here
is idempotent, so re-applying a batch adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.observability.propagation import TRACEPARENT, extract_trace_context
from omnibase_infra.observability.spans import trace_database_operation, trace_kafka_operation
from omnibase_infra.runtime.consumer_loop import Batch
from omnibase_infra.runtime.dead_letter import DeadLetter, DeadLetterWriter, SourceRecord
from omnibase_infra.runtime.envelope_codec import decode_envelope
from omnibase_infra.runtime.event_store_writer import StoredEvent, WriteResult, write_events
from omnibase_infra.runtime.operation_executor import OperationExecutor, OperationOutcome
from omnibase_infra.runtime.protocols import (
    Headers,
    ProtocolConnectionSource,
    ProtocolGuard,
    ProtocolRecordPublisher,
)

if TYPE_CHECKING:
    from omnibase_infra.runtime.envelope_codec import Envelope


class ProtocolBatchObserver(Protocol):
    """Hooks for metrics, audit and tracing; every method must be cheap and never raise."""

    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None: ...
    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None: ...
    def on_dead_letter(self, letter: DeadLetter) -> None: ...


class _NoObserver:
    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None:
        return None

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        return None

    def on_dead_letter(self, letter: DeadLetter) -> None:
        return None


STAGE_ROUTE = "route"

FoldEvents = Callable[[list[StoredEvent]], list[StoredEvent]]


def fold_duplicates(rows: list[StoredEvent]) -> list[StoredEvent]:
    """Keep the first occurrence of each envelope id, in input order."""
    seen: set[object] = set()
    kept: list[StoredEvent] = []
    for row in rows:
        if row.envelope_id not in seen:
            seen.add(row.envelope_id)
            kept.append(row)
    return kept


@dataclass
class BatchStats:
    stored: int = 0
    duplicates: int = 0
    operations: int = 0
    dead_letters: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


class RecordBatchProcessor:
    """The ``ProtocolBatchHandler`` of the service; see the module docstring."""

    def __init__(
        self,
        *,
        event_store_topics: Iterable[str],
        command_topics: Iterable[str],
        database: ProtocolConnectionSource,
        database_guard: ProtocolGuard,
        publisher: ProtocolRecordPublisher,
        publish_guard: ProtocolGuard,
        executor: OperationExecutor,
        reply_headers: Callable[[Envelope], Headers] | None = None,
        fold: FoldEvents = fold_duplicates,
        consumer_group: str | None = None,
        max_span_links: int = 64,
        observer: ProtocolBatchObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store_topics = frozenset(event_store_topics)
        self._command_topics = frozenset(command_topics)
        self._database = database
        self._db_guard = database_guard
        self._publisher = publisher
        self._publish_guard = publish_guard
        self._dlq = DeadLetterWriter(publisher)
        self._executor = executor
        self._reply_headers = reply_headers
        self._fold = fold
        self._group = consumer_group
        self._max_links = max_span_links
        self._observer: ProtocolBatchObserver = observer or _NoObserver()
        self._clock = clock
        self.stats = BatchStats()

    async def handle(self, batch: Batch) -> None:
        stored: list[StoredEvent] = []
        commands: list[tuple[SourceRecord, Envelope]] = []
        dead: list[DeadLetter] = []
        for records in batch.values():
            for record in records:
                source = SourceRecord(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.key,
                    record.value,
                    tuple(record.headers),
                )
                try:
                    envelope = decode_envelope(record.value)
                except PoisonRecordError as error:
                    dead.append(DeadLetter.from_error(source, error, 1, self._clock.now()))
                    continue
                if record.topic in self._command_topics:
                    commands.append((source, envelope))
                elif record.topic in self._store_topics:
                    stored.append(StoredEvent.from_envelope(source, envelope))
                else:
                    unrouted = PoisonRecordError(
                        STAGE_ROUTE, "UnroutedTopic", f"no workflow consumes {record.topic}"
                    )
                    dead.append(DeadLetter.from_error(source, unrouted, 1, self._clock.now()))
        if stored:
            dead.extend(await self._store(stored))
        for source, envelope in commands:
            letter = await self._run_command(source, envelope)
            if letter is not None:
                dead.append(letter)
        for letter in dead:
            await self._write_dead_letter(letter)
            self.stats.dead_letters += 1
            self.stats.by_stage[letter.stage] = self.stats.by_stage.get(letter.stage, 0) + 1
            self._observer.on_dead_letter(letter)

    async def _write_dead_letter(self, letter: DeadLetter) -> None:
        async def write() -> tuple[int, int]:
            return await self._dlq.write(letter)

        await self._publish_guard.call(write)

    async def _store(self, rows: list[StoredEvent]) -> list[DeadLetter]:
        folded = self._fold(rows)
        links = [
            extract_trace_context(row.source.headers)
            for row in folded[: self._max_links]
            if any(name == TRACEPARENT for name, _ in row.source.headers)
        ]
        topics = sorted({row.topic for row in folded})

        async def write() -> WriteResult:
            async with (
                self._database.acquire_connection() as conn,
                trace_database_operation("INSERT", collection="onex_event_store", batch_size=len(folded)),
            ):
                return await write_events(conn, folded)

        async with trace_kafka_operation(
            "process",
            topics[0] if len(topics) == 1 else ",".join(topics),
            consumer_group=self._group,
            batch_size=len(folded),
            links=links,
        ):
            result = await self._db_guard.call(write)
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates + (len(rows) - len(folded))
        self._observer.on_stored(result, folded)
        now = self._clock.now()
        return [DeadLetter.from_error(row.source, err, 1, now) for row, err in result.rejected]

    async def _run_command(self, source: SourceRecord, request: Envelope) -> DeadLetter | None:
        parent = extract_trace_context(source.headers, request)
        async with trace_kafka_operation(
            "process",
            source.topic,
            partition=source.partition,
            offset=source.offset,
            key=source.key,
            correlation_id=request.correlation_id,
            consumer_group=self._group,
            parent=parent,
        ):
            outcome = await self._db_guard.call(lambda: self._execute(request))
            async with trace_kafka_operation(
                "send", outcome.reply_topic, key=source.key, correlation_id=request.correlation_id
            ):
                headers = self._reply_headers(request) if self._reply_headers else None

                async def send() -> tuple[int, int]:
                    return await self._publisher.send(
                        outcome.reply_topic, outcome.reply_value, key=source.key, headers=headers
                    )

                await self._publish_guard.call(send)
        self.stats.operations += 1
        self._observer.on_operation(source, request, outcome)
        if outcome.poison is None:
            return None
        return DeadLetter.from_error(source, outcome.poison, 1, self._clock.now())

    async def _execute(self, request: Envelope) -> OperationOutcome:
        async with self._database.acquire_connection() as conn:
            return await self._executor.execute(conn, request)


__all__ = ["BatchStats", "ProtocolBatchObserver", "RecordBatchProcessor", "fold_duplicates"]
