"""``KafkaProducerPool.lane()``: records built into one batch per partition, their acks awaited later.

A lane holds one producer of the pool for a group of sends whose order matters (the outbox
relay's round). ``enqueue`` picks the record's partition (the producer's own partitioner,
asked once per key and lane, so a key lands where a single ``send`` would put it) and
appends the record to that partition's open batch, at once: no future, no callback and no
client call per record. ``send_buffered()`` closes the open batches and queues them on the
producer (``ProtocolKafkaProducer.send_batch``) at the next turn of the event loop, without
waiting out ``linger_ms``; a batch that fills up is queued as soon as it is full, and
awaiting an ack whose batch is still open queues it too. The acks of a batch's records
share its one future: record ``i`` of a batch acknowledged at base offset ``b`` is at
``b + i``.

Order per partition: a partition's batches are queued one after another, in the order
they were filled, by one task; once one could not be queued, every later batch of that
partition fails with the same error and is never sent. The producer sends one batch per
partition at a time and retries it in place, and with ``enable_idempotence`` the broker
refuses a batch that would land after a lost one (sequence numbers), so a record is never
acknowledged behind an earlier one of its partition that failed. A batch's records are
acknowledged or fail together, as they did when the client built the batch itself.

What a lane buffered and never queued (its caller left without sending or awaiting it)
fails when the lane ends and is never sent. Errors are the pool's, translated as in
``send``; a caller that gives up on an ack (cancelled, the delivery timeout) aborts the
producer, as ``send``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from omnibase_infra.clock import Clock
from omnibase_infra.errors import OutageError
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_protocol import (
    Ack,
    ProtocolKafkaProducer,
    ProtocolRecordBatch,
)


@dataclass(frozen=True, slots=True)
class Pending:
    """The pool's handle on a buffered record: its ack future and when it was buffered."""

    future: asyncio.Future[Ack]
    started: float


class ProtocolDelivery(Protocol):
    """A record buffered on a ``Lane``: ``await ack()`` (once) for ``(partition, offset)`` or its error."""

    async def ack(self) -> Ack: ...


class Lane:
    """One producer's buffer: ``enqueue`` in call order, acks awaited on each delivery.

    ``await enqueue(record)`` buffers ``record`` and returns its ``ProtocolDelivery``; it raises
    at once when the producer refuses the record (too large, closed...).
    ``send_buffered()`` sends what the lane buffered. What a lane buffers waits until then
    (or until an ack of it is awaited): the caller says when its group is all buffered, and
    the open batches go at the next turn of the event loop (closing them earlier would cut
    the group into small batches, each waiting for the one before it on its partition)."""

    __slots__ = ("enqueue", "send_buffered")

    def __init__(
        self,
        enqueue: Callable[[OutboundEvent], Awaitable[ProtocolDelivery]],
        send_buffered: Callable[[], None],
    ) -> None:
        self.enqueue = enqueue
        self.send_buffered = send_buffered


TopicPartition = tuple[str, int]


class LaneBatch:
    """One partition's batch of a lane: its records' count, bytes and buffering times, one future.

    ``future`` resolves to the batch's base offset, or to the error all its records share."""

    __slots__ = ("batch", "buffer", "bytes", "count", "future", "partition", "started_sum", "topic")

    def __init__(self, buffer: LaneBuffer, batch: ProtocolRecordBatch, topic: str, partition: int) -> None:
        self.buffer, self.batch, self.topic, self.partition = buffer, batch, topic, partition
        self.count = 0
        self.bytes = 0
        self.started_sum = 0.0  # the records' buffering times, summed (the pool's latency figure)
        self.future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)
            self.buffer.on_settled(self)  # counted at once, before any awaiter resumes

    def settle(self, delivered: asyncio.Future[int]) -> None:
        """Copy the producer's outcome of the queued batch (a done callback)."""
        if delivered.cancelled():
            # An outage to the caller (the relay pauses, the batch's rows stay pending), not a
            # cancellation of the task that awaits the ack.
            self.fail(OutageError("the producer cancelled the batch's delivery"))
        elif (error := delivered.exception()) is not None:
            self.fail(error)
        elif not self.future.done():
            self.future.set_result(delivered.result())
            self.buffer.on_settled(self)


class Buffered:
    """A record buffered on a lane (its ``ProtocolDelivery``): its batch and its index in it."""

    __slots__ = ("batch", "index")

    def __init__(self, batch: LaneBatch, index: int) -> None:
        self.batch, self.index = batch, index

    async def ack(self) -> Ack:
        batch = self.batch
        future = batch.future
        if future.done() and not future.cancelled() and future.exception() is None:
            return batch.partition, future.result() + self.index  # most acks: the batch is in
        return await batch.buffer.await_ack(self)


class LaneBuffer:
    """The open batches of one lane, per (topic, partition), and the tasks that queue them in order."""

    def __init__(
        self,
        producer: ProtocolKafkaProducer,
        clock: Clock,
        on_settled: Callable[[LaneBatch], None],
        on_refused: Callable[[Exception], Exception],
        await_ack: Callable[[Buffered], Awaitable[Ack]],
    ) -> None:
        self._producer = producer
        self._clock = clock
        self._on_refused = on_refused  # the error to raise for a record the producer refused
        self.await_ack = await_ack
        """The pool's wait for a record's batch (its timeout, and the error translated)."""
        self.on_settled = on_settled
        """Called once per batch with records when it settles (acknowledged or failed)."""
        self._choosers: dict[str, Callable[[bytes | None], int]] = {}
        self._partitions: dict[tuple[str, bytes], int] = {}
        self._open: dict[TopicPartition, LaneBatch] = {}
        self._queued: dict[TopicPartition, deque[LaneBatch]] = {}
        self._submitters: dict[TopicPartition, asyncio.Task[None]] = {}
        self._failures: dict[TopicPartition, BaseException] = {}  # a partition whose batch was not queued
        self._flush_scheduled = False
        self._closed: BaseException | None = None

    async def add(self, record: OutboundEvent) -> Buffered:
        """Append ``record`` to its partition's open batch; raises ``on_refused``'s error if refused."""
        try:
            key = record.key
            partition = None if key is None else self._partitions.get((record.topic, key))
            if partition is None:  # a key's first record in this lane, or no key
                partition = await self._choose(record.topic, key)
            return self._add(record, partition)
        except Exception as exc:
            raise self._on_refused(exc) from exc

    async def _choose(self, topic: str, key: bytes | None) -> int:
        choose = self._choosers.get(topic)
        if choose is None:
            choose = self._choosers[topic] = await self._producer.partitioner(topic)
        partition = choose(key)
        if key is not None:
            self._partitions[(topic, key)] = partition
        return partition

    def _add(self, record: OutboundEvent, partition: int) -> Buffered:
        if self._closed is not None:
            raise self._closed
        topic, key, value = record.topic, record.key, record.value
        tp = (topic, partition)
        batch = self._open.get(tp)
        if batch is None:
            batch = self._open[tp] = LaneBatch(self, self._producer.create_batch(), topic, partition)
        if not batch.batch.append(key, value, record.headers):
            self._queue(tp)  # full: it goes now, the record opens the next one
            batch = self._open[tp] = LaneBatch(self, self._producer.create_batch(), topic, partition)
            batch.batch.append(key, value, record.headers)  # a first record always fits
        index = batch.count
        batch.count = index + 1
        batch.bytes += len(value) + (len(key) if key is not None else 0)
        batch.started_sum += self._clock.monotonic()
        return Buffered(batch, index)

    def send_buffered(self) -> None:
        """Queue every open batch at the next turn of the event loop (once per turn)."""
        if not self._flush_scheduled and self._closed is None:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def close(self, error: BaseException) -> None:
        """End the lane: what was never queued fails with ``error``; nothing more is queued."""
        self._closed = error
        for batch in self._open.values():
            self._finish(batch, error)
        self._open.clear()
        for queue in self._queued.values():
            while queue:
                self._finish(queue.popleft(), error)
        for task in list(self._submitters.values()):
            task.cancel()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._closed is None:
            for tp in list(self._open):
                self._queue(tp)

    def _queue(self, tp: TopicPartition) -> None:
        batch = self._open.pop(tp)
        if batch.count == 0:
            return  # its only record was refused
        self._queued.setdefault(tp, deque()).append(batch)
        if tp not in self._submitters:
            self._submitters[tp] = asyncio.get_running_loop().create_task(self._submit(tp))

    async def _submit(self, tp: TopicPartition) -> None:
        """Queue ``tp``'s batches on the producer in order; after a failure, fail the rest."""
        queue = self._queued[tp]
        current: LaneBatch | None = None
        try:
            while queue:
                current = queue.popleft()
                if (failure := self._failures.get(tp)) is not None:
                    current.fail(failure)
                    continue
                try:
                    delivered = await self._producer.send_batch(current.batch, tp[0], tp[1])
                except Exception as exc:
                    self._failures[tp] = exc  # for the rest of the lane: nothing may overtake it
                    current.fail(exc)
                    continue
                delivered.add_done_callback(current.settle)
                current = None
        except asyncio.CancelledError:
            error = self._closed or asyncio.CancelledError()
            if current is not None:
                current.fail(error)
            while queue:
                queue.popleft().fail(error)
        finally:
            self._submitters.pop(tp, None)

    def _finish(self, batch: LaneBatch, error: BaseException) -> None:
        """Fail a batch never queued; counted as failed like any other (``on_settled``)."""
        if batch.count:
            batch.fail(error)


async def outcome(delivery: ProtocolDelivery) -> Ack | Exception:
    try:
        return await delivery.ack()
    except Exception as exc:
        return exc


def mark_seen(future: asyncio.Future[Ack]) -> None:
    """Retrieve a delivery's failure so that asyncio never reports it as unretrieved.

    Records buffered behind an abandoned one fail with their aborted producer, and nobody
    is left to await them; the pool has already counted and logged that failure.
    """
    if not future.cancelled():
        future.exception()


__all__ = [
    "Buffered",
    "Lane",
    "LaneBatch",
    "LaneBuffer",
    "Pending",
    "ProtocolDelivery",
    "mark_seen",
    "outcome",
]
