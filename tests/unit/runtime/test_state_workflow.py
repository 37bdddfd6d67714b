"""InfrastructureStateWorkflow: publish each change once; keep changes PostgreSQL could not take yet."""

from __future__ import annotations

from datetime import timedelta

from omnibase_infra.models.model_health import InfrastructureHealthMetrics, ModelCircuitBreakerMetrics
from omnibase_infra.models.model_infrastructure_state import ModelStateChangedIntent, ModelStateChangedPayload
from omnibase_infra.nodes.infrastructure_reducer.v1_0_0.state_reduction import reduce_health
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import summarise_health
from omnibase_infra.runtime.state_workflow import InfrastructureStateWorkflow

from .fakes import HEALTH_AT, FakeGuard, RecordingDatabase, breaker, health_metrics

TOPIC = "onex.evt.infrastructure.state-changed.v1"


class FakeEventPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bytes | None]] = []

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.published.append((topic, value, key))


class Harness:
    def __init__(self) -> None:
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
            publisher=self.publisher,
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
