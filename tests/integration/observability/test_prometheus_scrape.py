"""Debian's Prometheus scrapes a HealthServer with monitoring/prometheus.yml and finds every metric.

The configuration is derived from ``monitoring/prometheus.yml`` (``prometheus_harness``): the
target is replaced by the HealthServer started here (its PROMETHEUS_METRICS_PORT site, on an
ephemeral port), the intervals are shortened, and the rule file is loaded as is. The test then
checks through Prometheus's HTTP API that every ``omnibase_*`` and ``process_*`` name of alerts.yml and
the Grafana dashboard exists, that every dashboard expression parses and evaluates, and that
every alert rule evaluates without error. ``test_service_prometheus.py`` does the same against
the running service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_harness import (
    JOB,
    alert_expressions,
    dashboard_expressions,
    free_port,
    referenced_names,
    run_prometheus,
)

from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.models.model_health import (
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.observability.health import evaluate_readiness
from omnibase_infra.observability.http_server import HealthServer, build_health_app
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.process_metrics import register_process_collectors


def _health() -> InfrastructureHealthMetrics:
    return InfrastructureHealthMetrics(
        overall_status="degraded",
        timestamp=datetime.now(UTC),
        environment="staging",
        postgres_healthy=True,
        kafka_healthy=False,
        circuit_breaker_healthy=False,
        total_connections=4,
        total_messages_processed=10,
        total_events_queued=2,
        error_rate_percent=1.5,
        avg_db_response_time_ms=3.2,
        avg_kafka_throughput_mps=0.0,
        circuit_breaker_success_rate=0.5,
        postgres_metrics=ModelPostgresHealth(
            status="healthy",
            connection_pool=ModelPoolSnapshot(size=4, min_size=2, max_size=10, idle_connections=1),
            performance=ModelQueryPerformance(
                total_queries=10, failed_connections=0, reconnect_count=1, average_response_time_ms=3.2
            ),
        ),
        circuit_breaker_metrics=[
            ModelCircuitBreakerMetrics(
                name="kafka",
                state="open",
                failure_count=3,
                successful_calls=1,
                failed_calls=3,
                ignored_calls=0,
                not_permitted_calls=2,
                success_rate=0.25,
                events_queued=2,
                events_spilled=0,
                transitions=1,
            )
        ],
    )


class StaticProvider:
    async def health(self) -> InfrastructureHealthMetrics:
        return _health()

    async def readiness(self) -> tuple[bool, list[str]]:
        return evaluate_readiness(_health(), database_pool_ready=True, consumer_ready=True)


def populated_metrics() -> InfraMetrics:
    """Every metric the service exports, with at least one sample each."""
    registry = CollectorRegistry()
    register_process_collectors(registry)  # as the service's composition root does
    metrics = InfraMetrics(registry, "staging")
    metrics.update_from_health(_health())
    metrics.on_breaker_transition(
        ModelCircuitBreakerTransition(
            name="kafka",
            from_state="closed",
            to_state="open",
            reason="failure_threshold_reached",
            at=datetime.now(UTC),
        )
    )
    topic = "onex.evt.test.scrape.v1"
    metrics.count_messages_processed("event_store", 5)
    metrics.observe_db_operation("COPY", 0.01)
    metrics.observe_kafka_publish(topic, 0.002)
    metrics.observe_batch("event_store", 5)
    metrics.set_consumer_lag(topic, 0, 3)
    metrics.count_dlq_record(topic, "decode")
    metrics.set_outbox_pending(1)
    metrics.set_outbox_listening(True)
    metrics.observe_span(f"send {topic}", "producer", "ok", 0.002)
    metrics.observe_span(f"send {topic}", "producer", "error", 0.2)
    return metrics


@pytest.fixture
async def health_server() -> AsyncIterator[HealthServer]:
    metrics = populated_metrics()
    server = HealthServer(build_health_app(StaticProvider(), metrics), metrics)
    await server.start("127.0.0.1", 0, 0)
    yield server
    await server.stop()


async def test_health_server_serves_both_ports(health_server: HealthServer) -> None:
    assert health_server.health_port != health_server.metrics_port
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{health_server.health_port}"
        metrics_base = f"http://127.0.0.1:{health_server.metrics_port}"
        async with session.get(f"{base}/health") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "degraded"
        async with session.get(f"{base}/ready") as response:
            assert response.status == 503  # the kafka breaker is open
        for url in (f"{base}/metrics", f"{metrics_base}/metrics"):
            async with session.get(url) as response:
                assert response.status == 200
                assert "omnibase_infrastructure_health" in await response.text()
        async with session.get(f"{metrics_base}/health") as response:
            assert response.status == 404
    await health_server.stop()
    await health_server.stop()  # idempotent


async def test_one_port_serves_everything_when_both_ports_are_equal() -> None:
    metrics = populated_metrics()
    server = HealthServer(build_health_app(StaticProvider(), metrics), metrics)
    port = free_port()
    await server.start("127.0.0.1", port, port)
    try:
        assert server.health_port == server.metrics_port == port
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()


async def test_prometheus_scrapes_every_referenced_metric(
    health_server: HealthServer, tmp_path: Path
) -> None:
    async with run_prometheus(f"127.0.0.1:{health_server.metrics_port}", tmp_path) as prometheus:
        await prometheus.wait_for_scrape()

        missing = referenced_names() - await prometheus.names()
        assert not missing, f"metrics referenced by alerts.yml/dashboard but not scraped: {sorted(missing)}"

        (sample,) = await prometheus.query("omnibase_infrastructure_health")
        assert sample["metric"]["environment"] == "staging"  # type: ignore[index]
        assert sample["metric"]["job"] == JOB  # type: ignore[index]
        assert sample["value"][1] == "0.5"  # type: ignore[index]

        for expr in dashboard_expressions() + alert_expressions():
            await prometheus.query(expr)  # 400 on a parse or matching error

        await prometheus.wait_for_rule_evaluation()
