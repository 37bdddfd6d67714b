"""``KafkaProducerPool.lane()``: records buffered on one producer, their acks awaited later.

A lane holds one producer of the pool for a group of sends whose order matters (the outbox
relay's round): ``enqueue`` buffers a record at once and returns its ``Delivery``; the
ack is awaited on it afterwards, so a whole group travels in a few produce requests
instead of one request per acknowledged record. Records of one lane keep their order per
partition: aiokafka sends one batch per partition at a time and retries it in place,
and with ``enable_idempotence`` the broker refuses a batch that would land after a lost one
(sequence numbers), so a record is never acknowledged behind an earlier one of its partition
that failed. Errors are the pool's, translated as
in ``send``; a caller that gives up on an ack (cancelled) aborts the producer, as ``send``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_protocol import Ack


@dataclass(frozen=True, slots=True)
class Pending:
    """The pool's handle on a buffered record: its ack future and when it was buffered."""

    future: asyncio.Future[Ack]
    started: float


class Delivery[P]:
    """A record buffered on a ``Lane``: ``await ack()`` (once) for ``(partition, offset)`` or its error."""

    __slots__ = ("_await_ack", "_pending", "_record")

    def __init__(
        self, record: OutboundEvent, pending: P, await_ack: Callable[[OutboundEvent, P], Awaitable[Ack]]
    ) -> None:
        self._record, self._pending, self._await_ack = record, pending, await_ack

    async def ack(self) -> Ack:
        return await self._await_ack(self._record, self._pending)


class Lane[P]:
    """One producer's buffer: ``enqueue`` in call order, acks awaited on each ``Delivery``.

    What a lane buffers waits out ``linger_ms`` like any record until ``send_buffered()``:
    the caller says when its group is all buffered, and the open batches go at the next
    turn of the event loop (closing them earlier would cut the group into small batches,
    each waiting for the one before it on its partition)."""

    __slots__ = ("_await_ack", "_enqueue", "_send_buffered")

    def __init__(
        self,
        enqueue: Callable[[OutboundEvent], Awaitable[P]],
        await_ack: Callable[[OutboundEvent, P], Awaitable[Ack]],
        send_buffered: Callable[[], None],
    ) -> None:
        self._enqueue, self._await_ack, self._send_buffered = enqueue, await_ack, send_buffered

    async def enqueue(self, record: OutboundEvent) -> Delivery[P]:
        """Buffer ``record``; raises at once when the producer refuses it (too large, closed...)."""
        return Delivery(record, await self._enqueue(record), self._await_ack)

    def send_buffered(self) -> None:
        """Send what this lane buffered without waiting out ``linger_ms``."""
        self._send_buffered()


async def outcome(delivery: Delivery[Pending]) -> Ack | Exception:
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


__all__ = ["Delivery", "Lane", "Pending", "mark_seen", "outcome"]
