"""Real outages: PostgreSQL stopped and started, the broker killed and started, while in use.

These tests take the shared servers down (through ``scripts/services``), always bring them
back (the ``pg_admin`` fixture restores both after the test, and each test restarts what
it stopped in a ``finally``) and are marked ``outage`` so that they run after every other
test. They print the recovery figures:

- PostgreSQL: from the server accepting connections again to the first successful query
  through the same ``PostgresConnectionManager``;
- Kafka: from the broker answering again to the event queue and outbox drained.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
import pytest
from conftest import duplicates, read_topic  # tests/integration/infrastructure/conftest.py

from omnibase_infra.errors import OutageError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.infrastructure.outbox_spill import PostgresOutboxSpill, create_outbox_table
from omnibase_infra.infrastructure.postgres_connection_manager import PostgresConnectionManager
from omnibase_infra.infrastructure.resilient_publisher import ResilientPublisher
from omnibase_infra.models.model_circuit_breaker_config import ModelCircuitBreakerConfig
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig
from omnibase_infra.models.model_postgres_connection_config import ModelPostgresConnectionConfig

if TYPE_CHECKING:
    from tests.integration.conftest import ServicesCommand, TopicFactory

pytestmark = pytest.mark.outage


async def wait_for[T](probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, within: float) -> T:
    """Call ``probe`` until ``done(result)``; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {within} s; last result: {result!r}")
        await asyncio.sleep(0.05)


async def probe_postgres(config: ModelPostgresConnectionConfig) -> None:
    password = config.password.get_secret_value() if config.password else None
    connection = await asyncpg.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=password,
        database=config.database,
        timeout=2,
    )
    await connection.close()


async def first_success(attempt: Callable[[], Awaitable[object]], *, within: float = 60.0) -> float:
    """Retry ``attempt`` every 10 ms; return the monotonic time of its first success."""
    deadline = time.monotonic() + within
    while True:
        try:
            await attempt()
            return time.monotonic()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, OutageError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


class QueryLoad:
    """Keeps the pool busy with small queries and records what each one raised."""

    def __init__(self, manager: PostgresConnectionManager) -> None:
        self.manager = manager
        self.ok = 0
        self.errors: list[BaseException] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.manager.fetchval("SELECT pg_sleep(0.01)")
                self.ok += 1
            except Exception as exc:
                self.errors.append(exc)
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_stopped_and_started_while_the_pool_is_in_use(
    pg_manager: PostgresConnectionManager,
    pg_config: ModelPostgresConnectionConfig,
    pg_admin: ServicesCommand,
    mode: str,
) -> None:
    assert (await pg_manager.health_check()).status == "healthy"
    load = QueryLoad(pg_manager)
    load.start()
    await asyncio.sleep(0.3)
    before = pg_manager.get_connection_stats()
    try:
        await asyncio.to_thread(pg_admin, "stop-postgres", mode)
        down = await pg_manager.health_check()
        assert down.status == "unhealthy"
        assert down.error is not None
        password = pg_config.password.get_secret_value() if pg_config.password else ""
        assert password not in down.error
        with pytest.raises(OutageError) as raised:
            await pg_manager.fetchval("SELECT 1")
        assert password not in str(raised.value)
    finally:
        # An independent probe (a fresh connection) tells when the server accepts connections
        # again; the manager polls at the same pace through its pool.
        starting = asyncio.create_task(asyncio.to_thread(pg_admin, "start-postgres"))
        server_up, first_query_at = await asyncio.gather(
            first_success(lambda: probe_postgres(pg_config)),
            first_success(lambda: pg_manager.fetchval("SELECT 1")),
        )
        await starting
    first_query = max(0.0, first_query_at - server_up)
    await asyncio.sleep(0.3)
    await load.stop()

    figure = f"server accepts connections -> first successful pooled query {first_query * 1000:.0f} ms"
    print(f"\nRECOVERY postgres stop-postgres {mode}: {figure}")
    health = await pg_manager.health_check()
    assert health.status == "healthy", health.error
    after = pg_manager.get_connection_stats()
    assert after.reconnect_count > before.reconnect_count
    assert after.failed_connections > before.failed_connections
    assert after.total_connections > before.total_connections  # dead connections were replaced
    assert load.ok > 0
    assert all(isinstance(error, OutageError) for error in load.errors), load.errors[:3]


async def test_postgres_sessions_terminated_by_the_server(
    pg_manager: PostgresConnectionManager, pg_admin: ServicesCommand
) -> None:
    await asyncio.gather(*(pg_manager.fetchval("SELECT pg_sleep(0.05)") for _ in range(4)))
    before = pg_manager.get_connection_stats()
    await asyncio.to_thread(pg_admin, "terminate-postgres-backends")
    outcomes: list[object] = []
    for _ in range(5):
        try:
            outcomes.append(await pg_manager.fetchval("SELECT 1"))
        except OutageError as exc:  # a pooled session the server killed (57P01)
            outcomes.append(exc)
    assert outcomes[-1] == 1
    assert (await pg_manager.health_check()).status == "healthy"
    after = pg_manager.get_connection_stats()
    assert after.total_connections > before.total_connections
    if any(isinstance(o, OutageError) for o in outcomes):
        assert after.reconnect_count > before.reconnect_count


# Small values so that the scenario spills and recovers within seconds.
KAFKA_BREAKER = ModelCircuitBreakerConfig(
    failure_threshold=2,
    recovery_timeout=5,
    success_threshold=2,
    timeout_seconds=5,
    max_queue_size=10,
    dead_letter_enabled=True,
    graceful_degradation=True,
)
EVENTS_BEFORE, EVENTS_DURING, EVENTS_AFTER = 5, 40, 5


async def test_broker_killed_and_restarted_loses_and_duplicates_nothing(
    kafka_config: ModelKafkaProducerConfig,
    unique_topic: TopicFactory,
    pg_manager: PostgresConnectionManager,
    pg_schema: str,
    pg_admin: ServicesCommand,
) -> None:
    topic = await unique_topic(partitions=3)
    await create_outbox_table(pg_manager, pg_schema)
    outbox = PostgresOutboxSpill(pg_manager, schema=pg_schema)
    transitions: list[tuple[float, str]] = []
    breaker = EventBusCircuitBreaker(
        "kafka", KAFKA_BREAKER, listeners=[lambda e: transitions.append((time.monotonic(), e.to_state))]
    )
    # The breaker's 5 s deadline ends each publish before the pool's own delivery timeout, so the
    # pool must abort the producer (the real aiokafka client) to keep an abandoned record from
    # being delivered late, and then again from the queue.
    patient = kafka_config.model_copy(update={"delivery_timeout_ms": 20_000})
    pool = KafkaProducerPool(patient, name="outage-pool")
    await pool.start()
    publisher = ResilientPublisher(
        pool, breaker, spill=outbox, outbox_drainer=outbox, recovery_interval_seconds=0.1
    )
    await publisher.start()

    def event(i: int) -> OutboundEvent:
        return OutboundEvent(topic, f"event-{i:03d}".encode(), f"key-{i % 4}".encode())

    statuses: list[str] = []
    try:
        for i in range(EVENTS_BEFORE):
            statuses.append((await publisher.publish(event(i))).status)
        assert (await pool.health_check()).status == "healthy"

        await asyncio.to_thread(pg_admin, "kill-kafka")
        try:
            health = await wait_for(pool.health_check, lambda h: h.status == "unhealthy", within=15)
            assert not health.brokers_reachable
            for i in range(EVENTS_BEFORE, EVENTS_BEFORE + EVENTS_DURING):
                statuses.append((await publisher.publish(event(i))).status)
            await wait_for(lambda: asyncio.sleep(0, result=breaker.state), lambda s: s == "open", within=30)
            assert await outbox.pending_count() > 0
        finally:
            await asyncio.to_thread(pg_admin, "start-kafka", "--keep-data")
        broker_back = time.monotonic()

        def drained(_: object) -> bool:
            return publisher.events_queued == 0 and not publisher.spilling

        await wait_for(lambda: asyncio.sleep(0), drained, within=60)
        drain_seconds = time.monotonic() - broker_back
        await wait_for(pool.health_check, lambda h: h.status == "healthy", within=30)
        for i in range(EVENTS_BEFORE + EVENTS_DURING, EVENTS_BEFORE + EVENTS_DURING + EVENTS_AFTER):
            statuses.append((await publisher.publish(event(i))).status)
    finally:
        await publisher.stop()
        await pool.stop()

    queued, spilled = statuses.count("queued"), statuses.count("spilled")
    closed_at = next((t for t, state in transitions if state == "closed" and t >= broker_back), broker_back)
    print(
        f"\nRECOVERY kafka kill-kafka/start-kafka --keep-data: broker back -> breaker closed "
        f"{(closed_at - broker_back) * 1000:.0f} ms, queue and outbox drained {drain_seconds * 1000:.0f} ms "
        f"({queued} queued in memory, {spilled} spilled to the outbox; the wait includes what was left "
        f"of the breaker's {KAFKA_BREAKER.recovery_timeout} s open period)"
    )
    assert statuses[:EVENTS_BEFORE] == ["published"] * EVENTS_BEFORE
    assert statuses[-EVENTS_AFTER:] == ["published"] * EVENTS_AFTER
    assert queued == KAFKA_BREAKER.max_queue_size
    assert spilled == EVENTS_DURING - queued
    assert await outbox.pending_count() == 0
    assert publisher.dead_lettered_count == 0

    records = await read_topic(kafka_config.bootstrap_servers, topic, 3)
    values = [value for _, _, value in records]
    total = EVENTS_BEFORE + EVENTS_DURING + EVENTS_AFTER
    assert duplicates(values) == {}
    assert sorted(values) == sorted(event(i).value for i in range(total))
    for key in {key for _, key, _ in records}:  # order is kept per key
        per_key = [value for _, k, value in records if k == key]
        assert per_key == sorted(per_key)
