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


class FakeProducer:
    """A ``ProtocolKafkaProducer`` whose acks the test controls."""

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

    def send_soon(self, topic: str) -> None:
        self.sent_soon.append(topic)

    def abort(self, exc: BaseException) -> None:
        self.aborted = exc
        for _, future in self.pending:
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()

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
