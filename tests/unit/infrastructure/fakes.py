"""In-memory fakes at the seams of the event queue and the producer pool."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from omnibase_infra.errors import OutageError
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_protocol import Ack, Header


class FakeSender:
    """A ``ProtocolRecordSender``: records what it published; can be taken down or made to reject."""

    def __init__(self) -> None:
        self.published: list[OutboundEvent] = []
        self.attempts = 0
        self.down = False
        self.reject: Callable[[OutboundEvent], Exception | None] = lambda event: None

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        self.attempts += 1
        event = OutboundEvent(topic, value, key, tuple(headers or ()))
        if self.down:
            raise OutageError("broker down")
        error = self.reject(event)
        if error is not None:
            raise error
        self.published.append(event)
        return 0, len(self.published) - 1


class FakeBatch:
    """A ``ProtocolRecordBatch`` holding up to ``capacity`` records."""

    def __init__(self, producer: FakeProducer, capacity: int) -> None:
        self.producer = producer
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes, tuple[Header, ...]]] = []

    def append(self, key: bytes | None, value: bytes, headers: Sequence[Header]) -> bool:
        if self.producer.enqueue_error is not None:
            raise self.producer.enqueue_error
        if len(self.records) >= self.capacity:
            return False
        self.records.append((key, value, tuple(headers)))
        return True


class FakeProducer:
    """A ``ProtocolKafkaProducer`` whose acks the test controls.

    Batches (``send_batch``) land in ``sent`` like single records; with ``auto_ack`` off they
    wait in ``pending_batches`` as ``(events, future of the base offset)``. ``partition_of``
    is the partitioner (every key on partition 0 unless a test says otherwise)."""

    def __init__(self, client_id: str, *, start_error: Exception | None = None) -> None:
        self.client_id = client_id
        self.start_error = start_error
        self.started = False
        self.stopped = False
        self.aborted: BaseException | None = None
        self.auto_ack = True
        self.enqueue_error: Exception | None = None
        self.metadata_error: Exception | None = None
        self.topics: set[str] = set()
        self.pending: list[tuple[OutboundEvent, asyncio.Future[Ack]]] = []
        self.sent: list[OutboundEvent] = []
        self.sent_soon: list[str] = []
        self.batch_capacity = 1000
        self.partition_of: Callable[[str, bytes | None], int] = lambda topic, key: 0
        self.pending_batches: list[tuple[list[OutboundEvent], asyncio.Future[int]]] = []
        self.batches: list[tuple[str, int, int]] = []  # (topic, partition, records) per batch sent

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def enqueue(
        self, topic: str, value: bytes, key: bytes | None, headers: Sequence[Header], partition: int | None
    ) -> asyncio.Future[Ack]:
        if self.enqueue_error is not None:
            raise self.enqueue_error
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        event = OutboundEvent(topic, value, key, tuple(headers))
        if self.auto_ack:
            self.sent.append(event)
            future.set_result((partition or 0, len(self.sent) - 1))
        else:
            self.pending.append((event, future))
        return future

    async def partitioner(self, topic: str) -> Callable[[bytes | None], int]:
        return lambda key: self.partition_of(topic, key)

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self, self.batch_capacity)

    async def send_batch(self, batch: object, topic: str, partition: int) -> asyncio.Future[int]:
        assert isinstance(batch, FakeBatch)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        records = [OutboundEvent(topic, value, key, headers) for key, value, headers in batch.records]
        self.batches.append((topic, partition, len(records)))
        if self.auto_ack:
            future.set_result(len(self.sent))
            self.sent.extend(records)
        else:
            self.pending_batches.append((records, future))
        return future

    def send_soon(self, topic: str) -> None:
        self.sent_soon.append(topic)

    def abort(self, exc: BaseException) -> None:
        self.aborted = exc
        for _, future in self.pending:
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()
        for _, batch_future in self.pending_batches:
            if not batch_future.done():
                batch_future.set_exception(exc)
        self.pending_batches.clear()

    async def fetch_metadata(self) -> int:
        if self.metadata_error is not None:
            raise self.metadata_error
        return 1

    async def has_topic(self, topic: str) -> bool:
        if self.metadata_error is not None:
            raise self.metadata_error
        return topic in self.topics


def events(n: int, topic: str = "onex.evt.test.orders.v1") -> list[OutboundEvent]:
    return [
        OutboundEvent(topic, f"event-{i}".encode(), f"k{i % 3}".encode(), (("h", b"v"),)) for i in range(n)
    ]
