"""RecordBatchProcessor paths that never run SQL: poison to T.dlq, failed commands, breakers open."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import CircuitOpenError, OutageError
from omnibase_infra.models.model_operation_reply import FAILED_EVENT_TYPE, reply_id_for
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import ConsumerLoop
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope, stored_fields_of
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_executor import OperationExecutor
from omnibase_infra.runtime.batch_processor import RecordBatchProcessor, fold_duplicates
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.protocols import ProtocolConnectionSource
from omnibase_infra.workflow.records import (
    DeadLetter,
    OperationOutcome,
    Partition,
    ProtocolConsumerRecord,
    SourceRecord,
    StoredEvent,
    WriteResult,
    read_dlq_headers,
)

if TYPE_CHECKING:
    from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import Envelope

from .fakes import (
    EventStoreDatabase,
    FakeCatalog,
    FakeConsumer,
    FakeGate,
    FakeGuard,
    FakePublisher,
    FakeRecord,
    SentinelDatabase,
    UntouchableDatabase,
    encode_reply,
    spin,
    spin_until,
)

STORE = "onex.evt.orders.created.v1"
COMMANDS = "onex.cmd.postgres.operation.v1"
COMPLETED = "onex.evt.postgres.operation-completed.v1"
FAILED = "onex.evt.postgres.operation-failed.v1"


class RecordingObserver:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.operations: list[OperationOutcome] = []
        self.stored: list[WriteResult] = []

    def on_stored(self, result: WriteResult, rows: list[StoredEvent]) -> None:
        self.stored.append(result)

    def on_operation(self, source: SourceRecord, request: Envelope, outcome: OperationOutcome) -> None:
        self.operations.append(outcome)

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class Setup:
    def __init__(
        self,
        database: ProtocolConnectionSource | None = None,
        observer: RecordingObserver | None = None,
    ) -> None:
        self.database: ProtocolConnectionSource = database or UntouchableDatabase()
        self.db_guard = FakeGuard("postgres")
        self.publish_guard = FakeGuard("kafka")
        self.publisher = FakePublisher()
        self.observer = observer or RecordingObserver()
        self.processor = RecordBatchProcessor(
            event_store_topics=[STORE],
            command_topics=[COMMANDS],
            database=self.database,
            database_guard=self.db_guard,
            publisher=self.publisher,
            publish_guard=self.publish_guard,
            executor=OperationExecutor(
                FakeCatalog(), completed_topic=COMPLETED, failed_topic=FAILED, encode_reply=encode_reply
            ),
            reply_headers=lambda request: [("traceparent", b"00-trace")],
            observer=self.observer,
            clock=FakeClock(),
        )


def record(topic: str, offset: int, value: bytes | None, partition: int = 0) -> FakeRecord:
    return FakeRecord(topic, partition, offset, f"key-{offset}".encode(), value, (("h", b"v"),))


def batch_of(*records: FakeRecord) -> dict[Partition, list[ProtocolConsumerRecord]]:
    result: dict[Partition, list[ProtocolConsumerRecord]] = {}
    for r in records:
        result.setdefault(Partition(r.topic, r.partition), []).append(r)
    return result


POISON = [
    record(STORE, 0, b"\xff\xfe"),
    record(STORE, 1, b"{not json"),
    record(STORE, 2, b'{"sku": "A-1"}'),
    record(COMMANDS, 7, None),
]


async def test_a_batch_of_only_poison_goes_to_the_dlq_without_touching_the_database() -> None:
    setup = Setup()

    await setup.processor.handle(batch_of(*POISON))

    store_dlq = setup.publisher.to(STORE + ".dlq")
    assert [(r.key, r.value) for r in store_dlq] == [
        (b"key-0", b"\xff\xfe"),
        (b"key-1", b"{not json"),
        (b"key-2", b'{"sku": "A-1"}'),
    ]
    assert [read_dlq_headers(r.headers or ())["original.offset"] for r in store_dlq] == ["0", "1", "2"]
    assert [read_dlq_headers(r.headers or ())["stage"] for r in store_dlq] == [
        "decode",
        "decode",
        "validate",
    ]
    assert ("h", b"v") in list(store_dlq[0].headers or ())
    command_dlq = setup.publisher.to(COMMANDS + ".dlq")
    assert [(r.key, r.value) for r in command_dlq] == [(b"key-7", b"")]
    assert len(setup.publisher.sent) == 4

    assert setup.processor.stats.dead_letters == 4
    assert setup.processor.stats.by_stage == {"decode": 3, "validate": 1}
    assert setup.db_guard.calls == 0
    assert isinstance(setup.database, UntouchableDatabase)
    assert setup.database.acquired == 0
    assert len(setup.observer.letters) == 4
    assert setup.publish_guard.calls == 4, "every DLQ write goes through the Kafka breaker"


class ExplodingObserver(RecordingObserver):
    def on_dead_letter(self, letter: DeadLetter) -> None:
        raise ValueError("an audit model refused the record")


async def test_a_failing_observer_never_fails_the_batch() -> None:
    setup = Setup(observer=ExplodingObserver())

    await setup.processor.handle(batch_of(*POISON))

    assert len(setup.publisher.sent) == 4, "every dead letter was still written"
    assert setup.processor.stats.dead_letters == 4


async def test_open_publish_guard_makes_handle_raise_so_the_loop_rewinds() -> None:
    setup = Setup()
    setup.publish_guard.open = True

    with pytest.raises(CircuitOpenError):
        await setup.processor.handle(batch_of(*POISON))

    assert setup.publisher.sent == []
    assert setup.processor.stats.dead_letters == 0
    assert setup.observer.letters == []


async def test_publish_outage_propagates() -> None:
    setup = Setup()
    setup.publisher.fail_always = OutageError("broker unavailable")

    with pytest.raises(OutageError):
        await setup.processor.handle(batch_of(*POISON))

    assert setup.processor.stats.dead_letters == 0


def command(payload: JsonValue) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](payload=payload, correlation_id=uuid.uuid4())


async def test_failed_command_gets_a_failed_reply_and_a_dead_letter() -> None:
    setup = Setup(SentinelDatabase())
    request = command({"operation": "drop_everything", "parameters": {}})

    await setup.processor.handle(batch_of(record(COMMANDS, 4, encode_envelope(request))))

    [reply_record] = setup.publisher.to(FAILED)
    assert reply_record.key == b"key-4"
    assert list(reply_record.headers or ()) == [("traceparent", b"00-trace")]
    reply = decode_envelope(reply_record.value)
    assert reply.envelope_id == reply_id_for(request.envelope_id)
    assert reply.parent_envelope_id == request.envelope_id
    assert reply.correlation_id == request.correlation_id
    assert reply.event_type == FAILED_EVENT_TYPE
    assert isinstance(reply.payload, dict)
    assert reply.payload["status"] == "failed"

    [letter] = setup.publisher.to(COMMANDS + ".dlq")
    context = read_dlq_headers(letter.headers or ())
    assert (context["stage"], context["error.class"]) == ("operation", "UnknownOperation")
    assert setup.processor.stats.operations == 1
    assert setup.processor.stats.by_stage == {"operation": 1}
    assert setup.db_guard.calls == 1
    assert len(setup.observer.operations) == 1


async def test_command_with_the_database_guard_open_raises_and_publishes_nothing() -> None:
    setup = Setup(SentinelDatabase())
    setup.db_guard.open = True
    request = command({"operation": "anything"})

    with pytest.raises(CircuitOpenError):
        await setup.processor.handle(
            batch_of(record(COMMANDS, 0, encode_envelope(request)), record(STORE, 0, b"\xff"))
        )

    assert setup.publisher.sent == [], "no reply and no dead letter before the batch can be applied"
    assert setup.processor.stats.operations == 0


async def test_event_with_the_database_guard_open_raises_before_any_dead_letter() -> None:
    setup = Setup()
    setup.db_guard.open = True
    event = ModelEventEnvelope[JsonValue](payload={"sku": "A-1"})

    with pytest.raises(CircuitOpenError):
        await setup.processor.handle(batch_of(record(STORE, 0, encode_envelope(event)), *POISON))

    assert setup.publisher.sent == []
    assert setup.processor.stats.stored == 0


async def test_poison_never_blocks_the_partition_and_an_open_breaker_never_loses_it() -> None:
    """End to end with the loop: DLQ'd and committed; with Kafka down, paused and retried."""
    setup = Setup()
    partition = Partition(STORE, 0)
    consumer = FakeConsumer([partition])
    consumer.logs[partition] = [record(STORE, 0, b"\xff"), record(STORE, 1, b"[]")]
    gate = FakeGate(open=False)
    setup.publish_guard.open = True
    loop = ConsumerLoop(consumer, setup.processor, gate, poll_timeout_ms=1, clock=FakeClock())

    task = asyncio.create_task(loop.run())
    try:
        await spin_until(lambda: loop.paused)
        await spin(20)
        assert consumer.commits == []
        assert setup.publisher.sent == []

        setup.publish_guard.open = False
        gate.open = True
        await spin_until(lambda: loop.batches_committed == 1)

        assert consumer.commits == [{partition: 2}]
        assert len(setup.publisher.to(STORE + ".dlq")) == 2
    finally:
        loop.stop()
        await task


def stored_event(envelope: ModelEventEnvelope[JsonValue], offset: int) -> StoredEvent:
    source = SourceRecord(STORE, 0, offset, None, encode_envelope(envelope), ())
    return StoredEvent.from_fields(source, stored_fields_of(envelope))


def test_fold_keeps_the_first_occurrence_of_each_envelope_in_order() -> None:
    a = ModelEventEnvelope[JsonValue](payload={"n": 1})
    b = ModelEventEnvelope[JsonValue](payload={"n": 2})
    c = ModelEventEnvelope[JsonValue](payload={"n": 3})
    rows = [
        stored_event(a, 0),
        stored_event(b, 1),
        stored_event(a, 2),
        stored_event(c, 3),
        stored_event(b, 4),
    ]

    folded = fold_duplicates(rows)

    assert [(row.envelope_id, row.offset) for row in folded] == [
        (a.envelope_id, 0),
        (b.envelope_id, 1),
        (c.envelope_id, 3),
    ]


def test_fold_of_distinct_rows_changes_nothing() -> None:
    rows = [stored_event(ModelEventEnvelope[JsonValue](payload=i), i) for i in range(5)]

    assert fold_duplicates(rows) == rows
    assert fold_duplicates([]) == []


async def test_prepared_records_of_partitions_no_longer_live_are_not_applied() -> None:
    setup = Setup()
    batch = batch_of(record(STORE, 0, b"\xff", partition=0), record(STORE, 0, b"\xfe", partition=1))

    prepared = await setup.processor.prepare(batch)
    assert setup.publisher.sent == [], "prepare does no I/O"
    await setup.processor.apply_prepared(prepared, {Partition(STORE, 1)})

    assert [r.value for r in setup.publisher.to(STORE + ".dlq")] == [b"\xfe"]
    assert setup.processor.stats.dead_letters == 1


async def test_prepare_then_apply_equals_handle() -> None:
    by_handle, by_steps = Setup(), Setup()

    await by_handle.processor.handle(batch_of(*POISON))
    await by_steps.processor.apply_prepared(
        await by_steps.processor.prepare(batch_of(*POISON)), set(batch_of(*POISON))
    )

    assert [(r.topic, r.value) for r in by_steps.publisher.sent] == [
        (r.topic, r.value) for r in by_handle.publisher.sent
    ]
    assert by_steps.processor.stats == by_handle.processor.stats


def events(first: int, count: int) -> list[FakeRecord]:
    return [
        record(STORE, offset, encode_envelope(ModelEventEnvelope[JsonValue](payload={"n": offset})))
        for offset in range(first, first + count)
    ]


async def test_a_replayed_batch_switches_the_writer_to_the_staging_path_until_a_batch_is_new(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="omnibase_infra.runtime.batch_processor")
    database = EventStoreDatabase()
    setup = Setup(database=database)
    first, second = events(0, 150), events(150, 150)

    await setup.processor.handle(batch_of(*first))  # new rows: straight into the table
    await setup.processor.handle(batch_of(*first))  # replayed: the direct COPY fails, staged
    await setup.processor.handle(batch_of(*second))  # after a replay: staged at once
    await setup.processor.handle(batch_of(*events(300, 150)))  # the last batch had none: direct

    assert database.connection.copied_into == [
        "onex_event_store",
        "onex_event_store",
        "onex_event_store_stage",
        "onex_event_store_stage",
        "onex_event_store",
    ]
    assert len(database.connection.stored) == 450
    assert (setup.processor.stats.stored, setup.processor.stats.duplicates) == (450, 150)
    switches = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event store:")]
    assert switches == [
        "event store: 150 of 150 rows were already stored (a redelivery or a replay); "
        "writing through the staging table until a batch has none",
        "event store: a batch with no stored rows; writing with COPY again",
    ]
