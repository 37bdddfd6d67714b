"""The event queue: hold while the breaker is open, spill when full, recover in order, park poison."""

from __future__ import annotations

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import LifecycleError, OutageError, PoisonRecordError, QueueFullError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import BoundedEventQueue, OutboundEvent, QueuedEvent
from omnibase_infra.infrastructure.outbox_spill import InMemoryOutbox
from omnibase_infra.infrastructure.resilient_publisher import InMemoryDeadLetterSink, ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT, ModelCircuitBreakerConfig

from .fakes import FakeSender, events

# development values (2 failures open it for 15 s, 1 success closes) with the smallest queue
CONFIG = DEVELOPMENT_DEFAULT.model_copy(update={"max_queue_size": 10, "dead_letter_enabled": True})


class Rig:
    def __init__(self, config: ModelCircuitBreakerConfig = CONFIG, *, spill: bool = True) -> None:
        self.clock = FakeClock()
        self.sender = FakeSender()
        self.breaker = EventBusCircuitBreaker("kafka", config, clock=self.clock)
        self.outbox = InMemoryOutbox()
        self.parked = InMemoryDeadLetterSink()
        self.publisher = ResilientPublisher(
            self.sender,
            self.breaker,
            spill=self.outbox if spill else None,
            outbox_drainer=self.outbox if spill else None,
            dead_letter_sink=self.parked,
            max_attempts=3,
            clock=self.clock,
        )

    async def take_down(self) -> None:
        """Make the broker unreachable; one failed publish queues its event, a second failure opens."""
        self.sender.down = True
        probe = OutboundEvent("onex.evt.test.probe.v1", b"probe")
        assert (await self.publisher.publish(probe)).status == "queued"
        assert self.breaker.state == "closed"
        self.breaker.acquire_permission().on_error(OutageError("still down"))
        assert self.breaker.state == "open"
        assert self.publisher._queue.take_all()[0].event == probe  # not part of the scenarios below

    def bring_back(self) -> None:
        self.sender.down = False
        self.clock.advance(CONFIG.recovery_timeout)


@pytest.fixture
async def rig() -> Rig:
    rig = Rig()
    await rig.publisher.start()
    return rig


async def test_publishes_directly_while_closed(rig: Rig) -> None:
    outcome = await rig.publisher.publish(events(1)[0])
    assert (outcome.status, outcome.partition, outcome.offset) == ("published", 0, 0)
    assert rig.sender.published == events(1)


async def test_an_outage_queues_the_event_instead_of_losing_it(rig: Rig) -> None:
    rig.sender.down = True
    event = events(1)[0]
    assert (await rig.publisher.publish(event)).status == "queued"
    assert rig.publisher.pending_events() == [event]
    assert rig.breaker.metrics().failed_calls == 1


async def test_while_open_events_wait_without_touching_the_broker(rig: Rig) -> None:
    await rig.take_down()
    attempts = rig.sender.attempts
    for event in events(5):
        assert (await rig.publisher.publish(event)).status == "queued"
    assert rig.sender.attempts == attempts
    assert rig.breaker.metrics().events_queued == 5


async def test_a_full_queue_spills_to_the_outbox_and_later_events_follow(rig: Rig) -> None:
    await rig.take_down()
    statuses = [(await rig.publisher.publish(e)).status for e in events(13)]
    assert statuses == ["queued"] * 10 + ["spilled"] * 3
    assert rig.outbox.pending == events(13)[10:]
    assert rig.breaker.metrics().events_spilled == 3


async def test_a_full_queue_without_graceful_degradation_rejects_loudly() -> None:
    rig = Rig(CONFIG.model_copy(update={"graceful_degradation": False}))
    await rig.publisher.start()
    await rig.take_down()
    for event in events(10):
        await rig.publisher.publish(event)
    with pytest.raises(QueueFullError, match="graceful degradation is off"):
        await rig.publisher.publish(events(11)[10])
    assert rig.outbox.pending == []
    assert len(rig.publisher.pending_events()) == 10


async def test_a_full_queue_without_an_outbox_rejects_loudly() -> None:
    rig = Rig(spill=False)
    await rig.publisher.start()
    await rig.take_down()
    for event in events(10):
        await rig.publisher.publish(event)
    with pytest.raises(QueueFullError, match="no outbox"):
        await rig.publisher.publish(events(11)[10])


async def test_a_failing_spill_is_raised_not_swallowed(rig: Rig) -> None:
    await rig.take_down()
    for event in events(10):
        await rig.publisher.publish(event)
    rig.outbox.fail_spill_with = OutageError("postgres down too")
    with pytest.raises(OutageError, match="postgres down too"):
        await rig.publisher.publish(events(11)[10])


async def test_recovery_waits_for_the_breaker(rig: Rig) -> None:
    await rig.take_down()
    await rig.publisher.publish(events(1)[0])
    rig.sender.down = False
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.remaining, report.stopped) == (0, 1, "circuit_open")


async def test_recovery_drains_the_queue_then_the_outbox_in_publish_order(rig: Rig) -> None:
    await rig.take_down()
    sent = events(14)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.failed, report.remaining, report.stopped) == (14, 0, 0, "drained")
    assert (report.queue_recovered, report.outbox_recovered) == (10, 4)
    assert rig.sender.published == sent
    assert rig.breaker.state == "closed"
    assert not rig.publisher.spilling
    assert (await rig.publisher.publish(events(1)[0])).status == "published"


async def test_events_published_while_others_wait_go_behind_them(rig: Rig) -> None:
    await rig.take_down()
    first = events(3)
    for event in first:
        await rig.publisher.publish(event)
    rig.bring_back()
    late = OutboundEvent("onex.evt.test.orders.v1", b"late")
    assert (
        await rig.publisher.publish(late)
    ).status == "queued"  # the breaker admits, the queue is not empty
    await rig.publisher.recover_queued_events()
    assert rig.sender.published == [*first, late]


async def test_recovery_stops_at_an_outage_and_keeps_the_rest_in_order(rig: Rig) -> None:
    await rig.take_down()
    sent = events(6)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    rig.sender.reject = lambda e: OutageError("flapping") if e == sent[2] else None
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.remaining, report.stopped) == (2, 4, "outage")
    assert rig.publisher.pending_events() == sent[2:]
    assert rig.breaker.metrics().failure_count == 1  # closed again after the first probe; one outage counted


async def test_a_record_that_keeps_failing_is_parked_when_dead_letter_is_enabled(rig: Rig) -> None:
    await rig.take_down()
    sent = events(4)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    rig.sender.reject = lambda e: (
        PoisonRecordError("kafka_send", "RecordTooLarge", "too big") if e == sent[1] else None
    )
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.dead_lettered, report.failed, report.remaining) == (3, 1, 3, 0)
    assert rig.sender.published == [sent[0], sent[2], sent[3]]
    [parked] = rig.parked.records
    assert parked.event == sent[1]
    assert parked.attempts == 3
    assert parked.classification.is_poison
    assert "too big" in parked.error_message


async def test_a_record_that_keeps_failing_is_retried_when_dead_letter_is_disabled() -> None:
    rig = Rig(CONFIG.model_copy(update={"dead_letter_enabled": False}))
    await rig.publisher.start()
    await rig.take_down()
    sent = events(3)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    rig.sender.reject = lambda e: ValueError("serializer bug") if e == sent[1] else None
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.failed, report.remaining, report.stopped) == (1, 3, 2, "record_failing")
    assert rig.parked.records == []
    second = await rig.publisher.recover_queued_events()
    assert second.failed == 3
    assert rig.publisher._queue.peek() is not None and rig.publisher._queue.peek().attempts == 6  # type: ignore[union-attr]
    rig.sender.reject = lambda e: None
    final = await rig.publisher.recover_queued_events()
    assert (final.recovered, final.remaining) == (2, 0)
    assert rig.sender.published == sent


async def test_outbox_rows_that_keep_failing_are_parked_too(rig: Rig) -> None:
    await rig.take_down()
    sent = events(12)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    rig.sender.reject = lambda e: PoisonRecordError("kafka_send", "x", "bad") if e == sent[11] else None
    report = await rig.publisher.recover_queued_events()
    assert (report.recovered, report.dead_lettered, report.remaining) == (11, 1, 0)
    assert rig.outbox.dead_letter == [sent[11]]
    assert [r.event for r in rig.parked.records] == [sent[11]]


async def test_a_non_outage_error_of_a_direct_publish_goes_back_to_the_caller(rig: Rig) -> None:
    rig.sender.reject = lambda e: PoisonRecordError("kafka_send", "RecordTooLarge", "too big")
    with pytest.raises(PoisonRecordError):
        await rig.publisher.publish(events(1)[0])
    assert rig.publisher.pending_events() == []
    assert rig.breaker.state == "closed"


async def test_lifecycle_is_guarded_and_idempotent() -> None:
    rig = Rig()
    with pytest.raises(LifecycleError):
        await rig.publisher.publish(events(1)[0])
    await rig.publisher.start()
    await rig.publisher.start()
    await rig.publisher.stop()
    await rig.publisher.stop()
    with pytest.raises(LifecycleError):
        await rig.publisher.publish(events(1)[0])
    with pytest.raises(LifecycleError):
        await rig.publisher.start()


async def test_stop_spills_what_is_still_held(rig: Rig) -> None:
    await rig.take_down()
    held = events(4)
    for event in held:
        await rig.publisher.publish(event)
    await rig.publisher.stop()
    assert rig.outbox.pending == held
    assert rig.publisher.pending_events() == []


async def test_stop_publishes_what_it_can_before_spilling(rig: Rig) -> None:
    await rig.take_down()
    held = events(4)
    for event in held:
        await rig.publisher.publish(event)
    rig.bring_back()
    await rig.publisher.stop()
    assert rig.sender.published == held
    assert rig.outbox.pending == []


def test_the_bounded_queue_refuses_instead_of_evicting() -> None:
    queue = BoundedEventQueue(2)
    clock = FakeClock()
    items = [QueuedEvent(e, clock.now()) for e in events(3)]
    assert queue.offer(items[0]) and queue.offer(items[1])
    assert not queue.offer(items[2])
    assert [i.event for i in queue] == events(2)
    assert queue.pop() is items[0]
    with pytest.raises(ValueError):
        BoundedEventQueue(0)
