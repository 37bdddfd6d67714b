"""infrastructure_state, step by step through the nodes: record each change once, advance only by
recorded changes, store them.

The rounds run the composition's steps after the health checks (summarise_health, fold_state,
publish_state, apply_recorded, store_state_change) on the real node classes, with fakes for
PostgreSQL (its connection and breaker) and for the durable publisher, or the real
``ResilientPublisher`` over a fake broker and an in-memory outbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import SimpleNamespace

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.container import build_container
from omnibase_infra.contract_validation.contract_set import ContractSet
from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.errors import OutageError, OutboxUnavailableError, TopicNotAllowedError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.outbox_spill import InMemoryOutbox, ProtocolOutboxSpill
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT
from omnibase_infra.models.model_health import ModelCircuitBreakerMetrics, ModelKafkaHealth
from omnibase_infra.models.model_infrastructure_state import ModelStateChangedIntent, ModelStateChangedPayload
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.node import NodeInfrastructureReducer
from omnibase_infra.nodes.kafka_adapter.v1_0_0.node import NodeKafkaAdapterEffect
from omnibase_infra.nodes.message_aggregator.v1_0_0.node import NodeMessageAggregatorCompute
from omnibase_infra.nodes.postgres_adapter.v1_0_0.node import NodePostgresAdapterEffect
from omnibase_infra.settings import ModelInfraSettings, load_settings
from omnibase_infra.workflow.operations import StepContext, bind_operation
from omnibase_infra.workflow.payloads import HealthRound, Tick
from omnibase_infra.workflow.protocols import TopicUse

from .fakes import HEALTH_AT, FakeGuard, RecordingDatabase, breaker, postgres_health

TOPIC = "onex.evt.infrastructure.state-changed.v1"
WORKFLOW = "infrastructure_state"


class StateOnlyAcl:
    """The topic ACL of the shipped contracts as far as state events go: ``TOPIC`` for ``state``."""

    def require(self, topic: str, use: TopicUse) -> None:
        if (topic, use) != (TOPIC, "state"):
            raise TopicNotAllowedError(topic, use, "not the state topic")

    def require_relayable(self, topic: str, *, service_row: bool) -> None:
        self.require(topic, "relay")

    def require_declared(self, topic: str) -> None:
        self.require(topic, "state")


class FakeEventPublisher:
    """Records what it published; ``refuse(key)`` returning an error makes that publish raise it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bytes | None]] = []
        self.refuse: Callable[[bytes | None], Exception | None] = lambda key: None

    async def publish_durably(self, event: OutboundEvent) -> object:
        error = self.refuse(event.key)
        if error is not None:
            raise error
        self.published.append((event.topic, event.value, event.key))
        return None


def decode(value: bytes) -> ModelStateChangedPayload:
    """The state-changed payload of an encoded envelope.

    The wire leaves null fields out (``encode_state_changed``): a component's first change
    has no ``previous_status`` key, which the model reads as ``None``.
    """
    payload = json.loads(value)["payload"]
    assert payload.get("previous_status", "absent") is not None, "null fields are left out"
    return ModelStateChangedPayload.model_validate({"previous_status": None, **payload})


def step(node: str, operation: str, publishes: tuple[str, ...] = ()) -> StepContext:
    return StepContext(WORKFLOW, operation, node, operation, publishes=publishes)


@pytest.fixture(scope="module")
def contracts() -> ContractSet:
    return load_contract_set()


def development_settings() -> ModelInfraSettings:
    """What the nodes build from (no server is ever reached: PostgreSQL and the publisher are faked)."""
    return load_settings(
        {
            "ENVIRONMENT": "development",
            "POSTGRES_HOST": "db.example",
            "POSTGRES_DATABASE": "onex",
            "POSTGRES_USER": "onex_app",
            "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
        }
    )


class Harness:
    """The four nodes of the workflow, PostgreSQL and the publisher faked."""

    def __init__(self, contracts: ContractSet) -> None:
        self.contracts = contracts
        self.rounds: list[HealthRound] = []
        self.database = RecordingDatabase()
        self.db_guard = FakeGuard("postgres")
        self.publisher = FakeEventPublisher()
        self.tick = 0

    async def build(self, publisher: object | None = None) -> Harness:
        container = await build_container(self.contracts, settings=development_settings())
        self.postgres = NodePostgresAdapterEffect(container)
        self.kafka = NodeKafkaAdapterEffect(container)
        self.aggregator = NodeMessageAggregatorCompute(container)
        self.reducer = NodeInfrastructureReducer(container)
        for node in (self.postgres, self.kafka, self.aggregator, self.reducer):
            await node.initialize()
        resources = SimpleNamespace(database=self.database, breaker=self.db_guard)
        object.__setattr__(self.postgres, "_resources", resources)
        object.__setattr__(self.kafka, "_state_publisher", publisher or self.publisher)
        object.__setattr__(self.kafka, "_acl", StateOnlyAcl())
        return self

    @property
    def payloads(self) -> list[ModelStateChangedPayload]:
        return [decode(value) for _, value, _ in self.publisher.published]

    async def step(self) -> list[ModelStateChangedIntent]:
        """One round on the next queued sample, from the summary on; the changes it recorded."""
        health = self.rounds.pop(0)
        health = await self.aggregator.summarise_health(
            health, step("message_aggregator", "summarise_health")
        )
        health = await self.reducer.fold_state(health, step("infrastructure_reducer", "fold_state"))
        health = await self.kafka.publish_state(health, step("kafka_adapter", "publish_state", (TOPIC,)))
        health = await self.reducer.apply_recorded(health, step("infrastructure_reducer", "apply_recorded"))
        health = await self.postgres.store_state_change(
            health, step("postgres_adapter", "store_state_change")
        )
        return health.recorded_changes

    def sample(
        self, *, postgres: bool = True, breakers: list[ModelCircuitBreakerMetrics] | None = None
    ) -> None:
        """Queue a round as the health checks leave it."""
        self.tick += 1
        self.rounds.append(
            HealthRound(
                at=HEALTH_AT + timedelta(seconds=30 * self.tick),
                environment="development",
                postgres=postgres_health("healthy" if postgres else "unhealthy"),
                kafka=ModelKafkaHealth(status="healthy", brokers_reachable=True),
                breakers=list(breakers or []),
            )
        )

    def stored(self) -> list[tuple[object, ...]]:
        """(component, status) of every row written to onex_infrastructure_state."""
        return [args[:2] for args in self.database.connection.executed if len(args) == 4]

    def statuses(self) -> dict[str, str]:
        return {name: c.status for name, c in self.reducer.infrastructure_state.components.items()}


async def harness(contracts: ContractSet, publisher: object | None = None) -> Harness:
    return await Harness(contracts).build(publisher)


async def test_first_step_publishes_every_component_keyed_by_name_and_stores_it(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
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
    assert h.kafka.state_published == 3


async def test_unchanged_health_publishes_and_stores_nothing(contracts: ContractSet) -> None:
    h = await harness(contracts)
    h.sample()
    h.sample()
    await h.step()
    published, stored = len(h.publisher.published), len(h.stored())

    assert await h.step() == []
    assert len(h.publisher.published) == published
    assert len(h.stored()) == stored


async def test_a_change_carries_previous_status_overall_status_and_environment(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
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


async def test_changes_wait_while_postgres_is_down_and_are_stored_on_a_later_step(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
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


async def test_stored_changes_are_not_stored_twice(contracts: ContractSet) -> None:
    h = await harness(contracts)
    h.sample()
    h.sample(postgres=False)
    h.sample(postgres=False)
    for _ in range(3):
        await h.step()

    assert h.stored() == [("postgres", "healthy"), ("kafka", "healthy"), ("postgres", "unhealthy")]


async def test_overall_status_is_the_whole_state_not_the_changed_component(contracts: ContractSet) -> None:
    h = await harness(contracts)
    h.sample(postgres=False, breakers=[breaker("kafka", "open")])
    h.sample(postgres=True, breakers=[breaker("kafka", "open")])
    await h.step()

    [intent] = await h.step()

    assert (intent.component, intent.status) == ("postgres", "healthy")
    assert h.payloads[-1].status == "healthy"
    assert h.payloads[-1].overall_status == "unhealthy", "the kafka breaker is still open"


async def test_each_event_of_a_round_carries_the_overall_status_once_it_and_those_before_it_apply(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
    h.sample(breakers=[breaker("kafka", "open")])

    await h.step()

    by_component = {p.component: p for p in h.payloads}
    assert h.payloads[0].component == "postgres"
    # A later change of the round may fail to be recorded, and then it is not applied: the
    # first event must not claim the status that only the breaker's change brings.
    assert by_component["postgres"].overall_status == "healthy"
    assert h.payloads[-1].overall_status == "unhealthy", "the kafka breaker is open"


async def test_a_change_that_cannot_be_recorded_is_not_applied_and_the_next_round_retries_it(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
    h.sample()
    h.sample(postgres=False)
    h.sample(postgres=False)
    await h.step()
    baseline = (len(h.publisher.published), len(h.stored()), h.reducer.infrastructure_state.version)

    h.publisher.refuse = lambda key: OutboxUnavailableError("Kafka and the outbox are down")
    assert await h.step() == []
    assert h.statuses()["postgres"] == "healthy", "the state did not advance"
    assert (len(h.publisher.published), len(h.stored()), h.reducer.infrastructure_state.version) == baseline
    assert h.postgres.unstored_state_changes == 0

    h.publisher.refuse = lambda key: None
    [intent] = await h.step()
    assert (intent.component, intent.previous_status, intent.status) == ("postgres", "healthy", "unhealthy")
    assert [key for _, _, key in h.publisher.published].count(b"postgres") == 2  # the first and this one
    assert h.stored()[-1] == ("postgres", "unhealthy")
    assert h.statuses()["postgres"] == "unhealthy"


async def test_a_round_is_recorded_in_order_up_to_the_first_failure_and_only_that_far_applied(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
    h.sample(breakers=[breaker("postgres", "closed")])
    h.sample(breakers=[breaker("postgres", "closed")])
    h.publisher.refuse = lambda key: OutboxUnavailableError("down") if key == b"kafka" else None

    recorded = await h.step()

    assert [i.component for i in recorded] == ["postgres"]
    assert [key for _, _, key in h.publisher.published] == [b"postgres"]
    assert h.statuses() == {"postgres": "healthy"}
    assert h.reducer.infrastructure_state.version == 1
    assert h.stored() == [("postgres", "healthy")]

    h.publisher.refuse = lambda key: None
    retried = await h.step()
    assert [i.component for i in retried] == ["kafka", "circuit_breaker:postgres"]
    assert all(i.previous_status is None for i in retried)
    assert h.reducer.infrastructure_state.version == 3


async def test_a_topic_the_acl_refuses_records_nothing_and_applies_nothing(contracts: ContractSet) -> None:
    h = await harness(contracts)
    h.sample()
    health = h.rounds.pop(0)
    health = await h.aggregator.summarise_health(health, step("message_aggregator", "summarise_health"))
    health = await h.reducer.fold_state(health, step("infrastructure_reducer", "fold_state"))

    other = "onex.evt.postgres.operation-completed.v1"
    health = await h.kafka.publish_state(health, step("kafka_adapter", "publish_state", (other,)))
    health = await h.reducer.apply_recorded(health, step("infrastructure_reducer", "apply_recorded"))

    assert (health.recorded, h.publisher.published) == (0, [])
    assert h.reducer.infrastructure_state.components == {}


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
    """The steps over the production publisher and the real event queue, with a fake broker and outbox."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sender = FakeBroker()
        self.kafka = EventBusCircuitBreaker("kafka", DEVELOPMENT_DEFAULT, clock=self.clock)
        self.outbox = InMemoryOutbox()
        self.queue = ResilientPublisher(self.sender, self.kafka, spill=self.outbox, clock=self.clock)

    async def build(self, contracts: ContractSet) -> QueueRig:
        self.h = await harness(contracts, self.queue)
        return self

    def on_topic(self, component: str) -> list[str]:
        """Statuses of ``component``'s events the broker acknowledged, directly or relayed from the outbox."""
        return [decode(e.value).status for e in self.sender.published if e.key == component.encode()]

    async def relay(self) -> None:
        """What the outbox relay does once Kafka answers again."""
        self.sender.down = False
        self.clock.advance(DEVELOPMENT_DEFAULT.recovery_timeout)

        async def send(event: OutboundEvent) -> object:
            return await self.sender.send(event.topic, event.value, event.key, list(event.headers))

        await self.outbox.drain(send, max_attempts=3, park=None)


async def test_kafka_down_the_change_goes_to_the_outbox_and_the_state_advances_nothing_in_memory(
    contracts: ContractSet,
) -> None:
    rig = await QueueRig().build(contracts)
    await rig.queue.start()
    rig.h.sample()
    rig.h.sample(postgres=False)
    await rig.h.step()

    rig.sender.down = True
    [intent] = await rig.h.step()

    assert intent.status == "unhealthy"
    assert rig.h.statuses()["postgres"] == "unhealthy"
    assert rig.queue.events_queued == 0
    assert [e.key for e in rig.outbox.pending] == [b"postgres"]
    assert rig.h.stored()[-1] == ("postgres", "unhealthy")
    await rig.relay()
    assert rig.on_topic("postgres") == ["healthy", "unhealthy"]


async def test_kafka_and_postgres_down_nothing_advances_then_each_change_is_recorded_once(
    contracts: ContractSet,
) -> None:
    rig = await QueueRig().build(contracts)
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
    assert rig.h.statuses()["postgres"] == "healthy"
    assert (rig.queue.events_queued, rig.h.postgres.unstored_state_changes, len(rig.outbox.pending)) == (
        0,
        0,
        0,
    )

    rig.outbox.fail_spill_with = None  # PostgreSQL is back, Kafka is not
    rig.h.db_guard.open = False
    [intent] = await rig.h.step()
    assert (intent.previous_status, intent.status) == ("healthy", "unhealthy")
    assert len(rig.h.stored()) == stored + 1
    assert rig.h.stored()[-1] == ("postgres", "unhealthy")

    await rig.relay()
    assert rig.on_topic("postgres") == ["healthy", "unhealthy"], "published exactly once"


async def test_rows_of_changes_published_while_postgres_is_down_wait_and_store_pending_writes_them(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
    h.db_guard.open = True
    h.sample()

    recorded = await h.step()

    assert len(recorded) == 2 and len(h.publisher.published) == 2, "Kafka up: recorded by publishing"
    assert h.postgres.unstored_state_changes == 2
    await h.postgres.store_pending_state_changes()
    assert h.postgres.unstored_state_changes == 2 and h.stored() == [], "still down: kept for later"

    h.db_guard.open = False
    await h.postgres.store_pending_state_changes()  # what stop() does before closing the pool
    assert h.postgres.unstored_state_changes == 0
    assert h.stored() == [("postgres", "healthy"), ("kafka", "healthy")]


class SampledDatabase(RecordingDatabase):
    """A connection source whose health check reports ``status``, or raises while ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    async def health_check(self) -> object:
        if self.failing:
            raise OutageError("down")
        return postgres_health("healthy")

    def get_connection_stats(self) -> object:
        return None


class MeteredGuard(FakeGuard):
    def metrics(self) -> ModelCircuitBreakerMetrics:
        return breaker(self.name, "open" if self.open else "closed")


class SampledProducers:
    async def health_check(self) -> ModelKafkaHealth:
        return ModelKafkaHealth(status="degraded", brokers_reachable=True)


async def test_the_health_checks_start_the_round_from_the_tick_and_each_adds_its_sample(
    contracts: ContractSet,
) -> None:
    h = await harness(contracts)
    database = SampledDatabase()
    database.failing = True
    object.__setattr__(
        h.postgres, "_resources", SimpleNamespace(database=database, breaker=MeteredGuard("postgres"))
    )
    object.__setattr__(h.kafka, "_producers", SampledProducers())
    object.__setattr__(h.kafka, "_breaker", MeteredGuard("kafka", open=True))
    tick = Tick(at=HEALTH_AT)

    health = await h.kafka.health_check(tick, step("kafka_adapter", "health_check"))
    health = await h.postgres.health_check(health, step("postgres_adapter", "health_check"))

    assert health.at == HEALTH_AT and health.environment == "development"
    assert health.postgres is not None and health.postgres.status == "unhealthy"
    assert health.postgres.error == "health check failed: OutageError"
    assert health.kafka is not None and health.kafka.status == "degraded"
    assert [(b.name, b.state) for b in health.breakers] == [("kafka", "open"), ("postgres", "closed")]
    metrics = health.metrics()
    assert (metrics.overall_status, metrics.postgres_healthy, metrics.circuit_breaker_healthy) == (
        "unhealthy",
        False,
        False,
    )
    health = await h.aggregator.summarise_health(health, step("message_aggregator", "summarise_health"))
    assert health.summary is not None
    assert {s.component: s.status for s in health.summary.samples} == {
        "postgres": "unhealthy",
        "kafka": "degraded",
        "circuit_breaker:kafka": "unhealthy",
        "circuit_breaker:postgres": "healthy",
    }


async def test_every_step_of_the_shipped_workflow_binds_to_its_node(contracts: ContractSet) -> None:
    h = await harness(contracts)
    nodes = {
        "postgres_adapter": h.postgres,
        "kafka_adapter": h.kafka,
        "message_aggregator": h.aggregator,
        "infrastructure_reducer": h.reducer,
    }
    workflow = contracts.workflow(WORKFLOW)

    assert workflow.trigger == "interval"
    assert [(s.node, s.operation) for s in workflow.steps] == [
        ("postgres_adapter", "health_check"),
        ("kafka_adapter", "health_check"),
        ("message_aggregator", "summarise_health"),
        ("infrastructure_reducer", "fold_state"),
        ("kafka_adapter", "publish_state"),
        ("infrastructure_reducer", "apply_recorded"),
        ("postgres_adapter", "store_state_change"),
    ]
    for s in workflow.steps:
        bind_operation(nodes[s.node], s.operation)
        capability = contracts.capability(s.node, s.operation)
        assert capability is not None and capability.input is not None, (s.node, s.operation)
    assert contracts.capability("kafka_adapter", "publish_state").topic_use == "state"  # type: ignore[union-attr]  # asserted above


async def test_the_host_registered_outbox_spill_backs_the_durable_publisher(contracts: ContractSet) -> None:
    outbox = InMemoryOutbox()
    container = await build_container(
        contracts, settings=development_settings(), services=[(ProtocolOutboxSpill, outbox)]
    )
    node = NodeKafkaAdapterEffect(container)
    await node.initialize()
    object.__setattr__(node, "_acl", StateOnlyAcl())
    publisher = node._owned_publisher
    assert publisher is not None and node._state_publisher is publisher
    assert publisher._spill is outbox
