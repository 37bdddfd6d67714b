"""The health monitor's aggregation rules, with fake components."""

from __future__ import annotations

import asyncio

import pytest

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import LifecycleError
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.infrastructure_health_monitor import InfrastructureHealthMonitor
from omnibase_infra.models.model_circuit_breaker_config import DEVELOPMENT_DEFAULT
from omnibase_infra.models.model_connection_stats import ConnectionStats
from omnibase_infra.models.model_health import (
    HealthStatus,
    InfrastructureHealthMetrics,
    ModelKafkaHealth,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.models.model_kafka_producer_pool_stats import ModelKafkaProducerPoolStats


class FakePostgres:
    def __init__(self) -> None:
        self.status: HealthStatus = "healthy"
        self.queries = 0
        self.failed = 0
        self.raise_error = False

    async def health_check(self) -> ModelPostgresHealth:
        if self.raise_error:
            raise RuntimeError("boom")
        return ModelPostgresHealth(
            status=self.status,
            connection_pool=ModelPoolSnapshot(size=4, min_size=2, max_size=10, idle_connections=3),
            performance=ModelQueryPerformance(
                total_queries=self.queries,
                failed_connections=0,
                reconnect_count=0,
                average_response_time_ms=2.5,
            ),
        )

    def get_connection_stats(self) -> ConnectionStats:
        return ConnectionStats(
            size=4,
            checked_out=1,
            overflow=2,
            checked_in=3,
            total_connections=4,
            failed_connections=0,
            reconnect_count=0,
            query_count=self.queries,
            failed_queries=self.failed,
            average_response_time_ms=2.5,
        )


class FakeKafka:
    def __init__(self) -> None:
        self.status: HealthStatus = "healthy"
        self.sent = 0
        self.failed = 0

    async def health_check(self) -> ModelKafkaHealth:
        pool = ModelKafkaProducerPoolStats(
            pool_name="p",
            total_producers=2,
            active_producers=0,
            idle_producers=2,
            failed_producers=0,
            min_pool_size=1,
            max_pool_size=4,
            pool_utilization=0.0,
            total_messages_sent=self.sent,
            total_messages_failed=self.failed,
            total_bytes_sent=0,
            average_throughput_mps=12.5,
            average_response_time_ms=3.0,
            pool_health="healthy",
            error_rate=0.0,
            success_rate=1.0,
        )
        return ModelKafkaHealth(status=self.status, brokers_reachable=self.status != "unhealthy", pool=pool)


class Rig:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.postgres = FakePostgres()
        self.kafka = FakeKafka()
        self.breaker = EventBusCircuitBreaker("kafka", DEVELOPMENT_DEFAULT, clock=self.clock)
        self.seen: list[InfrastructureHealthMetrics] = []
        self.monitor = InfrastructureHealthMonitor(
            postgres=self.postgres,
            kafka=self.kafka,
            breakers=[self.breaker],
            environment="development",
            history_size=3,
            processed_counter=lambda: 5,
            listeners=[self.seen.append],
            clock=self.clock,
        )


async def test_all_healthy() -> None:
    rig = Rig()
    rig.postgres.queries, rig.kafka.sent = 10, 20
    metrics = await rig.monitor.sample_once()
    assert metrics.overall_status == "healthy"
    assert (metrics.postgres_healthy, metrics.kafka_healthy, metrics.circuit_breaker_healthy) == (
        True,
        True,
        True,
    )
    assert metrics.total_connections == 4 + 2
    assert metrics.total_messages_processed == 20 + 5
    assert metrics.avg_db_response_time_ms == 2.5
    assert metrics.avg_kafka_throughput_mps == 12.5
    assert metrics.error_rate_percent == 0.0
    assert metrics.environment == "development"
    assert rig.seen == [metrics]
    assert rig.monitor.latest() == metrics


async def test_postgres_unhealthy_makes_everything_unhealthy() -> None:
    rig = Rig()
    rig.postgres.status = "unhealthy"
    rig.kafka.status = "unhealthy"
    metrics = await rig.monitor.sample_once()
    assert metrics.overall_status == "unhealthy"
    assert not metrics.postgres_healthy


async def test_a_failing_health_check_counts_as_unhealthy() -> None:
    rig = Rig()
    rig.postgres.raise_error = True
    metrics = await rig.monitor.sample_once()
    assert metrics.overall_status == "unhealthy"
    assert (
        metrics.postgres_metrics is not None
        and metrics.postgres_metrics.error == "health check failed: RuntimeError"
    )


@pytest.mark.parametrize("kafka_status", ["unhealthy", "degraded"])
async def test_kafka_trouble_degrades(kafka_status: HealthStatus) -> None:
    rig = Rig()
    rig.kafka.status = kafka_status
    metrics = await rig.monitor.sample_once()
    assert metrics.overall_status == "degraded"
    assert metrics.kafka_healthy is (kafka_status != "unhealthy")


async def test_a_breaker_that_is_not_closed_degrades_and_queued_events_are_summed() -> None:
    rig = Rig()
    rig.breaker.set_queue_gauge(lambda: (8, 1))
    rig.breaker.force_open()
    metrics = await rig.monitor.sample_once()
    assert metrics.overall_status == "degraded"
    assert not metrics.circuit_breaker_healthy
    assert metrics.total_events_queued == 8
    assert [m.state for m in metrics.circuit_breaker_metrics] == ["forced_open"]


async def test_error_rate_over_five_percent_degrades_and_recovers() -> None:
    rig = Rig()
    await rig.monitor.sample_once()
    rig.postgres.queries, rig.postgres.failed = 50, 3
    rig.kafka.sent, rig.kafka.failed = 45, 5
    metrics = await rig.monitor.sample_once()
    assert metrics.error_rate_percent == pytest.approx(100 * 8 / 100)
    assert metrics.overall_status == "degraded"
    for _ in range(3):  # failures stop; the window (3 samples) moves past them
        rig.postgres.queries += 100
        await rig.monitor.sample_once()
    latest = rig.monitor.latest()
    assert latest is not None
    assert latest.error_rate_percent == 0.0
    assert latest.overall_status == "healthy"
    assert len(rig.monitor.history()) == 3


async def test_error_rate_forgets_failures_older_than_its_time_window() -> None:
    rig = Rig()
    rig.monitor = InfrastructureHealthMonitor(
        postgres=rig.postgres,
        kafka=rig.kafka,
        environment="development",
        history_size=60,
        error_rate_window_seconds=300,
        clock=rig.clock,
    )
    await rig.monitor.sample_once()
    rig.postgres.queries, rig.postgres.failed = 50, 30
    assert (await rig.monitor.sample_once()).error_rate_percent > 5
    rig.clock.advance(200)
    rig.postgres.queries += 10
    assert (await rig.monitor.sample_once()).error_rate_percent > 5  # the failures are 200 s old
    rig.clock.advance(150)
    rig.postgres.queries += 10
    recovered = await rig.monitor.sample_once()  # 350 s later: outside the 300 s window
    assert recovered.error_rate_percent == 0.0
    assert recovered.overall_status == "healthy"


async def test_breaker_success_rate_is_aggregated() -> None:
    rig = Rig()
    other = EventBusCircuitBreaker("postgres", DEVELOPMENT_DEFAULT, clock=rig.clock)
    rig.monitor.add_breaker(other)
    for _ in range(3):
        rig.breaker.acquire_permission().on_success()
    other.acquire_permission().on_error(ConnectionResetError())
    metrics = await rig.monitor.get_comprehensive_health_status()
    assert metrics.circuit_breaker_success_rate == pytest.approx(0.75)


async def test_only_configured_components_are_judged() -> None:
    monitor = InfrastructureHealthMonitor(environment="production")
    metrics = await monitor.sample_once()
    assert metrics.overall_status == "healthy"
    assert metrics.postgres_metrics is None and metrics.kafka_metrics is None


async def test_background_sampling_lifecycle() -> None:
    rig = Rig()
    monitor = InfrastructureHealthMonitor(postgres=rig.postgres, interval_seconds=0.01, environment="staging")
    await monitor.start()
    await monitor.start()
    for _ in range(100):
        if len(monitor.history()) >= 2:
            break
        await asyncio.sleep(0.01)
    await monitor.stop()
    await monitor.stop()
    assert len(monitor.history()) >= 2
    with pytest.raises(LifecycleError):
        await monitor.start()


async def test_the_original_guides_names_start_and_expose_the_metrics() -> None:
    rendered = b"# HELP omnibase_infrastructure_health ...\n"
    monitor = InfrastructureHealthMonitor(environment="development", exposition=lambda: rendered)
    await monitor.start_monitoring()
    await monitor.start_monitoring()  # idempotent, as start()
    assert monitor.get_prometheus_metrics() == rendered.decode()
    await monitor.stop()
    with pytest.raises(LifecycleError, match="without a metrics exposition"):
        InfrastructureHealthMonitor(environment="development").get_prometheus_metrics()
