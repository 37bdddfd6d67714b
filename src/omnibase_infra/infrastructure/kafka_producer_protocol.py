"""The typed seam between the producer pool and a Kafka client library.

aiokafka ships no type information, so the pool talks to a
``ProtocolKafkaProducer``; ``kafka_producer_adapter.AIOKafkaProducerAdapter``
is the only code that touches aiokafka, and tests pass their own factory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig

Header = tuple[str, bytes]
Ack = tuple[int, int]
"""``(partition, offset)`` of an acknowledged record."""


class ProtocolRecordBatch(Protocol):
    """Records of one partition built into one produce batch by the caller (``create_batch``)."""

    def append(self, key: bytes | None, value: bytes, headers: Sequence[Header]) -> bool:
        """Add a record; ``False`` when the batch is full (a first record always fits).

        Raises the client's error for a record no batch can carry (larger than
        ``max_request_size``), as ``enqueue`` does."""
        ...


class ProtocolKafkaProducer(Protocol):
    """One producer connection set. Safe for concurrent ``enqueue`` calls from one loop."""

    async def start(self) -> None:
        """Connect to the cluster. Raises the client's error if it cannot."""
        ...

    async def stop(self) -> None:
        """Deliver what is buffered, then close; idempotent."""
        ...

    async def enqueue(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Sequence[Header],
        partition: int | None,
    ) -> asyncio.Future[Ack]:
        """Buffer one record; the future resolves to its ack, or to the delivery error."""
        ...

    async def partitioner(self, topic: str) -> Callable[[bytes | None], int]:
        """The partition ``enqueue`` would choose for a key of ``topic`` (waiting for its metadata).

        The same choice as the client's own partitioner, with the partitions known now: every
        record of a key lands on one partition, whichever way it was sent."""
        ...

    def create_batch(self) -> ProtocolRecordBatch:
        """An empty batch, filled by the caller and handed to ``send_batch``."""
        ...

    async def send_batch(self, batch: ProtocolRecordBatch, topic: str, partition: int) -> asyncio.Future[int]:
        """Queue ``batch`` for ``topic``/``partition`` behind the batches queued there before it.

        Sent without waiting out ``linger_ms``. The future resolves to the batch's base offset
        (its records follow in order) or to the delivery error of all its records."""
        ...

    def send_soon(self, topic: str) -> None:
        """Send what is buffered for ``topic`` without waiting out ``linger_ms``.

        Once the records enqueued in this turn of the event loop are in (so they still travel
        together), the open batches of ``topic`` are closed and handed to the sender.
        """
        ...

    def abort(self, exc: BaseException) -> None:
        """Fail every record not yet acknowledged with ``exc`` and close in the background.

        After ``abort`` returns, no buffered record of this producer is sent
        again, so a record whose send was abandoned is never delivered late
        (a request already on the wire may still land: at-least-once).
        """
        ...

    async def fetch_metadata(self) -> int:
        """Ask the brokers for cluster metadata; return how many brokers answered for."""
        ...

    async def has_topic(self, topic: str) -> bool:
        """Whether the cluster has ``topic``; asking never creates it (no auto-creation)."""
        ...


ProducerFactory = Callable[[ModelKafkaProducerConfig, str], ProtocolKafkaProducer]
"""Builds an unstarted producer from the pool's config and a client id."""

__all__ = ["Ack", "Header", "ProducerFactory", "ProtocolKafkaProducer", "ProtocolRecordBatch"]
