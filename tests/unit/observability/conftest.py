"""Fixtures for the observability unit tests: isolated tracer providers, health samples, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.models.model_health import (
    HealthStatus,
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelKafkaHealth,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)
from omnibase_infra.models.model_kafka_producer_pool_stats import ModelKafkaProducerPoolStats
from omnibase_infra.observability.redaction import DEFAULT_REGISTRY
from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing

HealthFactory = Callable[..., InfrastructureHealthMetrics]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A development (always sampling) provider exporting to ``exporter``; never the global one."""
    tracer_provider = configure_tracing(
        TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT), exporter=exporter
    )
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture(autouse=True)
def _clean_secret_registry() -> Iterator[None]:
    DEFAULT_REGISTRY.clear()
    yield
    DEFAULT_REGISTRY.clear()


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    """Give the test the root logger and put its handlers and level back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _pool_stats() -> ModelKafkaProducerPoolStats:
    return ModelKafkaProducerPoolStats(
        pool_name="default",
        total_producers=3,
        active_producers=1,
        idle_producers=2,
        failed_producers=0,
        min_pool_size=1,
        max_pool_size=5,
        pool_utilization=0.33,
        total_messages_sent=1200,
        total_messages_failed=3,
        total_bytes_sent=120_000,
        average_throughput_mps=40.0,
        average_response_time_ms=4.5,
        pool_health="healthy",
        error_rate=0.0025,
        success_rate=0.9975,
    )


def _breaker(name: str, state: str) -> ModelCircuitBreakerMetrics:
    return ModelCircuitBreakerMetrics.model_validate(
        {
            "name": name,
            "state": state,
            "failure_count": 0,
            "successful_calls": 10,
            "failed_calls": 1,
            "ignored_calls": 0,
            "not_permitted_calls": 0,
            "success_rate": 0.9,
            "events_queued": 2 if state != "closed" else 0,
            "events_spilled": 0,
            "transitions": 1,
        }
    )


def make_health(
    status: HealthStatus = "healthy",
    *,
    kafka_state: str = "closed",
    postgres_error: str | None = None,
    pool_size: int = 8,
    idle: int = 3,
    max_size: int = 10,
    reconnects: int = 0,
) -> InfrastructureHealthMetrics:
    """A health sample: degraded means the broker is down, unhealthy means the database is down."""
    postgres_ok = status != "unhealthy"
    kafka_ok = status == "healthy"
    return InfrastructureHealthMetrics(
        overall_status=status,
        timestamp=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        environment="production",
        postgres_healthy=postgres_ok,
        kafka_healthy=kafka_ok,
        circuit_breaker_healthy=kafka_state == "closed",
        total_connections=pool_size,
        total_messages_processed=150_000,
        total_events_queued=0 if kafka_ok else 7,
        error_rate_percent=0.2 if status == "healthy" else 12.5,
        avg_db_response_time_ms=45.3,
        avg_kafka_throughput_mps=40.0,
        circuit_breaker_success_rate=0.9,
        postgres_metrics=ModelPostgresHealth(
            status="healthy" if postgres_ok else "unhealthy",
            connection_pool=ModelPoolSnapshot(
                size=pool_size, min_size=2, max_size=max_size, idle_connections=idle
            ),
            performance=ModelQueryPerformance(
                total_queries=1000,
                failed_connections=0,
                reconnect_count=reconnects,
                average_response_time_ms=45.3,
            ),
            error=postgres_error,
        ),
        kafka_metrics=ModelKafkaHealth(
            status="healthy" if kafka_ok else "unhealthy",
            brokers_reachable=kafka_ok,
            pool=_pool_stats(),
        ),
        circuit_breaker_metrics=[_breaker("postgres", "closed"), _breaker("kafka", kafka_state)],
    )


@pytest.fixture
def health_factory() -> HealthFactory:
    return make_health
