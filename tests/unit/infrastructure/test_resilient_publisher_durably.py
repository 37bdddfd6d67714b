"""The event queue's ``publish_durably``: Kafka or the outbox at once, never memory; raise when neither."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import OutageError, OutboxUnavailableError, PoisonRecordError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import DeadLetteredEvent, OutboundEvent
from omnibase_infra.infrastructure.outbox_spill import InMemoryOutbox
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT, ModelCircuitBreakerConfig

from .fakes import FakeSender, events

CONFIG = DEVELOPMENT_DEFAULT.model_copy(update={"max_queue_size": 10, "dead_letter_enabled": True})


class RelayedOutbox(InMemoryOutbox):
    """An outbox some other process relays (no drainer here); reports whether its rows are still pending."""

    def __init__(self) -> None:
        super().__init__()
        self.backlog_unknown = False

    async def has_pending(self, topics: Sequence[str]) -> bool:
        if self.backlog_unknown:
            raise OutageError("PostgreSQL down")
        return any(event.topic in topics for event in self.pending)

    def relay(self) -> list[OutboundEvent]:
        relayed, self.pending = self.pending, []
        self.published.extend(relayed)
        return relayed


class FailingSink:
    """A dead-letter sink that cannot store anything."""

    def __init__(self) -> None:
        self.offered: list[DeadLetteredEvent] = []

    async def park(self, record: DeadLetteredEvent) -> None:
        self.offered.append(record)
        raise OutageError("PostgreSQL down")


class Rig:
    def __init__(self, config: ModelCircuitBreakerConfig = CONFIG, *, spill: bool = True) -> None:
        self.clock = FakeClock()
        self.sender = FakeSender()
        self.breaker = EventBusCircuitBreaker("kafka", config, clock=self.clock)
        self.outbox = RelayedOutbox()
        self.sink = FailingSink()
        self.publisher = ResilientPublisher(
            self.sender,
            self.breaker,
            spill=self.outbox if spill else None,
            dead_letter_sink=self.sink,
            max_attempts=3,
            clock=self.clock,
        )

    def open_breaker(self) -> None:
        for _ in range(CONFIG.failure_threshold):
            self.breaker.acquire_permission().on_error(OutageError("down"))
        assert self.breaker.state == "open"

    def bring_back(self) -> None:
        self.sender.down = False
        self.clock.advance(CONFIG.recovery_timeout)


@pytest.fixture
async def rig() -> Rig:
    rig = Rig()
    await rig.publisher.start()
    return rig


def statuses(outcomes: Sequence[object]) -> list[str]:
    return [getattr(o, "status", "?") for o in outcomes]


async def test_publishes_directly_when_the_broker_acknowledges(rig: Rig) -> None:
    event = events(1)[0]
    outcome = await rig.publisher.publish_durably(event)
    assert (outcome.status, outcome.partition, outcome.offset) == ("published", 0, 0)
    assert rig.sender.published == [event]
    assert rig.publisher.events_queued == 0 and rig.outbox.pending == []


async def test_an_outage_spills_the_event_to_the_outbox_at_once_not_to_memory(rig: Rig) -> None:
    rig.sender.down = True
    event = events(1)[0]
    assert (await rig.publisher.publish_durably(event)).status == "spilled"
    assert rig.outbox.pending == [event]
    assert rig.publisher.events_queued == 0
    assert rig.publisher.pending_events() == []
    assert rig.breaker.metrics().events_spilled == 1


async def test_an_open_breaker_spills_without_touching_the_broker(rig: Rig) -> None:
    rig.open_breaker()
    attempts = rig.sender.attempts
    sent = events(3)
    assert statuses([await rig.publisher.publish_durably(e) for e in sent]) == ["spilled"] * 3
    assert rig.sender.attempts == attempts
    assert rig.outbox.pending == sent


async def test_kafka_and_the_outbox_both_down_raise_and_keep_nothing(rig: Rig) -> None:
    rig.sender.down = True
    rig.outbox.fail_spill_with = OutageError("PostgreSQL down")
    with pytest.raises(OutboxUnavailableError, match="nor spilled to the outbox"):
        await rig.publisher.publish_durably(events(1)[0])
    assert rig.publisher.events_queued == 0
    assert rig.outbox.pending == []
    assert rig.sender.published == []


async def test_without_graceful_degradation_a_durable_publish_fails_while_kafka_is_down() -> None:
    rig = Rig(CONFIG.model_copy(update={"graceful_degradation": False}))
    await rig.publisher.start()
    rig.sender.down = True
    with pytest.raises(OutboxUnavailableError, match="graceful degradation is off"):
        await rig.publisher.publish_durably(events(1)[0])
    assert rig.publisher.events_queued == 0 and rig.outbox.pending == []


async def test_without_an_outbox_a_durable_publish_fails_while_kafka_is_down() -> None:
    rig = Rig(spill=False)
    await rig.publisher.start()
    rig.open_breaker()
    with pytest.raises(OutboxUnavailableError, match="no outbox"):
        await rig.publisher.publish_durably(events(1)[0])
    assert rig.publisher.events_queued == 0


async def test_events_held_in_memory_go_to_the_outbox_first_keeping_order(rig: Rig) -> None:
    rig.open_breaker()
    held = events(3)
    for event in held:
        assert (await rig.publisher.publish(event)).status == "queued"
    durable = OutboundEvent("onex.evt.test.state.v1", b"state", b"postgres")

    assert (await rig.publisher.publish_durably(durable)).status == "spilled"

    assert rig.outbox.pending == [*held, durable]
    assert rig.publisher.events_queued == 0


async def test_a_failed_spill_leaves_earlier_held_events_held(rig: Rig) -> None:
    rig.open_breaker()
    held = events(2)
    for event in held:
        await rig.publisher.publish(event)
    rig.outbox.fail_spill_with = OutageError("PostgreSQL down")

    with pytest.raises(OutboxUnavailableError):
        await rig.publisher.publish_durably(OutboundEvent("onex.evt.test.state.v1", b"state"))

    assert rig.publisher.pending_events() == held


async def test_a_non_outage_error_is_raised_and_nothing_is_kept(rig: Rig) -> None:
    rig.sender.reject = lambda e: PoisonRecordError("kafka_send", "RecordTooLarge", "too big")
    with pytest.raises(PoisonRecordError):
        await rig.publisher.publish_durably(events(1)[0])
    assert rig.publisher.events_queued == 0 and rig.outbox.pending == []


async def test_after_a_spill_later_events_follow_until_the_relay_published_the_spilled_ones(rig: Rig) -> None:
    rig.sender.down = True
    first, second, third = events(3)
    assert (await rig.publisher.publish_durably(first)).status == "spilled"
    rig.bring_back()

    # Kafka is back, but `first` still waits in the outbox: `second` must not overtake it.
    assert (await rig.publisher.publish_durably(second)).status == "spilled"
    await rig.publisher.recover_queued_events()
    assert rig.publisher.spilling, "the spilled rows are still pending"

    rig.outbox.backlog_unknown = True  # PostgreSQL cannot say: assume they are still pending
    await rig.publisher.recover_queued_events()
    assert rig.publisher.spilling

    rig.outbox.backlog_unknown = False
    assert rig.outbox.relay() == [first, second]
    await rig.publisher.recover_queued_events()
    assert not rig.publisher.spilling
    assert (await rig.publisher.publish_durably(third)).status == "published"
    assert rig.sender.published == [third]


async def test_a_record_whose_dead_letter_sink_fails_stays_held_instead_of_vanishing(rig: Rig) -> None:
    rig.open_breaker()
    sent = events(2)
    for event in sent:
        await rig.publisher.publish(event)
    rig.bring_back()
    rig.sender.reject = lambda e: (
        PoisonRecordError("kafka_send", "RecordTooLarge", "too big") if e == sent[0] else None
    )

    with pytest.raises(OutageError):
        await rig.publisher.recover_queued_events()

    assert [r.event for r in rig.sink.offered] == [sent[0]]
    assert rig.publisher.pending_events() == sent


async def test_rows_an_earlier_run_left_pending_are_not_overtaken_by_the_first_durable_event() -> None:
    rig = Rig()
    earlier = OutboundEvent("onex.evt.test.state.v1", b"kafka unhealthy", b"kafka")
    rig.outbox.pending.append(earlier)  # spilled by the previous process, not relayed yet
    await rig.publisher.start()
    now = OutboundEvent("onex.evt.test.state.v1", b"kafka healthy", b"kafka")
    other_topic = events(1)[0]

    assert (await rig.publisher.publish_durably(now)).status == "spilled"
    assert rig.outbox.pending == [earlier, now]
    assert (await rig.publisher.publish_durably(other_topic)).status == "spilled", "behind the spill"

    assert rig.outbox.relay() == [earlier, now, other_topic]
    await rig.publisher.recover_queued_events()
    assert (await rig.publisher.publish_durably(now)).status == "published"


async def test_when_the_outbox_cannot_say_the_first_durable_event_goes_through_it() -> None:
    rig = Rig()
    await rig.publisher.start()
    rig.outbox.backlog_unknown = True
    rig.outbox.fail_spill_with = OutageError("PostgreSQL down")

    with pytest.raises(OutboxUnavailableError):
        await rig.publisher.publish_durably(events(1)[0])
    assert rig.sender.published == [], "not published past rows it could not see"

    rig.outbox.backlog_unknown = False
    rig.outbox.fail_spill_with = None
    assert (await rig.publisher.publish_durably(events(1)[0])).status == "published"
