"""Applies one consumed batch: the event-store and operations workflows plus the DLQ.

Per batch (one call of ``handle``, or ``prepare`` then ``apply``):
1. every record is decoded once (``prepare``: CPU only, no I/O); undecodable or
   invalid ones become dead letters; event-store records are decoded straight
   into rows;
2. envelopes from event-store topics are folded (duplicate envelope ids kept
   once, order per partition kept) and written in one transaction through the
   PostgreSQL breaker; rows PostgreSQL rejects as data/constraint errors become
   dead letters;
3. commands are run one by one, in order, through the PostgreSQL breaker; each
   reply is published through the Kafka breaker as soon as its command is done,
   and every reply is acknowledged before ``apply`` returns; a reply the broker
   refuses for good (too large, corrupt) is replaced by a small failed reply
   (``OperationExecutor.refused_reply``, kept in the inbox), so a poison command
   is answered once and never retried; failed commands are also dead-lettered;
4. dead letters are published to ``T.dlq`` and acknowledged (sent together).
Any outage raises, and the consumer loop rewinds and pauses: everything here
is idempotent, so re-applying a batch adds nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import PoisonRecordError
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import Batch
from omnibase_infra.nodes.kafka_adapter.v1_0_0.dead_letter import DeadLetterWriter
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope, decode_stored_fields
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import write_events
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.observability.propagation import TRACEPARENT, extract_trace_context
from omnibase_infra.observability.spans import (
    set_delivery_attributes,
    trace_database_operation,
    trace_kafka_operation,
)
from omnibase_infra.workflow.dlq_stages import STAGE_ROUTE
from omnibase_infra.workflow.protocols import (
    Headers,
    ProtocolConnectionSource,
    ProtocolGuard,
    ProtocolRecordOrigin,
    ProtocolRecordPublisher,
    ProtocolTopicAcl,
)
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    Partition,
    SourceRecord,
    StoredEvent,
    WriteResult,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope


class ProtocolBatchObserver(Protocol):
    """Hooks for metrics, audit and tracing; every method must be cheap and never raise."""

    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None: ...
    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None: ...
    def on_dead_letter(self, letter: DeadLetter) -> None: ...


_logger = logging.getLogger(__name__)


class _NoObserver:
    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None:
        return None

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        return None

    def on_dead_letter(self, letter: DeadLetter) -> None:
        return None


class _GuardedObserver:
    """Calls an observer and logs what it raises: metrics and audit must never stall a batch.

    The work a batch did is applied and committed whatever the observer does; a failing
    observer costs a log line, never a retried batch.
    """

    def __init__(self, inner: ProtocolBatchObserver) -> None:
        self._inner = inner

    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None:
        try:
            self._inner.on_stored(result, rows)
        except Exception:
            _logger.exception("batch observer failed in on_stored")

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        try:
            self._inner.on_operation(source, request, outcome)
        except Exception:
            _logger.exception("batch observer failed in on_operation")

    def on_dead_letter(self, letter: DeadLetter) -> None:
        try:
            self._inner.on_dead_letter(letter)
        except Exception:
            _logger.exception("batch observer failed in on_dead_letter")


YIELD_EVERY = 64
MAX_TRACKED_TRIES = 10_000


def _coordinates(letter: DeadLetter) -> tuple[str, int, int]:
    return letter.record.topic, letter.record.partition, letter.record.offset


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
class PreparedBatch:
    """A decoded, routed batch (``RecordBatchProcessor.prepare``), ready for ``apply``."""

    stored: list[StoredEvent] = field(default_factory=list)
    commands: list[tuple[SourceRecord, Envelope]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    read_from: set[Partition] = field(default_factory=set)

    def only(self, partitions: set[Partition]) -> PreparedBatch:
        """The part of this batch read from ``partitions`` (order kept)."""

        def keep(source: ProtocolRecordOrigin) -> bool:
            return Partition(source.topic, source.partition) in partitions

        return PreparedBatch(
            [row for row in self.stored if keep(row.source)],
            [command for command in self.commands if keep(command[0])],
            [letter for letter in self.dead if keep(letter.record)],
            self.read_from & partitions,
        )


async def _settle[R](tasks: Sequence[asyncio.Future[R]]) -> list[R]:
    """Wait for every task; then raise the first failure, if any; else their results."""
    if not tasks:
        return []
    results = await asyncio.gather(*tasks, return_exceptions=True)
    settled: list[R] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        settled.append(result)
    return settled


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
        topic_acl: ProtocolTopicAcl | None = None,
    ) -> None:
        self._store_topics = frozenset(event_store_topics)
        self._command_topics = frozenset(command_topics)
        self._database = database
        self._db_guard = database_guard
        self._publisher = publisher
        self._publish_guard = publish_guard
        self._topic_acl = topic_acl
        self._dlq = DeadLetterWriter(publisher, topic_acl)
        self._executor = executor
        self._reply_headers = reply_headers
        self._fold = fold
        self._group = consumer_group
        self._max_links = max_span_links
        self._observer: ProtocolBatchObserver = _GuardedObserver(observer or _NoObserver())
        self._clock = clock
        self._replaying = False
        self._tries: dict[tuple[str, int, int], int] = {}
        self.stats = BatchStats()

    async def handle(self, batch: Batch) -> None:
        await self.apply(await self.prepare(batch))

    async def prepare(self, batch: Batch) -> PreparedBatch:
        """Decode and route every record of ``batch`` (no I/O; never raises for a record).

        Event-store records are decoded straight into rows (``decode_stored_fields``);
        commands and records of other topics are decoded into envelopes. Every
        ``YIELD_EVERY`` records it yields to the event loop, so that a batch being
        written meanwhile (the consumer loop's pipelining) keeps moving.
        """
        prepared = PreparedBatch(read_from={p for p, records in batch.items() if records})
        store_only = self._store_topics - self._command_topics
        command_topics = self._command_topics
        stored = prepared.stored
        decode_stored = decode_stored_fields
        new_tuple = tuple.__new__
        budget = YIELD_EVERY
        for records in batch.values():
            for record in records:
                budget -= 1
                if not budget:
                    budget = YIELD_EVERY
                    await asyncio.sleep(0)
                topic = record.topic
                try:
                    if topic in store_only:
                        # The hot path: the consumed record itself is the row's source (a
                        # ``SourceRecord`` is only built for the rare dead letter).
                        envelope_id, kind, correlation, at, payload, meta = decode_stored(record.value)
                        # tuple.__new__: a NamedTuple's own __new__ is a Python function.
                        coordinates = (envelope_id, topic, record.partition, record.offset)
                        row = (*coordinates, kind, correlation, at, payload, meta, record)
                        stored.append(new_tuple(StoredEvent, row))
                        continue
                    envelope = decode_envelope(record.value)
                except PoisonRecordError as error:
                    prepared.dead.append(DeadLetter.from_error(record, error, self._clock.now()))
                    continue
                if topic in command_topics:
                    prepared.commands.append((SourceRecord.of(record), envelope))
                else:
                    unrouted = PoisonRecordError(
                        STAGE_ROUTE, "UnroutedTopic", f"no workflow consumes {topic}"
                    )
                    prepared.dead.append(DeadLetter.from_error(record, unrouted, self._clock.now()))
        return prepared

    async def apply_prepared(self, prepared: PreparedBatch, partitions: set[Partition]) -> None:
        """``apply`` the records of ``prepared`` read from ``partitions`` (the loop's live ones)."""
        await self.apply(prepared if prepared.read_from <= partitions else prepared.only(partitions))

    async def apply(self, prepared: PreparedBatch) -> None:
        """Store, run commands, dead-letter: complete when it returns, raises on any outage."""
        dead = list(prepared.dead)
        if prepared.stored:
            dead.extend(await self._store(prepared.stored))
        replies: list[asyncio.Future[DeadLetter | None]] = []
        try:
            for source, envelope in prepared.commands:
                await self._run_command(source, envelope, replies)
        finally:
            # Replies are sent as their commands complete and acknowledged together here;
            # the first failure is raised once all have settled (no task is left behind).
            answered = await _settle(replies)
        dead.extend(letter for letter in answered if letter is not None)
        dead = [self._count_try(letter) for letter in dead]
        await _settle([asyncio.ensure_future(self._write_dead_letter(letter)) for letter in dead])
        for letter in dead:
            self._tries.pop(_coordinates(letter), None)
        for letter in dead:
            self.stats.dead_letters += 1
            self.stats.by_stage[letter.stage] = self.stats.by_stage.get(letter.stage, 0) + 1
            self._observer.on_dead_letter(letter)

    def _count_try(self, letter: DeadLetter) -> DeadLetter:
        """``letter`` with the earlier tries of its record added: tries whose batch was
        rewound before the dead letter was acknowledged (e.g. the DLQ write hit an outage)."""
        key = _coordinates(letter)
        earlier = self._tries.get(key, 0)
        self._tries[key] = earlier + 1
        if len(self._tries) > MAX_TRACKED_TRIES:
            # Records of partitions this instance lost are never retried here: forget the oldest.
            self._tries.pop(next(iter(self._tries)))
        return replace(letter, attempts=letter.attempts + earlier) if earlier else letter

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
                return await write_events(conn, folded, expect_duplicates=self._replaying)

        async with trace_kafka_operation(
            "process",
            topics[0] if len(topics) == 1 else ",".join(topics),
            consumer_group=self._group,
            batch_size=len(folded),
            links=links,
        ):
            result = await self._db_guard.call(write)
        # A batch with stored rows means a replay (a rewind, a redelivery): expect more.
        replaying = result.duplicates > 0
        if replaying != self._replaying:
            self._replaying = replaying
            if replaying:
                _logger.info(
                    "event store: %d of %d rows were already stored (a redelivery or a replay); "
                    "writing through the staging table until a batch has none",
                    result.duplicates,
                    len(folded),
                )
            else:
                _logger.info("event store: a batch with no stored rows; writing with COPY again")
        self.stats.stored += result.inserted
        self.stats.duplicates += result.duplicates + (len(rows) - len(folded))
        self._observer.on_stored(result, folded)
        now = self._clock.now()
        return [DeadLetter.from_error(row.source, err, now) for row, err in result.rejected]

    async def _run_command(
        self, source: SourceRecord, request: Envelope, replies: list[asyncio.Future[DeadLetter | None]]
    ) -> None:
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
            # The task copies the current context, so its "send" span is a child of "process".
            replies.append(asyncio.ensure_future(self._answer(source, request, outcome)))
        self.stats.operations += 1

    async def _answer(
        self, source: SourceRecord, request: Envelope, outcome: OperationOutcome
    ) -> DeadLetter | None:
        """Publish the reply (or its failed replacement); the command's dead letter, if it failed.

        An outage raises (the batch is rewound, the command answered on redelivery); a reply
        the broker refuses for good is replaced once, and the replacement is small (sent
        without the command's key if even it is refused: the key alone was too large).
        """
        try:
            await self._send_reply(source, request, outcome)
        except PoisonRecordError as error:
            refused = error  # the closure below outlives the except clause's name
            _logger.warning(
                "the reply to command %s was refused (%s); answering with a failed reply",
                request.envelope_id,
                refused.poison_class,
            )

            async def substitute() -> OperationOutcome:
                async with self._database.acquire_connection() as conn:
                    return await self._executor.refused_reply(conn, request, refused)

            outcome = await self._db_guard.call(substitute)
            try:
                await self._send_reply(source, request, outcome)
            except PoisonRecordError:
                # Only the command's own key can make a small failed reply too large.
                _logger.warning("the failed reply to command %s is sent without its key", request.envelope_id)
                await self._send_reply(source, request, outcome, keyed=False)
        self._observer.on_operation(source, request, outcome)
        if outcome.poison is None:
            return None
        return DeadLetter.from_error(source, outcome.poison, self._clock.now())

    async def _send_reply(
        self, source: SourceRecord, request: Envelope, outcome: OperationOutcome, *, keyed: bool = True
    ) -> tuple[int, int]:
        key = source.key if keyed else None
        async with trace_kafka_operation(
            "send", outcome.reply_topic, key=key, correlation_id=request.correlation_id
        ) as span:
            headers = self._reply_headers(request) if self._reply_headers else None
            if self._topic_acl is not None:
                self._topic_acl.require(outcome.reply_topic, "reply")

            async def send() -> tuple[int, int]:
                return await self._publisher.send(
                    outcome.reply_topic, outcome.reply_value, key=key, headers=headers
                )

            partition, offset = await self._publish_guard.call(send)
            set_delivery_attributes(span, partition, offset)
            return partition, offset

    async def _execute(self, request: Envelope) -> OperationOutcome:
        async with self._database.acquire_connection() as conn:
            return await self._executor.execute(conn, request)


__all__ = ["BatchStats", "PreparedBatch", "ProtocolBatchObserver", "RecordBatchProcessor", "fold_duplicates"]
