"""The records the event queue holds and the reports it returns, plus the bounded FIFO itself.

``BoundedEventQueue`` never drops: ``offer()`` refuses when full and the caller
(``ResilientPublisher``) decides between spilling to the outbox and rejecting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from omnibase_infra.infrastructure.error_classification import ErrorClassification

Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One record to publish: topic, value, optional key and headers (order kept)."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[Header, ...] = ()

    @classmethod
    def create(
        cls, topic: str, value: bytes, key: bytes | None = None, headers: Sequence[Header] | None = None
    ) -> OutboundEvent:
        return cls(topic, value, key, tuple(headers or ()))


@dataclass(slots=True)
class QueuedEvent:
    """An event waiting in memory; ``attempts`` counts non-outage failures only."""

    event: OutboundEvent
    enqueued_at: datetime
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetteredEvent:
    """A record parked after ``attempts`` non-outage failures, with the last error."""

    event: OutboundEvent
    attempts: int
    error_class: str
    error_message: str
    classification: ErrorClassification
    parked_at: datetime


PublishStatus = Literal["published", "queued", "spilled"]


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What ``publish()`` did with an event; ``partition``/``offset`` are set when published."""

    status: PublishStatus
    partition: int | None = None
    offset: int | None = None


StopReason = Literal["drained", "circuit_open", "outage", "record_failing"]


@dataclass(frozen=True, slots=True)
class OutboxDrainReport:
    """What one outbox drain did. ``remaining`` counts rows still pending."""

    recovered: int = 0
    failed: int = 0
    dead_lettered: int = 0
    remaining: int = 0
    stopped: StopReason = "drained"


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What one ``recover_queued_events()`` pass did.

    ``recovered``/``failed``/``dead_lettered`` count in-memory queue records and
    outbox rows together; ``remaining`` is what is still waiting in memory plus
    the outbox rows the drainer reported pending (``None`` when not drained).
    """

    recovered: int
    failed: int
    dead_lettered: int
    remaining: int
    stopped: StopReason
    queue_recovered: int = 0
    outbox_recovered: int = 0
    outbox_remaining: int | None = None


class BoundedEventQueue:
    """A FIFO of at most ``max_size`` events. It refuses when full; it never evicts."""

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = max_size
        self._items: deque[QueuedEvent] = deque()

    @property
    def max_size(self) -> int:
        return self._max_size

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[QueuedEvent]:
        return iter(self._items)

    def is_full(self) -> bool:
        return len(self._items) >= self._max_size

    def offer(self, item: QueuedEvent) -> bool:
        """Append ``item`` unless full; returns whether it was taken."""
        if self.is_full():
            return False
        self._items.append(item)
        return True

    def peek(self) -> QueuedEvent | None:
        return self._items[0] if self._items else None

    def pop(self) -> QueuedEvent:
        """Remove and return the oldest item (``IndexError`` when empty)."""
        return self._items.popleft()

    def take_all(self) -> list[QueuedEvent]:
        """Remove and return every item, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items


__all__ = [
    "BoundedEventQueue",
    "DeadLetteredEvent",
    "Header",
    "OutboundEvent",
    "OutboxDrainReport",
    "PublishOutcome",
    "PublishStatus",
    "QueuedEvent",
    "RecoveryReport",
    "StopReason",
]
