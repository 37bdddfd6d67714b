"""``KafkaProducerPool``'s lanes: ``lane()`` and ``send_batch`` (``kafka_producer_lane`` has the buffering).

A lane's records are counted per batch when the batch settles (``_settled``): acknowledged
records as sent, with their bytes and their time from buffering to the ack; a failed or
never-sent batch's records as failed. The pool's statistics keep the definitions of
``kafka_producer_stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnibase_infra.errors import OutageError
from omnibase_infra.infrastructure.error_classification import qualified_name
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_errors import is_fatal_for_producer
from omnibase_infra.infrastructure.kafka_producer_lane import (
    Buffered,
    Lane,
    LaneBatch,
    LaneBuffer,
    ProtocolDelivery,
    outcome,
)
from omnibase_infra.infrastructure.kafka_producer_protocol import Ack, ProtocolKafkaProducer
from omnibase_infra.infrastructure.kafka_producer_stats import ProducerCounters

if TYPE_CHECKING:
    from omnibase_infra.clock import Clock
    from omnibase_infra.infrastructure.kafka_producer_stats import PoolCounters
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig


@dataclass(slots=True)
class Slot:
    """One pooled producer and its counters."""

    producer: ProtocolKafkaProducer
    counters: ProducerCounters
    drained: asyncio.Event | None = None  # set by the last release of a retiring producer


class PoolLanes:
    """Mixin of ``KafkaProducerPool``: groups of sends on one producer, batched per partition."""

    if TYPE_CHECKING:
        _config: ModelKafkaProducerConfig
        _clock: Clock
        _counters: PoolCounters
        _name: str

        async def _acquire(self) -> Slot: ...
        def _release(self, slot: Slot) -> None: ...
        def _record_failure(self, slot: Slot, exc: Exception | None) -> Exception: ...
        def _fail_slot(self, slot: Slot, reason: str) -> None: ...
        def _translate(self, exc: Exception) -> Exception: ...
        def _describe(self, exc: BaseException) -> str: ...

    async def send_batch(self, records: Sequence[OutboundEvent]) -> list[Ack | Exception]:
        """Buffer the records on one ``lane``, then await each ack: its ack or error, in order."""
        if not records:
            return []
        async with self.lane() as lane:
            buffered: list[ProtocolDelivery | Exception] = []
            for record in records:
                try:
                    buffered.append(await lane.enqueue(record))
                except Exception as exc:
                    buffered.append(exc)
            lane.send_buffered()
            return [item if isinstance(item, Exception) else await outcome(item) for item in buffered]

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[Lane]:
        """One producer held for a group of sends whose order matters (``kafka_producer_lane``).

        Records are built into one batch per partition; ``send_buffered()`` sends them without
        waiting out ``linger_ms``, once the caller has buffered its whole group. What the lane
        never sent fails when it ends."""
        slot = await self._acquire()
        buffer = LaneBuffer(
            slot.producer,
            self._clock,
            functools.partial(self._settled, slot),
            functools.partial(self._record_failure, slot),
            functools.partial(self._await_buffered, slot),
        )
        try:
            yield Lane(buffer.add, buffer.send_buffered)
        finally:
            buffer.close(
                OutageError(f"producer pool {self._name!r}: lane closed before its records were sent")
            )
            self._release(slot)

    async def _await_buffered(self, slot: Slot, pending: Buffered) -> Ack:
        """A lane record's ack: its batch's base offset plus its index (counted by ``_settled``)."""
        batch = pending.batch
        future = batch.future
        try:
            if not future.done():
                batch.buffer.send_buffered()  # never wait on a batch nobody sends
                async with asyncio.timeout(self._config.delivery_timeout_ms / 1000):
                    await asyncio.shield(future)  # the batch's other records share the future
            base = future.result()
        except TimeoutError as exc:
            self._fail_slot(slot, "delivery timed out")
            within = self._config.delivery_timeout_ms
            raise OutageError(
                f"Kafka did not acknowledge a record for {batch.topic} within {within} ms"
            ) from exc
        except asyncio.CancelledError:
            self._fail_slot(slot, "delivery abandoned")
            raise
        except Exception as exc:
            raise self._translate(exc) from exc
        return batch.partition, base + pending.index

    def _settled(self, slot: Slot, batch: LaneBatch) -> None:
        """Count a lane batch's records once it is acknowledged or failed."""
        future = batch.future
        error = None if future.cancelled() else future.exception()  # retrieved: nobody may await it
        count = batch.count
        if error is None and not future.cancelled():
            latency = count * self._clock.monotonic() - batch.started_sum
            self._counters.record_successes(count, batch.bytes, latency)
            slot.counters.messages_sent += count
            slot.counters.bytes_sent += batch.bytes
            return
        self._counters.record_failures(count)
        slot.counters.messages_failed += count
        if isinstance(error, Exception):
            slot.counters.last_error = self._describe(error)
            if is_fatal_for_producer(error):
                self._fail_slot(slot, qualified_name(error))


__all__ = ["PoolLanes", "Slot"]
