"""ConsumerLoop: commit only applied work, rewind and pause on failure, finish work on revoke/stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import CircuitOpenError, LifecycleError, OutageError
from omnibase_infra.nodes.kafka_adapter.v1_0_0.consumer_loop import Batch, ConsumerLoop
from omnibase_infra.workflow.records import Partition, ProtocolConsumerRecord

from .fakes import FakeConsumer, FakeGate, spin, spin_until

P0 = Partition("onex.evt.test.a.v1", 0)
P1 = Partition("onex.evt.test.a.v1", 1)
P2 = Partition("onex.evt.test.a.v1", 2)
BACKOFF = 5.0


class RecordingHandler:
    """Records the offsets of every batch it is given; raises queued failures first.

    With ``hold`` set, ``handle`` signals ``entered`` and waits for ``hold`` before returning.
    """

    def __init__(self) -> None:
        self.batches: list[dict[Partition, list[int]]] = []
        self.failures: list[Exception] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.after: Callable[[], None] | None = None

    async def handle(self, batch: Batch) -> None:
        self.batches.append({p: [r.offset for r in records] for p, records in batch.items()})
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            raise self.failures.pop(0)
        if self.after is not None:
            self.after()


Start = Callable[[ConsumerLoop], "asyncio.Task[None]"]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Runs loops as tasks and makes sure none outlives its test."""
    started: list[tuple[ConsumerLoop, asyncio.Task[None]]] = []

    def _start(loop: ConsumerLoop) -> asyncio.Task[None]:
        task = asyncio.create_task(loop.run())
        started.append((loop, task))
        return task

    yield _start
    for loop, task in started:
        loop.stop()
        if not task.done():
            try:
                await asyncio.wait_for(task, timeout=1.0)
            except TimeoutError:
                task.cancel()


def make_loop(
    consumer: FakeConsumer,
    handler: RecordingHandler,
    gate: FakeGate | None = None,
    clock: FakeClock | None = None,
    max_records: int = 500,
) -> ConsumerLoop:
    return ConsumerLoop(
        consumer,
        handler,
        gate or FakeGate(),
        max_records=max_records,
        poll_timeout_ms=1,
        error_backoff_seconds=BACKOFF,
        clock=clock or FakeClock(),
    )


async def test_successful_batch_commits_last_offset_plus_one_per_partition(start: Start) -> None:
    consumer = FakeConsumer([P0, P1])
    consumer.append(P0, 3)
    consumer.append(P1, 2)
    handler = RecordingHandler()
    loop = make_loop(consumer, handler)

    start(loop)
    await spin_until(lambda: loop.batches_committed == 1)

    assert handler.batches == [{P0: [0, 1, 2], P1: [0, 1]}]
    assert consumer.commits == [{P0: 3, P1: 2}]
    assert loop.records_processed == 5
    assert not loop.paused


async def test_commit_starts_from_the_committed_position(start: Start) -> None:
    consumer = FakeConsumer()
    consumer.append(P0, 5)
    consumer.assign(P0, committed=3)
    handler = RecordingHandler()
    loop = make_loop(consumer, handler)

    start(loop)
    await spin_until(lambda: loop.batches_committed == 1)

    assert handler.batches == [{P0: [3, 4]}]
    assert consumer.commits == [{P0: 5}]


async def test_each_batch_is_committed_separately(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 5)
    handler = RecordingHandler()
    loop = make_loop(consumer, handler, max_records=2)

    start(loop)
    await spin_until(lambda: loop.records_processed == 5)

    assert consumer.commits == [{P0: 2}, {P0: 4}, {P0: 5}]
    assert loop.batches_committed == 3


@pytest.mark.parametrize(
    "failure",
    [OutageError("postgres unavailable"), CircuitOpenError("postgres", 30.0)],
    ids=["outage", "circuit-open"],
)
async def test_outage_rewinds_to_batch_start_pauses_every_partition_and_commits_nothing(
    start: Start, failure: Exception
) -> None:
    consumer = FakeConsumer()
    consumer.append(P0, 6)
    consumer.append(P1, 2)
    consumer.assign(P0, committed=4)
    consumer.assign(P1)
    consumer.assign(P2)  # assigned, nothing to fetch: paused all the same
    handler = RecordingHandler()
    handler.failures.append(failure)
    loop = make_loop(consumer, handler, gate=FakeGate(open=False))

    start(loop)
    await spin_until(lambda: loop.paused)

    assert handler.batches == [{P0: [4, 5], P1: [0, 1]}]
    assert sorted(consumer.seeks) == [(P0, 4), (P1, 0)]
    assert consumer.paused == {P0, P1, P2}
    assert consumer.commits == []
    assert loop.pauses == 1
    assert loop.records_processed == 0


async def test_closed_gate_keeps_polling_without_resuming_or_buffering(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 3)
    gate = FakeGate(open=False)
    handler = RecordingHandler()
    handler.failures.append(CircuitOpenError("postgres", 30.0))
    loop = make_loop(consumer, handler, gate=gate)

    start(loop)
    await spin_until(lambda: loop.paused)
    polls = consumer.getmany_calls
    checks = gate.checks
    await spin(100)

    assert consumer.getmany_calls > polls + 20, "the loop must keep polling to stay in the group"
    assert gate.checks > checks
    assert loop.paused
    assert consumer.paused == {P0}
    assert len(handler.batches) == 1, "nothing is fetched or handled while paused"
    assert consumer.commits == []


async def test_open_gate_resumes_and_redelivers_the_same_records_committing_once(start: Start) -> None:
    consumer = FakeConsumer([P0, P1])
    consumer.append(P0, 3)
    consumer.append(P1, 1)
    gate = FakeGate(open=False)
    handler = RecordingHandler()
    handler.failures.append(OutageError("postgres unavailable"))
    loop = make_loop(consumer, handler, gate=gate)

    start(loop)
    await spin_until(lambda: loop.paused)
    await spin(20)
    gate.open = True
    await spin_until(lambda: loop.batches_committed == 1)
    await spin(20)

    assert handler.batches == [{P0: [0, 1, 2], P1: [0]}, {P0: [0, 1, 2], P1: [0]}]
    assert consumer.commits == [{P0: 3, P1: 1}]
    assert not loop.paused
    assert consumer.paused == set()
    assert loop.records_processed == 4


async def test_outage_with_gate_still_open_retries_without_backoff(start: Start) -> None:
    # The breaker has not tripped yet: the retry is immediate and the breaker counts it.
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    handler = RecordingHandler()
    handler.failures.append(OutageError("connection reset"))
    loop = make_loop(consumer, handler, gate=FakeGate(open=True))

    start(loop)
    await spin_until(lambda: loop.batches_committed == 1)

    assert handler.batches == [{P0: [0, 1]}, {P0: [0, 1]}]
    assert consumer.commits == [{P0: 2}]


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("bug"), LifecycleError("publisher used before start()")],
    ids=["plain-exception", "infra-error-that-is-no-outage"],
)
async def test_unexpected_error_pauses_until_the_clock_passes_the_backoff(
    start: Start, failure: Exception
) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    clock = FakeClock()
    handler = RecordingHandler()
    handler.failures.append(failure)
    loop = make_loop(consumer, handler, gate=FakeGate(open=True), clock=clock)

    start(loop)
    await spin_until(lambda: loop.paused)
    await spin(100)
    assert loop.paused, "no resume before the backoff elapsed, even with the gate open"
    assert len(handler.batches) == 1

    clock.advance(BACKOFF - 0.01)
    await spin(100)
    assert loop.paused
    assert consumer.commits == []

    clock.advance(0.01)
    await spin_until(lambda: loop.batches_committed == 1)
    assert handler.batches == [{P0: [0, 1]}, {P0: [0, 1]}]
    assert consumer.commits == [{P0: 2}]


async def test_unexpected_error_waits_for_the_gate_too_after_the_backoff(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 1)
    clock = FakeClock()
    gate = FakeGate(open=False)
    handler = RecordingHandler()
    handler.failures.append(ValueError("bug"))
    loop = make_loop(consumer, handler, gate=gate, clock=clock)

    start(loop)
    await spin_until(lambda: loop.paused)
    clock.advance(BACKOFF * 2)
    await spin(100)
    assert loop.paused

    gate.open = True
    await spin_until(lambda: loop.batches_committed == 1)


async def test_revocation_waits_until_the_batch_in_flight_is_committed(start: Start) -> None:
    timeline: list[str] = []
    consumer = FakeConsumer([P0, P1], timeline=timeline)
    consumer.append(P0, 2)
    handler = RecordingHandler()
    handler.hold = asyncio.Event()
    loop = make_loop(consumer, handler)

    async def revoke() -> None:
        await loop.on_partitions_revoked({P0})
        timeline.append("revoked")

    start(loop)
    await handler.entered.wait()
    revoking = asyncio.create_task(revoke())
    await spin(50)
    assert not revoking.done(), "revocation must wait for the batch in flight"
    assert timeline == []

    handler.hold.set()
    await asyncio.wait_for(revoking, timeout=1.0)

    assert timeline == ["commit", "revoked"]
    assert consumer.commits == [{P0: 2}]


async def test_records_of_partitions_revoked_during_the_fetch_are_not_applied(start: Start) -> None:
    class RevokingConsumer(FakeConsumer):
        async def getmany(
            self, timeout_ms: int, max_records: int
        ) -> dict[Partition, list[ProtocolConsumerRecord]]:
            batch = await super().getmany(timeout_ms, max_records)
            if batch:
                self.unassign(P1)  # a rebalance took P1 away while the fetch was in flight
            return batch

    consumer = RevokingConsumer([P0, P1])
    consumer.append(P0, 1)
    consumer.append(P1, 1)
    handler = RecordingHandler()
    loop = make_loop(consumer, handler)

    start(loop)
    await spin_until(lambda: loop.batches_committed == 1)

    assert handler.batches == [{P0: [0]}]
    assert consumer.commits == [{P0: 1}]


async def test_partitions_assigned_while_paused_are_paused(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 1)
    gate = FakeGate(open=False)
    handler = RecordingHandler()
    handler.failures.append(CircuitOpenError("postgres", 30.0))
    loop = make_loop(consumer, handler, gate=gate)

    start(loop)
    await spin_until(lambda: loop.paused)
    consumer.assign(P1)
    consumer.append(P1, 2)
    await loop.on_partitions_assigned({P1})
    await spin(50)

    assert consumer.paused == {P0, P1}
    assert len(handler.batches) == 1, "the new partition's records wait like the others"

    gate.open = True
    await spin_until(lambda: loop.records_processed == 3)
    assert consumer.paused == set()
    assert consumer.committed == {P0: 1, P1: 2}


async def test_partitions_assigned_while_running_are_not_paused() -> None:
    consumer = FakeConsumer([P0])
    loop = make_loop(consumer, RecordingHandler())

    await loop.on_partitions_assigned({P1})

    assert consumer.paused == set()


async def test_stop_lets_the_batch_in_flight_commit_then_run_returns(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    handler = RecordingHandler()
    handler.hold = asyncio.Event()
    loop = make_loop(consumer, handler)

    task = start(loop)
    await handler.entered.wait()
    loop.stop()
    consumer.append(P0, 3)  # arrives after stop(): must not be fetched
    await spin(50)
    assert not task.done(), "run must wait for the batch in flight"

    handler.hold.set()
    await asyncio.wait_for(task, timeout=1.0)

    assert consumer.commits == [{P0: 2}]
    assert handler.batches == [{P0: [0, 1]}]
    assert not loop.running


async def test_stop_before_any_record_returns() -> None:
    loop = make_loop(FakeConsumer([P0]), RecordingHandler())
    task = asyncio.create_task(loop.run())
    await spin(5)
    assert loop.running

    loop.stop()
    await asyncio.wait_for(task, timeout=1.0)
    assert not loop.running


async def test_stop_while_paused_returns_without_committing(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 1)
    handler = RecordingHandler()
    handler.failures.append(CircuitOpenError("kafka", 30.0))
    loop = make_loop(consumer, handler, gate=FakeGate(open=False))

    task = start(loop)
    await spin_until(lambda: loop.paused)
    loop.stop()
    await asyncio.wait_for(task, timeout=1.0)

    assert consumer.commits == []


async def test_commit_failure_does_not_crash_the_loop(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 3)
    consumer.commit_failures.append(RuntimeError("coordinator moved"))
    handler = RecordingHandler()
    loop = make_loop(consumer, handler)

    task = start(loop)
    await spin_until(lambda: len(handler.batches) == 1)
    await spin(20)
    assert not task.done()
    assert loop.batches_committed == 0
    assert loop.records_processed == 0
    assert not loop.paused

    consumer.append(P0, 2)
    await spin_until(lambda: loop.batches_committed == 1)
    assert consumer.commits == [{P0: 5}]
    assert loop.records_processed == 2
    assert not task.done()


async def test_lag_is_highwater_minus_committed_position(start: Start) -> None:
    consumer = FakeConsumer([P0, P1])
    consumer.append(P0, 5)
    handler = RecordingHandler()
    loop = make_loop(consumer, handler, max_records=2)
    assert loop.lag() == {}

    handler.after = loop.stop  # stop after the first batch: P0 committed at 2
    await asyncio.wait_for(start(loop), timeout=1.0)

    assert consumer.commits == [{P0: 2}]
    assert loop.lag() == {P0: 3}, "P1 has no known position yet"
    consumer.append(P0, 4)
    assert loop.lag() == {P0: 7}


async def test_revoked_partitions_leave_the_lag(start: Start) -> None:
    consumer = FakeConsumer([P0, P1])
    consumer.append(P0, 2)
    consumer.append(P1, 2)
    loop = make_loop(consumer, RecordingHandler())
    start(loop)
    await spin_until(lambda: loop.batches_committed == 1)
    assert set(loop.lag()) == {P0, P1}

    await loop.on_partitions_revoked({P1})

    assert loop.lag() == {P0: 0}


# ---- pipelined: a handler with prepare/apply_prepared -----------------------------------


class PreparingHandler(RecordingHandler):
    """A two-step handler: ``prepare`` is recorded when called, ``apply_prepared`` behaves like ``handle``."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[dict[Partition, list[int]]] = []

    async def prepare(self, batch: Batch) -> Batch:
        self.prepared.append({p: [r.offset for r in records] for p, records in batch.items()})
        return batch

    async def apply_prepared(self, prepared: Batch, partitions: set[Partition]) -> None:
        await self.handle({p: records for p, records in prepared.items() if p in partitions})


def make_pipelined_loop(
    consumer: FakeConsumer, handler: PreparingHandler, gate: FakeGate | None = None, max_records: int = 2
) -> ConsumerLoop:
    return ConsumerLoop(
        consumer, handler, gate or FakeGate(), max_records=max_records, poll_timeout_ms=1, clock=FakeClock()
    )


async def test_pipelined_batches_are_applied_and_committed_one_at_a_time_in_order(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 5)
    handler = PreparingHandler()
    handler.hold = asyncio.Event()
    loop = make_pipelined_loop(consumer, handler)

    start(loop)
    await handler.entered.wait()
    await spin_until(lambda: len(handler.prepared) == 2)

    # The second batch is decoded while the first is still being applied, and nothing is committed.
    assert handler.batches == [{P0: [0, 1]}]
    assert consumer.commits == []

    handler.hold.set()
    await spin_until(lambda: loop.records_processed == 5)

    assert handler.batches == [{P0: [0, 1]}, {P0: [2, 3]}, {P0: [4]}]
    assert consumer.commits == [{P0: 2}, {P0: 4}, {P0: 5}]


async def test_pipelined_failure_rewinds_the_failed_batch_and_the_one_read_behind_it(start: Start) -> None:
    consumer = FakeConsumer([P0, P1])
    consumer.append(P0, 2)
    handler = PreparingHandler()
    handler.hold = asyncio.Event()
    handler.failures.append(OutageError("postgres unavailable"))
    gate = FakeGate(open=False)
    loop = make_pipelined_loop(consumer, handler, gate=gate)

    start(loop)
    await handler.entered.wait()
    consumer.append(P1, 2)  # read behind the failing batch, never applied
    await spin_until(lambda: len(handler.prepared) == 2)
    handler.hold.set()
    await spin_until(lambda: loop.paused)
    await spin(20)

    assert handler.batches == [{P0: [0, 1]}]
    assert sorted(consumer.seeks) == [(P0, 0), (P1, 0)]
    assert consumer.commits == []

    handler.hold = None
    gate.open = True
    await spin_until(lambda: loop.records_processed == 4)

    assert consumer.committed == {P0: 2, P1: 2}


async def test_pipelined_stop_commits_the_batch_in_flight_but_not_the_one_read_behind_it(
    start: Start,
) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 4)
    handler = PreparingHandler()
    handler.hold = asyncio.Event()
    loop = make_pipelined_loop(consumer, handler)

    task = start(loop)
    await handler.entered.wait()
    await spin_until(lambda: len(handler.prepared) == 2)
    loop.stop()
    handler.hold.set()
    await asyncio.wait_for(task, timeout=1.0)

    assert handler.batches == [{P0: [0, 1]}]
    assert consumer.commits == [{P0: 2}]


# ---- overlapped commits: the handler commits through commit_overlapped ---------------------


class HeldCommitConsumer(FakeConsumer):
    """A broker whose answer to each offset commit waits for ``answer`` (set it to answer them)."""

    def __init__(self, partitions: list[Partition], timeline: list[str]) -> None:
        super().__init__(partitions, timeline=timeline)
        self.answer = asyncio.Event()
        self.sent: list[dict[Partition, int]] = []

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        self.sent.append(dict(offsets))
        self.timeline.append(f"sent {dict(offsets)[P0]}")
        await self.answer.wait()
        await super().commit(offsets)


class CommittingHandler(PreparingHandler):
    """Commits each applied batch itself, as the workflows' commit step does."""

    def __init__(self, timeline: list[str]) -> None:
        super().__init__()
        self.loop: ConsumerLoop | None = None
        self.timeline = timeline

    async def apply_prepared(self, prepared: Batch, partitions: set[Partition]) -> None:
        live = {p: records for p, records in prepared.items() if p in partitions}
        await self.handle(live)
        self.timeline.append(f"applied {live[P0][-1].offset + 1}")
        assert self.loop is not None
        await self.loop.commit_overlapped({p: records[-1].offset + 1 for p, records in live.items()})


def make_committing_loop(consumer: FakeConsumer, handler: CommittingHandler) -> ConsumerLoop:
    loop = ConsumerLoop(
        consumer,
        handler,
        FakeGate(),
        max_records=2,
        poll_timeout_ms=1,
        clock=FakeClock(),
        handler_commits=True,
    )
    handler.loop = loop
    return loop


async def test_overlapped_commit_lets_the_next_batch_apply_and_keeps_commits_in_order(
    start: Start,
) -> None:
    timeline: list[str] = []
    consumer = HeldCommitConsumer([P0], timeline)
    consumer.append(P0, 4)
    handler = CommittingHandler(timeline)
    loop = make_committing_loop(consumer, handler)

    start(loop)
    await spin_until(lambda: "applied 4" in timeline)
    await spin(20)

    # Batch 2 was applied while the broker had not answered batch 1's commit, and its own
    # commit is not sent before that answer: one commit outstanding, in order.
    assert timeline == ["applied 2", "sent 2", "applied 4"]
    assert consumer.sent == [{P0: 2}]

    consumer.answer.set()
    await spin_until(lambda: consumer.committed == {P0: 4})
    assert consumer.commits == [{P0: 2}, {P0: 4}]
    assert timeline == ["applied 2", "sent 2", "applied 4", "commit", "sent 4", "commit"]


async def test_overlapped_commit_is_answered_before_revocation_and_before_run_returns(
    start: Start,
) -> None:
    timeline: list[str] = []
    consumer = HeldCommitConsumer([P0], timeline)
    consumer.append(P0, 2)
    handler = CommittingHandler(timeline)
    loop = make_committing_loop(consumer, handler)

    task = start(loop)
    await spin_until(lambda: consumer.sent == [{P0: 2}])
    revoking = asyncio.create_task(loop.on_partitions_revoked({P0}))
    loop.stop()
    await spin(50)
    assert not revoking.done(), "revocation must wait for the outstanding commit"
    assert not task.done(), "run must wait for the outstanding commit"

    consumer.answer.set()
    await asyncio.wait_for(revoking, timeout=1.0)
    await asyncio.wait_for(task, timeout=1.0)
    assert consumer.committed == {P0: 2}


async def test_overlapped_commit_failure_is_logged_and_the_next_commit_still_goes(start: Start) -> None:
    timeline: list[str] = []
    consumer = FakeConsumer([P0], timeline=timeline)
    consumer.append(P0, 4)
    consumer.commit_failures.append(RuntimeError("coordinator moved"))
    handler = CommittingHandler(timeline)
    loop = make_committing_loop(consumer, handler)

    task = start(loop)
    await spin_until(lambda: consumer.committed == {P0: 4})
    assert consumer.commits == [{P0: 4}]
    assert not task.done()


async def test_keeping_up_the_next_fetch_waits_for_the_batch_in_flight_and_takes_all_that_arrived(
    start: Start,
) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    handler = PreparingHandler()
    handler.hold = asyncio.Event()
    loop = make_pipelined_loop(consumer, handler, max_records=10)

    start(loop)
    await handler.entered.wait()
    consumer.append(P0, 1)
    await spin(50)
    consumer.append(P0, 2)
    await spin(50)

    # The first fetch was not full: nothing is fetched behind the batch in flight.
    assert handler.prepared == [{P0: [0, 1]}]

    handler.hold.set()
    await spin_until(lambda: loop.records_processed == 5)
    assert handler.batches == [{P0: [0, 1]}, {P0: [2, 3, 4]}]
    assert consumer.commits == [{P0: 2}, {P0: 5}]


async def test_a_full_fetch_turns_pipelining_back_on(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 1)
    handler = PreparingHandler()
    loop = make_pipelined_loop(consumer, handler, max_records=2)

    start(loop)
    await spin_until(lambda: loop.records_processed == 1)
    handler.hold = asyncio.Event()
    handler.entered.clear()
    consumer.append(P0, 5)
    await handler.entered.wait()
    await spin_until(lambda: len(handler.prepared) == 3)

    # [1, 2] filled the fetch: [3, 4] is fetched and decoded while [1, 2] is applied.
    assert handler.prepared == [{P0: [0]}, {P0: [1, 2]}, {P0: [3, 4]}]
    assert handler.batches == [{P0: [0]}, {P0: [1, 2]}]
    handler.hold.set()
    await spin_until(lambda: loop.records_processed == 6)


async def test_records_left_behind_the_high_water_mark_turn_pipelining_on(start: Start) -> None:
    class CappedConsumer(FakeConsumer):
        """Returns at most two records per fetch, as a fetch capped by its byte limit does."""

        async def getmany(
            self, timeout_ms: int, max_records: int
        ) -> dict[Partition, list[ProtocolConsumerRecord]]:
            return await super().getmany(timeout_ms, min(max_records, 2))

    consumer = CappedConsumer([P0])
    consumer.append(P0, 5)
    handler = PreparingHandler()
    handler.hold = asyncio.Event()
    loop = make_pipelined_loop(consumer, handler, max_records=10)

    start(loop)
    await handler.entered.wait()
    await spin_until(lambda: len(handler.prepared) == 2)

    # [0, 1] did not fill max_records, but the high-water mark (5) lies past it.
    assert handler.prepared == [{P0: [0, 1]}, {P0: [2, 3]}]
    assert handler.batches == [{P0: [0, 1]}]
    handler.hold.set()
    await spin_until(lambda: loop.records_processed == 5)


async def test_a_failed_commit_is_sent_again_after_the_back_off_even_when_no_record_arrives(
    start: Start,
) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    consumer.commit_failures.append(RuntimeError("rebalance in progress"))
    clock, timeline = FakeClock(), list[str]()
    handler = CommittingHandler(timeline)
    loop = ConsumerLoop(
        consumer,
        handler,
        FakeGate(),
        max_records=2,
        poll_timeout_ms=1,
        error_backoff_seconds=BACKOFF,
        clock=clock,
        handler_commits=True,
    )
    handler.loop = loop

    start(loop)
    await spin_until(lambda: "applied 2" in timeline)
    await spin(20)
    assert consumer.committed.get(P0) is None, "the commit failed; no record arrives any more"

    clock.advance(BACKOFF)
    await spin_until(lambda: consumer.committed.get(P0) == 2)
    assert consumer.commits == [{P0: 2}]


async def test_revocation_commits_the_offsets_of_a_failed_commit_before_handing_over(start: Start) -> None:
    consumer = FakeConsumer([P0])
    consumer.append(P0, 2)
    consumer.commit_failures.append(RuntimeError("coordinator moved"))
    handler = RecordingHandler()
    loop = make_loop(consumer, handler)

    start(loop)
    await spin_until(lambda: len(handler.batches) == 1)
    await spin(20)
    assert consumer.commits == []

    await asyncio.wait_for(loop.on_partitions_revoked({P0}), timeout=1.0)
    assert consumer.commits == [{P0: 2}], "the new owner starts after what this one applied"
