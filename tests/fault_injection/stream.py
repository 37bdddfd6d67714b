"""A paced producer that remembers every envelope it sent and where the broker put it.

Delivery is at-least-once, as an operator's producer would do it: a send that fails
(broker down, request timed out) is sent again with the same envelope id, so the log may
hold an envelope twice; the event store must still hold it once. Each envelope goes to a
fixed partition (``seq % partitions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from pydantic import JsonValue

from fault_injection.envelopes import encode_envelope

logger = logging.getLogger("faults.stream")


@dataclass
class Sent:
    """One envelope of the stream and every acknowledgement the broker gave for it."""

    envelope_id: uuid.UUID
    partition: int
    value: bytes
    attempts: int = 0
    acks: list[tuple[int, int, float]] = field(default_factory=list)  # (partition, offset, wall time)

    @property
    def first_ack(self) -> float | None:
        return min((t for _, _, t in self.acks), default=None)


@dataclass
class StreamStats:
    sends: int = 0
    failures: int = 0
    resends: int = 0
    producer_restarts: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0


class EnvelopeStream:
    """Streams ``count`` envelopes at ``rate`` per second to ``topic``; ``await run()``."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        partitions: int,
        count: int,
        rate: float,
        scenario: str,
        event_type: str = "faults.stream.event",
        payload: Callable[[int], dict[str, JsonValue]] | None = None,
        stall_restart_seconds: float = 30.0,
    ) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self._rate = rate
        self._stall_restart = stall_restart_seconds
        make_payload = payload or (lambda seq: {"scenario": scenario, "seq": seq})
        self.records = [_make(seq % partitions, event_type, make_payload(seq)) for seq in range(count)]
        self.by_id = {r.envelope_id: r for r in self.records}
        self.stats = StreamStats()
        self._issued = 0
        self._retry: deque[tuple[float, int]] = deque()
        self._unacked: set[int] = set()
        self._last_ack = 0.0
        self._progress_waiters: list[tuple[float, asyncio.Future[None]]] = []

    @property
    def issued_fraction(self) -> float:
        return self._issued / len(self.records) if self.records else 1.0

    @property
    def acked(self) -> int:
        return len(self.records) - len(self._unacked)

    async def reached(self, fraction: float) -> None:
        """Return once ``fraction`` of the stream has been sent (first attempts)."""
        while self.issued_fraction < fraction:
            await asyncio.sleep(0.02)

    def acked_before(self, wall_time: float) -> list[Sent]:
        return [r for r in self.records if r.first_ack is not None and r.first_ack <= wall_time]

    async def run(self) -> None:
        self.stats.started_at = time.time()
        self._unacked = set(range(len(self.records)))
        self._last_ack = time.monotonic()
        producer = await self._new_producer()
        started = time.monotonic()
        try:
            while self._issued < len(self.records) or self._unacked:
                now = time.monotonic()
                if self._issued < len(self.records):
                    due = int((now - started) * self._rate) + 1
                    while self._issued < min(due, len(self.records)):
                        index = self._issued
                        self._issued += 1  # a refused first send is queued for a resend
                        if not await self._send(producer, index):
                            break
                while self._retry and self._retry[0][0] <= now:
                    _, index = self._retry.popleft()
                    self.stats.resends += 1
                    if not await self._send(producer, index):
                        break
                if self._unacked and now - self._last_ack > self._stall_restart:
                    logger.warning("producer stalled; recreating it")
                    await _stop_quietly(producer)
                    producer = await self._new_producer()
                    self.stats.producer_restarts += 1
                    self._last_ack = time.monotonic()
                await asyncio.sleep(0.01)
        finally:
            await _stop_quietly(producer)
        self.stats.finished_at = time.time()

    async def _new_producer(self) -> AIOKafkaProducer:
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                request_timeout_ms=8000,
                retry_backoff_ms=200,
                max_request_size=4 * 1024 * 1024,
            )
            try:
                await producer.start()
                return producer
            except Exception as exc:
                logger.warning("producer start failed (%s); retrying", type(exc).__name__)
                await _stop_quietly(producer)
                await asyncio.sleep(1.0)

    async def _send(self, producer: AIOKafkaProducer, index: int) -> bool:
        """Hand record ``index`` to the producer; False (and queued for retry) if it refused."""
        record = self.records[index]
        record.attempts += 1
        self.stats.sends += 1
        try:
            future = await asyncio.wait_for(
                producer.send(self.topic, record.value, partition=record.partition), 10
            )
        except Exception as exc:
            self._failed(index, exc)
            return False
        future.add_done_callback(lambda f, i=index: self._done(i, f))
        return True

    def _done(self, index: int, future: asyncio.Future[object]) -> None:
        if future.cancelled():
            self._failed(index, asyncio.CancelledError())
            return
        exc = future.exception()
        if exc is not None:
            self._failed(index, exc)
            return
        meta = future.result()
        record = self.records[index]
        record.acks.append((int(meta.partition), int(meta.offset), time.time()))  # type: ignore[attr-defined]
        self._unacked.discard(index)
        self._last_ack = time.monotonic()

    def _failed(self, index: int, exc: BaseException) -> None:
        self.stats.failures += 1
        if self.stats.failures <= 5 or self.stats.failures % 1000 == 0:
            logger.info("send failed (%s); will resend", type(exc).__name__)
        if index in self._unacked or not self.records[index].acks:
            self._retry.append((time.monotonic() + 0.5, index))


def _make(partition: int, event_type: str, payload: dict[str, JsonValue]) -> Sent:
    envelope_id = uuid.uuid4()
    return Sent(envelope_id, partition, encode_envelope(envelope_id, event_type, payload))


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 15)


__all__ = ["EnvelopeStream", "Sent", "StreamStats"]
