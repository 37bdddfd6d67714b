"""InfrastructureStateWorkflow: record each change once, advance only by recorded changes, store them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import OutageError, OutboxUnavailableError, TopicNotAllowedError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.outbox_spill import InMemoryOutbox
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT
from omnibase_infra.models.model_health import InfrastructureHealthMetrics, ModelCircuitBreakerMetrics
from omnibase_infra.models.model_infrastructure_state import ModelStateChangedIntent, ModelStateChangedPayload
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import reduce_health
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import summarise_health
from omnibase_infra.runtime.service_components import DurableEventPublisher
from omnibase_infra.runtime.state_workflow import InfrastructureStateWorkflow, ProtocolEventPublisher
from omnibase_infra.workflow.protocols import TopicUse

from .fakes import HEALTH_AT, FakeGuard, RecordingDatabase, breaker, health_metrics

TOPIC = "onex.evt.infrastructure.state-changed.v1"


class StateOnlyAcl:
    """The topic ACL of the shipped contracts as far as state events go: ``TOPIC`` for ``state``."""

    def require(self, topic: str, use: TopicUse) -> None:
        if (topic, use) != (TOPIC, "state"):
            raise TopicNotAllowedError(topic, use, "not the state topic")

    def require_relayable(self, topic: str, *, service_row: bool) -> None:
        self.require(topic, "relay")

    def require_declared(self, topic: str) -> None:
        self.require(topic, "state")


STATE_ONLY_ACL = StateOnlyAcl()


class FakeEventPublisher:
    """Records what it published; ``refuse(key)`` returning an error makes that publish raise it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bytes | None]] = []
        self.refuse: Callable[[bytes | None], Exception | None] = lambda key: None

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        error = self.refuse(key)
        if error is not None:
            raise error
        self.published.append((topic, value, key))


class Harness:
    def __init__(self, publisher: ProtocolEventPublisher | None = None) -> None:
        self.samples: list[InfrastructureHealthMetrics] = []
        self.database = RecordingDatabase()
        self.db_guard = FakeGuard("postgres")
        self.publisher = FakeEventPublisher()
        self.payloads: list[ModelStateChangedPayload] = []
        self.workflow = InfrastructureStateWorkflow(
            summarise=summarise_health,
            reduce=reduce_health,
            database=self.database,
            database_guard=self.db_guard,
            publisher=publisher or self.publisher,
            topic=TOPIC,
            encode=self.encode,
        )
        self.tick = 0

    async def step(self) -> list[ModelStateChangedIntent]:
        """One workflow step on the next queued sample."""
        return await self.workflow.step(self.samples.pop(0))

    def encode(self, payload: ModelStateChangedPayload) -> bytes:
        self.payloads.append(payload)
        return payload.model_dump_json().encode()

    def sample(
        self, *, postgres: bool = True, breakers: list[ModelCircuitBreakerMetrics] | None = None
    ) -> None:
        self.tick += 1
        at = HEALTH_AT + timedelta(seconds=30 * self.tick)
        self.samples.append(health_metrics(timestamp=at, postgres_healthy=postgres, breakers=breakers))

    def stored(self) -> list[tuple[object, ...]]:
        """(component, status) of every row written to onex_infrastructure_state."""
        return [args[:2] for args in self.database.connection.executed if len(args) == 4]


async def test_first_step_publishes_every_component_keyed_by_name_and_stores_it() -> None:
    h = Harness()
    h.sample(breakers=[breaker("postgres", "closed")])

    intents = await h.step()

    assert [i.component for i in intents] == ["postgres", "kafka", "circuit_breaker:postgres"]
    assert [(topic, key) for topic, _, key in h.publisher.published] == [
        (TOPIC, b"postgres"),
        (TOPIC, b"kafka"),
        (TOPIC, b"circuit_breaker:postgres"),
    ]
    assert h.stored() == [
        ("postgres", "healthy"),
        ("kafka", "healthy"),
        ("circuit_breaker:postgres", "healthy"),
    ]
    assert h.workflow.published == 3


async def test_unchanged_health_publishes_and_stores_nothing() -> None:
    h = Harness()
    h.sample()
    h.sample()
    await h.step()
    published, stored = len(h.publisher.published), len(h.stored())

    assert await h.step() == []
    assert len(h.publisher.published) == published
    assert len(h.stored()) == stored


async def test_a_change_carries_previous_status_overall_status_and_environment() -> None:
    h = Harness()
    h.sample()
    h.sample(postgres=False)
    await h.step()

    [intent] = await h.step()

    assert (intent.component, intent.previous_status, intent.status) == ("postgres", "healthy", "unhealthy")
    payload = h.payloads[-1]
    assert payload.previous_status == "healthy"
    assert payload.overall_status == "unhealthy"
    assert payload.environment == "development"
    assert h.stored()[-1] == ("postgres", "unhealthy")


async def test_changes_wait_while_postgres_is_down_and_are_stored_on_a_later_step() -> None:
    h = Harness()
    h.db_guard.open = True
    h.sample()
    h.sample(postgres=False)
    h.sample(postgres=False)

    await h.step()
    await h.step()
    assert len(h.publisher.published) == 3, "publishing does not wait for PostgreSQL"
    assert h.stored() == []

    h.db_guard.open = False
    assert await h.step() == []

    assert h.stored() == [("postgres", "healthy"), ("kafka", "healthy"), ("postgres", "unhealthy")]
    history = [args for args in h.database.connection.executed if len(args) == 5]
    assert [args[:3] for args in history] == [
        ("postgres", None, "healthy"),
        ("kafka", None, "healthy"),
        ("postgres", "healthy", "unhealthy"),
    ]


async def test_stored_changes_are_not_stored_twice() -> None:
    h = Harness()
    h.sample()
    h.sample(postgres=False)
    h.sample(postgres=False)
    for _ in range(3):
        await h.step()

    assert h.stored() == [("postgres", "healthy"), ("kafka", "healthy"), ("postgres", "unhealthy")]


async def test_overall_status_is_the_whole_state_not_the_changed_component() -> None:
    h = Harness()
    h.sample(postgres=False, breakers=[breaker("kafka", "open")])
    h.sample(postgres=True, breakers=[breaker("kafka", "open")])
    await h.step()

    [intent] = await h.step()

    assert (intent.component, intent.status) == ("postgres", "healthy")
    assert h.payloads[-1].status == "healthy"
    assert h.payloads[-1].overall_status == "unhealthy", "the kafka breaker is still open"


async def test_each_event_of_a_round_carries_the_overall_status_once_it_and_those_before_it_apply() -> None:
    h = Harness()
    h.sample(breakers=[breaker("kafka", "open")])

    await h.step()

    by_component = {p.component: p for p in h.payloads}
    assert h.payloads[0].component == "postgres"
    # A later change of the round may fail to be recorded, and then it is not applied: the
    # first event must not claim the status that only the breaker's change brings.
    assert by_component["postgres"].overall_status == "healthy"
    assert h.payloads[-1].overall_status == "unhealthy", "the kafka breaker is open"


def _statuses(h: Harness) -> dict[str, str]:
    return {name: c.status for name, c in h.workflow.state.components.items()}


async def test_a_change_that_cannot_be_recorded_is_not_applied_and_the_next_round_retries_it() -> None:
    h = Harness()
    h.sample()
    h.sample(postgres=False)
    h.sample(postgres=False)
    await h.step()
    baseline = (len(h.publisher.published), len(h.stored()), h.workflow.state.version)

    h.publisher.refuse = lambda key: OutboxUnavailableError("Kafka and the outbox are down")
    assert await h.step() == []
    assert _statuses(h)["postgres"] == "healthy", "the state did not advance"
    assert (len(h.publisher.published), len(h.stored()), h.workflow.state.version) == baseline
    assert h.workflow.unstored == 0

    h.publisher.refuse = lambda key: None
    [intent] = await h.step()
    assert (intent.component, intent.previous_status, intent.status) == ("postgres", "healthy", "unhealthy")
    assert [key for _, _, key in h.publisher.published].count(b"postgres") == 2  # the first and this one
    assert h.stored()[-1] == ("postgres", "unhealthy")
    assert _statuses(h)["postgres"] == "unhealthy"


async def test_a_round_is_recorded_in_order_up_to_the_first_failure_and_only_that_far_applied() -> None:
    h = Harness()
    h.sample(breakers=[breaker("postgres", "closed")])
    h.sample(breakers=[breaker("postgres", "closed")])
    h.publisher.refuse = lambda key: OutboxUnavailableError("down") if key == b"kafka" else None

    recorded = await h.step()

    assert [i.component for i in recorded] == ["postgres"]
    assert [key for _, _, key in h.publisher.published] == [b"postgres"]
    assert _statuses(h) == {"postgres": "healthy"}
    assert h.workflow.state.version == 1
    assert h.stored() == [("postgres", "healthy")]

    h.publisher.refuse = lambda key: None
    retried = await h.step()
    assert [i.component for i in retried] == ["kafka", "circuit_breaker:postgres"]
    assert all(i.previous_status is None for i in retried)
    assert h.workflow.state.version == 3


class FakeBroker:
    """``ProtocolRecordSender``: acknowledges and keeps every record, or raises an outage while ``down``."""

    def __init__(self) -> None:
        self.published: list[OutboundEvent] = []
        self.down = False

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> tuple[int, int]:
        if self.down:
            raise OutageError("broker down")
        self.published.append(OutboundEvent(topic, value, key, tuple(headers or ())))
        return 0, len(self.published) - 1


class QueueRig:
    """The workflow over the production adapter and the real event queue, with a fake broker and outbox."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sender = FakeBroker()
        self.kafka = EventBusCircuitBreaker("kafka", DEVELOPMENT_DEFAULT, clock=self.clock)
        self.outbox = InMemoryOutbox()
        self.queue = ResilientPublisher(self.sender, self.kafka, spill=self.outbox, clock=self.clock)
        self.h = Harness(DurableEventPublisher(self.queue, STATE_ONLY_ACL))

    def on_topic(self, component: str) -> list[str]:
        """Statuses of ``component``'s events the broker acknowledged, directly or relayed from the outbox."""
        return [
            ModelStateChangedPayload.model_validate_json(e.value).status
            for e in self.sender.published
            if e.key == component.encode()
        ]

    async def relay(self) -> None:
        """What the outbox relay does once Kafka answers again."""
        self.sender.down = False
        self.clock.advance(DEVELOPMENT_DEFAULT.recovery_timeout)

        async def send(event: OutboundEvent) -> object:
            return await self.sender.send(event.topic, event.value, event.key, list(event.headers))

        await self.outbox.drain(send, max_attempts=3, park=None)


async def test_kafka_down_the_change_goes_to_the_outbox_and_the_state_advances_nothing_in_memory() -> None:
    rig = QueueRig()
    await rig.queue.start()
    rig.h.sample()
    rig.h.sample(postgres=False)
    await rig.h.step()

    rig.sender.down = True
    [intent] = await rig.h.step()

    assert intent.status == "unhealthy"
    assert _statuses(rig.h)["postgres"] == "unhealthy"
    assert rig.queue.events_queued == 0
    assert [e.key for e in rig.outbox.pending] == [b"postgres"]
    assert rig.h.stored()[-1] == ("postgres", "unhealthy")
    await rig.relay()
    assert rig.on_topic("postgres") == ["healthy", "unhealthy"]


async def test_kafka_and_postgres_down_nothing_advances_then_each_change_is_recorded_once() -> None:
    rig = QueueRig()
    await rig.queue.start()
    rig.h.sample()
    rig.h.sample(postgres=False)
    rig.h.sample(postgres=False)
    await rig.h.step()
    stored = len(rig.h.stored())

    rig.sender.down = True
    rig.outbox.fail_spill_with = OutageError("PostgreSQL down")
    rig.h.db_guard.open = True
    assert await rig.h.step() == []
    assert _statuses(rig.h)["postgres"] == "healthy"
    assert (rig.queue.events_queued, rig.h.workflow.unstored, len(rig.outbox.pending)) == (0, 0, 0)

    rig.outbox.fail_spill_with = None  # PostgreSQL is back, Kafka is not
    rig.h.db_guard.open = False
    [intent] = await rig.h.step()
    assert (intent.previous_status, intent.status) == ("healthy", "unhealthy")
    assert len(rig.h.stored()) == stored + 1
    assert rig.h.stored()[-1] == ("postgres", "unhealthy")

    await rig.relay()
    assert rig.on_topic("postgres") == ["healthy", "unhealthy"], "published exactly once"


async def test_rows_of_changes_published_while_postgres_is_down_wait_and_store_pending_writes_them() -> None:
    h = Harness()
    h.db_guard.open = True
    h.sample()

    recorded = await h.step()

    assert len(recorded) == 2 and len(h.publisher.published) == 2, "Kafka up: recorded by publishing"
    assert h.workflow.unstored == 2
    await h.workflow.store_pending()
    assert h.workflow.unstored == 2 and h.stored() == [], "still down: kept for later"

    h.db_guard.open = False
    await h.workflow.store_pending()  # what the shutdown does before closing the pool
    assert h.workflow.unstored == 0
    assert h.stored() == [("postgres", "healthy"), ("kafka", "healthy")]
