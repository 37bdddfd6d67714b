"""The records workflows on the hosted nodes, paths that never run SQL: poison to T.dlq, failed
commands, breakers open, the fold, pipelining, the replay switch.

Batches go through group_gateway (``handle``, or ``prepare`` then ``apply_prepared``) into the
composition's ``event_store`` and ``operations`` workflows, run step by step by
infrastructure_orchestrator on the real nodes (``workflow_harness``: fakes for the pool, the
producers, the breakers and the consumer).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping

import pytest
from omnibase_core.models.events.model_event_envelope import ModelEventEnvelope
from pydantic import JsonValue

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import CircuitOpenError, OutageError
from omnibase_infra.models.model_operation_reply import FAILED_EVENT_TYPE, reply_id_for
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import ConsumerLoop
from omnibase_infra.nodes.kafka_wrapper.v1_0_0.envelope_codec import decode_envelope, stored_fields_of
from omnibase_infra.workflow.envelopes import encode_envelope
from omnibase_infra.workflow.operations import StepContext
from omnibase_infra.workflow.payloads import ConsumedBatch, EventBatch
from omnibase_infra.workflow.protocols import ProtocolConnectionSource
from omnibase_infra.workflow.records import (
    DeadLetter,
    Partition,
    ProtocolConsumerRecord,
    SourceRecord,
    StoredEvent,
    read_dlq_headers,
)

from .fakes import (
    EventStoreDatabase,
    FakeGate,
    FakeRecord,
    SentinelDatabase,
    UntouchableDatabase,
    spin,
    spin_until,
)
from .workflow_harness import (
    COMMANDS,
    FAILED,
    STORE,
    RecordingObserver,
    WorkflowHarness,
    host_workflows,
)

WRITER_LOGGER = "omnibase_infra.nodes.postgres_adapter.v1_0_0.node"
FOLD_STEP = StepContext("event_store", "fold", "message_aggregator", "fold_duplicates")


async def hosted(
    database: ProtocolConnectionSource | None = None, observer: RecordingObserver | None = None
) -> WorkflowHarness:
    return await host_workflows(database=database, observer=observer)


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
    setup = await hosted()

    await setup.gateway.handle(batch_of(*POISON))

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

    assert setup.stats.dead_letters == 4
    assert setup.stats.by_stage == {"decode": 3, "validate": 1}
    assert setup.db_guard.calls == 0
    assert isinstance(setup.database, UntouchableDatabase)
    assert setup.database.acquired == 0
    assert len(setup.observer.letters) == 4
    assert setup.publish_guard.calls == 4, "every DLQ write goes through the Kafka breaker"
    assert setup.consumer.commits == [{Partition(STORE, 0): 3}, {Partition(COMMANDS, 0): 8}]


class ExplodingObserver(RecordingObserver):
    def on_dead_letter(self, letter: DeadLetter) -> None:
        raise ValueError("an audit model refused the record")


async def test_a_failing_observer_never_fails_the_batch() -> None:
    setup = await hosted(observer=ExplodingObserver())

    await setup.gateway.handle(batch_of(*POISON))

    assert len(setup.publisher.sent) == 4, "every dead letter was still written"
    assert setup.stats.dead_letters == 4


async def test_open_publish_guard_makes_handle_raise_so_the_loop_rewinds() -> None:
    setup = await hosted()
    setup.publish_guard.open = True

    with pytest.raises(CircuitOpenError):
        await setup.gateway.handle(batch_of(*POISON))

    assert setup.publisher.sent == []
    assert setup.stats.dead_letters == 0
    assert setup.observer.letters == []
    assert setup.consumer.commits == [], "nothing is committed before its dead letters are acknowledged"


async def test_publish_outage_propagates() -> None:
    setup = await hosted()
    setup.publisher.fail_always = OutageError("broker unavailable")

    with pytest.raises(OutageError):
        await setup.gateway.handle(batch_of(*POISON))

    assert setup.stats.dead_letters == 0


def command(payload: JsonValue) -> ModelEventEnvelope[JsonValue]:
    return ModelEventEnvelope[JsonValue](payload=payload, correlation_id=uuid.uuid4())


TRACE_ID = b"4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = b"00-" + TRACE_ID + b"-00f067aa0ba902b7-01"


async def test_failed_command_gets_a_failed_reply_and_a_dead_letter() -> None:
    setup = await hosted(SentinelDatabase())
    request = command({"operation": "drop_everything", "parameters": {}})

    traced = FakeRecord(
        COMMANDS, 0, 4, b"key-4", encode_envelope(request), (("h", b"v"), ("traceparent", TRACEPARENT))
    )

    await setup.gateway.handle(batch_of(traced))

    [reply_record] = setup.publisher.to(FAILED)
    assert reply_record.key == b"key-4"
    [(header, traceparent)] = list(reply_record.headers or ())
    assert header == "traceparent" and traceparent.split(b"-")[1] == TRACE_ID, "the reply continues the trace"
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
    assert setup.stats.operations == 1
    assert setup.stats.by_stage == {"operation": 1}
    assert setup.db_guard.calls == 1
    assert len(setup.observer.operations) == 1


async def test_command_with_the_database_guard_open_raises_and_publishes_nothing() -> None:
    setup = await hosted(SentinelDatabase())
    setup.db_guard.open = True
    request = command({"operation": "anything"})

    with pytest.raises(CircuitOpenError):
        await setup.gateway.handle(
            batch_of(record(COMMANDS, 0, encode_envelope(request)), record(STORE, 0, b"\xff"))
        )

    assert setup.publisher.sent == [], "no reply and no dead letter before the batch can be applied"
    assert setup.stats.operations == 0


async def test_event_with_the_database_guard_open_raises_before_any_dead_letter() -> None:
    setup = await hosted()
    setup.db_guard.open = True
    event = ModelEventEnvelope[JsonValue](payload={"sku": "A-1"})

    with pytest.raises(CircuitOpenError):
        await setup.gateway.handle(batch_of(record(STORE, 0, encode_envelope(event)), *POISON))

    assert setup.publisher.sent == []
    assert setup.stats.stored == 0


async def test_poison_never_blocks_the_partition_and_an_open_breaker_never_loses_it() -> None:
    """End to end with the loop: DLQ'd and committed; with Kafka down, paused and retried."""
    partition = Partition(STORE, 0)
    setup = await host_workflows(partitions=[partition])
    consumer = setup.consumer
    consumer.logs[partition] = [record(STORE, 0, b"\xff"), record(STORE, 1, b"[]")]
    gate = FakeGate(open=False)
    setup.publish_guard.open = True
    loop = ConsumerLoop(
        consumer, setup.gateway, gate, poll_timeout_ms=1, clock=FakeClock(), handler_commits=True
    )

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


def stored_event(envelope: ModelEventEnvelope[JsonValue], offset: int, partition: int = 0) -> StoredEvent:
    source = SourceRecord(STORE, partition, offset, None, encode_envelope(envelope), ())
    return StoredEvent.from_fields(source, stored_fields_of(envelope))


async def fold(rows: list[StoredEvent]) -> EventBatch:
    """message_aggregator's ``fold_duplicates`` (the event_store workflow's fold step) on ``rows``."""
    setup = await hosted()
    return await setup.aggregator.fold_duplicates(EventBatch({}, events=list(rows)), FOLD_STEP)


async def test_fold_keeps_the_lowest_copy_of_each_envelope_in_order() -> None:
    """Of the copies of an envelope id the lowest (topic, partition, offset) is kept, order otherwise kept."""
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

    folded = await fold(rows)

    assert [(row.envelope_id, row.offset) for row in folded.events] == [
        (str(a.envelope_id), 0),
        (str(b.envelope_id), 1),
        (str(c.envelope_id), 3),
    ]
    assert (folded.folded, folded.duplicates) == (2, 2)

    # The first copy read is not always the lowest: one from partition 1 came first here.
    across = await fold(
        [stored_event(a, 0, partition=1), stored_event(b, 1), stored_event(a, 2), stored_event(c, 3)]
    )

    assert [(row.envelope_id, row.partition, row.offset) for row in across.events] == [
        (str(b.envelope_id), 0, 1),
        (str(a.envelope_id), 0, 2),
        (str(c.envelope_id), 0, 3),
    ]
    assert across.folded == 1


async def test_fold_of_distinct_rows_changes_nothing() -> None:
    rows = [stored_event(ModelEventEnvelope[JsonValue](payload=i), i) for i in range(5)]

    assert (await fold(rows)).events == rows
    assert (await fold(rows)).folded == 0
    assert (await fold([])).events == []


async def test_prepared_records_of_partitions_no_longer_live_are_not_applied() -> None:
    setup = await hosted()
    batch = batch_of(record(STORE, 0, b"\xff", partition=0), record(STORE, 0, b"\xfe", partition=1))

    prepared = await setup.gateway.prepare(batch)
    assert setup.publisher.sent == [], "prepare does no I/O"
    await setup.gateway.apply_prepared(prepared, {Partition(STORE, 1)})

    assert [r.value for r in setup.publisher.to(STORE + ".dlq")] == [b"\xfe"]
    assert setup.stats.dead_letters == 1
    assert setup.consumer.commits == [{Partition(STORE, 1): 1}]


async def test_prepare_then_apply_equals_handle() -> None:
    by_handle, by_steps = await hosted(), await hosted()

    await by_handle.gateway.handle(batch_of(*POISON))
    await by_steps.gateway.apply_prepared(
        await by_steps.gateway.prepare(batch_of(*POISON)), set(batch_of(*POISON))
    )

    assert [(r.topic, r.value) for r in by_steps.publisher.sent] == [
        (r.topic, r.value) for r in by_handle.publisher.sent
    ]
    assert by_steps.stats == by_handle.stats
    assert by_steps.consumer.commits == by_handle.consumer.commits


def events(first: int, count: int) -> list[FakeRecord]:
    return [
        record(STORE, offset, encode_envelope(ModelEventEnvelope[JsonValue](payload={"n": offset})))
        for offset in range(first, first + count)
    ]


async def test_a_replayed_batch_switches_the_writer_to_the_staging_path_until_a_batch_is_new(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=WRITER_LOGGER)
    database = EventStoreDatabase()
    setup = await hosted(database=database)
    first, second = events(0, 150), events(150, 150)

    await setup.gateway.handle(batch_of(*first))  # new rows: straight into the table
    await setup.gateway.handle(batch_of(*first))  # replayed: the direct COPY fails, staged
    await setup.gateway.handle(batch_of(*second))  # after a replay: staged at once
    await setup.gateway.handle(batch_of(*events(300, 150)))  # the last batch had none: direct

    assert database.connection.copied_into == [
        "onex_event_store",
        "onex_event_store",
        "onex_event_store_stage",
        "onex_event_store_stage",
        "onex_event_store",
    ]
    assert len(database.connection.stored) == 450
    assert (setup.stats.stored, setup.stats.duplicates) == (450, 150)
    switches = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event store:")]
    assert switches == [
        "event store: 150 of 150 rows were already stored (a redelivery or a replay); "
        "writing through the staging table until a batch has none",
        "event store: a batch with no stored rows; writing with COPY again",
    ]


COMMIT_STEP = StepContext("event_store", "commit", "kafka_adapter", "commit_offsets")


async def test_the_commit_step_on_the_loops_consumer_returns_before_the_broker_answers_in_order() -> None:
    """kafka_adapter's commit step goes through its consumer loop's overlapped commits."""
    partition = Partition(STORE, 0)
    setup = await host_workflows(partitions=[partition])
    consumer = setup.consumer
    answer = asyncio.Event()
    sent: list[dict[Partition, int]] = []
    plain_commit = consumer.commit

    async def held_commit(offsets: Mapping[Partition, int]) -> None:
        sent.append(dict(offsets))
        await answer.wait()
        await plain_commit(offsets)

    object.__setattr__(consumer, "commit", held_commit)
    kafka = setup.nodes.kafka_adapter
    loop = ConsumerLoop(consumer, setup.gateway, FakeGate(), clock=FakeClock(), handler_commits=True)
    object.__setattr__(kafka, "_loop", loop)
    first = ConsumedBatch({partition: [record(STORE, 0, b"{}"), record(STORE, 1, b"{}")]})
    second = ConsumedBatch({partition: [record(STORE, 2, b"{}")]})

    await asyncio.wait_for(kafka.commit_offsets(first, COMMIT_STEP), timeout=1.0)
    await spin(5)
    assert sent == [{partition: 2}] and consumer.commits == [], "sent, not yet answered"

    following = asyncio.create_task(kafka.commit_offsets(second, COMMIT_STEP))
    await spin(20)
    assert not following.done() and sent == [{partition: 2}], "one commit outstanding at a time"

    answer.set()
    await asyncio.wait_for(following, timeout=1.0)
    await loop.settle_commits()
    assert consumer.commits == [{partition: 2}, {partition: 3}]
