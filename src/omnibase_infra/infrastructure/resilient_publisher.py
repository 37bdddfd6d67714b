"""The seed's event queue: publishing through the Kafka breaker without ever losing an event.

``ResilientPublisher.publish(event)`` either publishes now, or holds the event:

1. While the breaker refuses calls, or a publish fails with an outage, or
   earlier events are still held, the event waits in a bounded in-memory FIFO
   (``max_queue_size`` of the breaker's config). Held events keep their order:
   a new event never overtakes a held one.
2. When the queue is full and ``graceful_degradation`` is on, the event is
   spilled to the outbox (``ProtocolOutboxSpill``); from then on later events
   also go to the outbox until it has been drained, so order is kept.
3. When the queue is full and graceful degradation is off (or there is no
   outbox), ``publish`` raises ``QueueFullError``. If the spill itself fails,
   its error is raised. An event is never dropped silently: ``publish`` returns
   only once the event is published, queued or durably spilled.

A non-outage error of a direct publish (e.g. a record too large) is raised to
the caller, who still holds the event.

``recover_queued_events()`` drains the queue oldest first, then the outbox
(if an ``outbox_drainer`` is given), through the breaker, and stops at the
first outage or refusal. A held record that fails with a non-outage error is
retried up to ``max_attempts`` times per pass; then it is parked in the
dead-letter sink with its error when ``dead_letter_enabled``, or left at the
head of the queue to be retried by the next pass when it is not.

``start()`` runs recovery every ``recovery_interval_seconds`` in a background
task; ``stop()`` stops it, tries a last recovery, and spills what is still
held to the outbox (or logs how many events remain, if there is none).

``publish_durably(event)`` is for events that must survive a crash of the
process (the service's own state-changed events): it returns only once the
event is acknowledged by the broker or stored in the outbox, never holding it
in memory. Whenever ``publish()`` would hold it (the breaker refuses, an
outage, events already held or spilled ahead of it) it spills the held events
and then this one, in order, in one outbox transaction. If that spill fails
(or graceful degradation is off, or there is no outbox) it raises
``OutboxUnavailableError`` and keeps nothing of this event; events held
before it stay held. A non-outage publish error is raised as with ``publish()``.

Order after a spill: later events follow the spilled ones into the outbox
until they were published. With an ``outbox_drainer`` this publisher drains
them itself; without one (the outbox relay publishes them) a spill that can
report its backlog (``ProtocolOutboxBacklog``) is asked whether rows of the
spilled topics are still pending, and direct publishing resumes only once none
is. The first durable event of a topic also asks, so rows an earlier run of
the process left pending are not overtaken either.

A record parked after repeated failures goes to the dead-letter sink before it
leaves the queue, so a sink that fails leaves the record held, not lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import CircuitOpenError, LifecycleError, OutboxUnavailableError, QueueFullError
from omnibase_infra.infrastructure.error_classification import ErrorClassification, classify_error
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import (
    BoundedEventQueue,
    DeadLetteredEvent,
    Header,
    OutboundEvent,
    OutboxDrainReport,
    PublishOutcome,
    QueuedEvent,
    RecoveryReport,
    StopReason,
)
from omnibase_infra.infrastructure.outbox_spill import (
    ProtocolOutboxBacklog,
    ProtocolOutboxDrainer,
    ProtocolOutboxSpill,
)

_log = logging.getLogger(__name__)


class ProtocolRecordSender(Protocol):
    """What the publisher sends through: ``KafkaProducerPool.send`` has this shape."""

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Publish one record and return ``(partition, offset)`` once acknowledged."""
        ...


class ProtocolDeadLetterSink(Protocol):
    """Receives records parked after repeated non-outage failures."""

    async def park(self, record: DeadLetteredEvent) -> None: ...


class InMemoryDeadLetterSink:
    """Keeps parked records in a list (the default sink)."""

    def __init__(self) -> None:
        self.records: list[DeadLetteredEvent] = []

    async def park(self, record: DeadLetteredEvent) -> None:
        self.records.append(record)


class ResilientPublisher:
    """Publishes through a breaker, holding events in a bounded queue and the outbox (see module doc)."""

    def __init__(
        self,
        sender: ProtocolRecordSender,
        breaker: EventBusCircuitBreaker,
        *,
        spill: ProtocolOutboxSpill | None = None,
        outbox_drainer: ProtocolOutboxDrainer | None = None,
        dead_letter_sink: ProtocolDeadLetterSink | None = None,
        max_attempts: int = 3,
        recovery_interval_seconds: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._sender = sender
        self._breaker = breaker
        self._config = breaker.config
        self._spill = spill
        self._drainer = outbox_drainer
        self._dead_letters = dead_letter_sink or InMemoryDeadLetterSink()
        self._max_attempts = max_attempts
        self._interval = recovery_interval_seconds
        self._clock = clock
        self._queue = BoundedEventQueue(self._config.max_queue_size)
        self._spilling = False
        self._backlog_topics: set[str] = set()  # topics whose spilled rows may still be pending
        self._checked_topics: set[str] = set()  # topics whose rows from before this run were checked
        self._spill_lock = asyncio.Lock()
        self._recovery_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._state = "new"
        self.published_count = 0
        self.queued_count = 0
        self.spilled_count = 0
        self.recovered_count = 0
        self.dead_lettered_count = 0
        breaker.set_queue_gauge(lambda: (len(self._queue), self.spilled_count))
        breaker.set_queue_recovery(self.recover_queued_events)

    @property
    def breaker(self) -> EventBusCircuitBreaker:
        return self._breaker

    @property
    def events_queued(self) -> int:
        """Events waiting in memory now."""
        return len(self._queue)

    @property
    def spilling(self) -> bool:
        """True while later events go to the outbox to stay behind spilled ones."""
        return self._spilling

    @property
    def dead_letter_sink(self) -> ProtocolDeadLetterSink:
        return self._dead_letters

    def pending_events(self) -> list[OutboundEvent]:
        """The events held in memory, oldest first (for inspection and shutdown reports)."""
        return [item.event for item in self._queue]

    async def start(self) -> None:
        """Start background recovery; idempotent. Raises ``LifecycleError`` after ``stop()``."""
        if self._state == "stopped":
            raise LifecycleError("ResilientPublisher was stopped; create a new one")
        if self._state == "running":
            return
        self._state = "running"
        self._task = asyncio.create_task(self._recovery_loop(), name=f"recover-{self._breaker.name}")

    async def stop(self) -> None:
        """Stop background recovery, try a last recovery, spill what is left; idempotent."""
        if self._state != "running":
            self._state = "stopped"
            return
        self._state = "stopped"
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if len(self._queue) and self._breaker.allows_calls():
            await self._recover()
        await self._spill_remaining()

    async def __aenter__(self) -> ResilientPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def publish(self, event: OutboundEvent) -> PublishOutcome:
        """Publish, queue or spill ``event`` (see the module docstring); never drops it."""
        if self._state != "running":
            raise LifecycleError(f"ResilientPublisher is {self._state}; call start() first")
        if len(self._queue) or self._spilling or not self._breaker.allows_calls():
            return await self._hold(event)
        try:
            partition, offset = await self._breaker.call(lambda: self._send(event))
        except CircuitOpenError:
            return await self._hold(event)
        except Exception as exc:
            if classify_error(exc).is_outage:
                return await self._hold(event)
            raise
        self.published_count += 1
        return PublishOutcome("published", partition, offset)

    async def publish_durably(self, event: OutboundEvent) -> PublishOutcome:
        """Publish ``event`` or store it in the outbox now; never hold it in memory (module doc).

        Returns ``published`` or ``spilled``. Raises ``OutboxUnavailableError``
        when it could be neither (nothing of ``event`` is kept), or the error of
        a direct publish that is not an outage.
        """
        if self._state != "running":
            raise LifecycleError(f"ResilientPublisher is {self._state}; call start() first")
        behind_earlier_rows = await self._has_earlier_backlog(event.topic)
        if not (len(self._queue) or self._spilling or behind_earlier_rows) and self._breaker.allows_calls():
            try:
                partition, offset = await self._breaker.call(lambda: self._send(event))
            except CircuitOpenError:
                pass
            except Exception as exc:
                if not classify_error(exc).is_outage:
                    raise
            else:
                self.published_count += 1
                return PublishOutcome("published", partition, offset)
        await self._spill_with_held(event)
        return PublishOutcome("spilled")

    async def recover_queued_events(self) -> RecoveryReport:
        """Drain the queue, then the outbox, while the breaker admits calls; report what happened.

        Never raises for a failed publish (the report says where it stopped and
        why); raises ``OutageError`` if the outbox itself cannot be read.
        Concurrent calls are serialised.
        """
        return await self._recover()

    # -- internals ---------------------------------------------------------------------------

    async def _send(self, event: OutboundEvent) -> tuple[int, int]:
        return await self._sender.send(event.topic, event.value, event.key, list(event.headers))

    async def _hold(self, event: OutboundEvent) -> PublishOutcome:
        if not self._spilling and self._queue.offer(QueuedEvent(event, self._clock.now())):
            self.queued_count += 1
            return PublishOutcome("queued")
        if not self._config.graceful_degradation or self._spill is None:
            why = "graceful degradation is off" if self._spill is not None else "no outbox is configured"
            raise QueueFullError(
                f"event queue of {self._breaker.name!r} is full ({self._queue.max_size} events) and {why}"
            )
        async with self._spill_lock:
            await self._spill.spill([event])
            self._spilling = True
            self._backlog_topics.add(event.topic)
        self.spilled_count += 1
        return PublishOutcome("spilled")

    async def _spill_with_held(self, event: OutboundEvent) -> None:
        """Spill what is held and then ``event`` in one transaction, or raise ``OutboxUnavailableError``."""
        if not self._config.graceful_degradation or self._spill is None:
            why = "graceful degradation is off" if self._spill is not None else "no outbox is configured"
            raise OutboxUnavailableError(
                f"event for {event.topic} could not be published through {self._breaker.name!r} "
                f"and cannot be spilled: {why}"
            )
        async with self._spill_lock:
            held = self._queue.take_all()
            try:
                await self._spill.spill([*(item.event for item in held), event])
            except Exception as exc:
                for item in held:
                    self._queue.offer(item)
                raise OutboxUnavailableError(
                    f"event for {event.topic} could not be published through {self._breaker.name!r} "
                    f"nor spilled to the outbox ({type(exc).__name__})"
                ) from exc
            self._spilling = True
            self._backlog_topics.update({event.topic, *(item.event.topic for item in held)})
        self.spilled_count += len(held) + 1

    async def _has_earlier_backlog(self, topic: str) -> bool:
        """Once per topic: True if the outbox holds pending rows of it from before (or cannot tell)."""
        if topic in self._checked_topics or not isinstance(self._spill, ProtocolOutboxBacklog):
            return False
        try:
            pending = await self._spill.has_pending([topic])
        except Exception as exc:
            _log.debug("event queue %s: outbox backlog unknown (%s)", self._breaker.name, type(exc).__name__)
            return True
        self._checked_topics.add(topic)
        return pending

    async def _outbox_backlog_cleared(self) -> bool:
        """True unless the spill reports rows of the spilled topics still pending (or cannot tell)."""
        if not isinstance(self._spill, ProtocolOutboxBacklog):
            return True
        try:
            pending = await self._spill.has_pending(sorted(self._backlog_topics))
        except Exception as exc:
            _log.debug("event queue %s: outbox backlog unknown (%s)", self._breaker.name, type(exc).__name__)
            return False
        if not pending:
            self._backlog_topics.clear()
        return not pending

    async def _recover(self) -> RecoveryReport:
        async with self._recovery_lock:
            recovered, failed, parked, stopped = await self._drain_queue()
            outbox: OutboxDrainReport | None = None
            if stopped == "drained" and not len(self._queue):
                if self._drainer is not None and self._spilling:
                    outbox = await self._drainer.drain(
                        self._publish_held, max_attempts=self._max_attempts, park=self._park_outbox_row
                    )
                    stopped = outbox.stopped
                    if outbox.remaining == 0 and outbox.stopped == "drained":
                        self._spilling = False
                elif self._drainer is None and await self._outbox_backlog_cleared():
                    self._spilling = False  # the outbox relay published every spilled row
        queue_recovered = recovered
        if outbox is not None:
            recovered += outbox.recovered
            failed += outbox.failed
            parked += outbox.dead_lettered
            self.recovered_count += outbox.recovered
            self.dead_lettered_count += outbox.dead_lettered
        report = RecoveryReport(
            recovered=recovered,
            failed=failed,
            dead_lettered=parked,
            remaining=len(self._queue) + (outbox.remaining if outbox is not None else 0),
            stopped=stopped,
            queue_recovered=queue_recovered,
            outbox_recovered=outbox.recovered if outbox is not None else 0,
            outbox_remaining=outbox.remaining if outbox is not None else None,
        )
        if recovered or parked:
            _log.info("event queue %s: %s", self._breaker.name, report)
        return report

    async def _drain_queue(self) -> tuple[int, int, int, StopReason]:
        recovered = failed = parked = 0
        while (head := self._queue.peek()) is not None:
            try:
                await self._publish_held(head.event)
            except Exception as exc:
                verdict = classify_error(exc)
                if verdict.is_outage:
                    return (
                        recovered,
                        failed,
                        parked,
                        "outage" if verdict.counts_against_breaker else "circuit_open",
                    )
                failed += 1
                head.attempts += 1
                head.last_error = f"{verdict.error_class}: {exc}"
                if head.attempts % self._max_attempts:
                    continue
                if not self._config.dead_letter_enabled:
                    return recovered, failed, parked, "record_failing"
                await self._park(head.event, head.attempts, exc, verdict)
                self._queue.pop()  # only once the sink took it
                parked += 1
                self.dead_lettered_count += 1
            else:
                self._queue.pop()
                recovered += 1
                self.recovered_count += 1
        return recovered, failed, parked, "drained"

    async def _publish_held(self, event: OutboundEvent) -> object:
        result = await self._breaker.call(lambda: self._send(event))
        self.published_count += 1
        return result

    async def _park(
        self, event: OutboundEvent, attempts: int, exc: BaseException, verdict: ErrorClassification
    ) -> None:
        record = DeadLetteredEvent(
            event=event,
            attempts=attempts,
            error_class=verdict.error_class,
            error_message=str(exc)[:500],
            classification=verdict,
            parked_at=self._clock.now(),
        )
        _log.warning(
            "event queue %s: parked a record for %s after %d attempts (%s)",
            self._breaker.name,
            event.topic,
            attempts,
            verdict.error_class,
        )
        await self._dead_letters.park(record)

    async def _park_outbox_row(self, event: OutboundEvent, attempts: int, exc: BaseException) -> None:
        await self._park(event, attempts, exc, classify_error(exc))

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if (len(self._queue) or self._spilling) and self._breaker.allows_calls():
                try:
                    await self._recover()
                except Exception:
                    _log.exception("event queue %s: recovery pass failed", self._breaker.name)

    async def _spill_remaining(self) -> None:
        if not len(self._queue):
            return
        if self._spill is None:
            _log.error(
                "event queue %s stopped with %d unpublished events and no outbox",
                self._breaker.name,
                len(self._queue),
            )
            return
        held = self._queue.take_all()
        try:
            async with self._spill_lock:
                await self._spill.spill([item.event for item in held])
        except Exception:
            for item in held:  # keep them inspectable through pending_events()
                self._queue.offer(item)
            raise
        self.spilled_count += len(held)
        _log.info(
            "event queue %s: spilled %d held events to the outbox at stop", self._breaker.name, len(held)
        )


__all__ = ["InMemoryDeadLetterSink", "ProtocolDeadLetterSink", "ProtocolRecordSender", "ResilientPublisher"]
