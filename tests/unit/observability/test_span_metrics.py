"""Ended spans feed omnibase_span_duration_seconds through MetricsSpanProcessor."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.spans import trace_database_operation, trace_kafka_operation
from omnibase_infra.observability.tracing import TracingConfiguration, configure_tracing


async def test_span_durations_and_status_are_observed() -> None:
    registry = CollectorRegistry()
    metrics = InfraMetrics(registry, "development")
    provider = configure_tracing(
        TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT), metrics=metrics
    )
    async with trace_kafka_operation("send", "t", tracer_provider=provider):
        pass
    with pytest.raises(RuntimeError):
        async with trace_kafka_operation("send", "t", tracer_provider=provider):
            raise RuntimeError("x")
    labels = {"environment": "development", "span_name": "send t", "kind": "producer"}
    ok = registry.get_sample_value("omnibase_span_duration_seconds_count", {**labels, "status": "unset"})
    failed = registry.get_sample_value("omnibase_span_duration_seconds_count", {**labels, "status": "error"})
    assert (ok, failed) == (1.0, 1.0)
    provider.shutdown()


async def test_unsampled_spans_are_not_observed() -> None:
    registry = CollectorRegistry()
    metrics = InfraMetrics(registry, "production")
    config = TracingConfiguration(environment=EnumEnvironment.PRODUCTION, sample_rate_override=0.0)
    provider = configure_tracing(config, metrics=metrics)
    async with trace_kafka_operation("send", "t", tracer_provider=provider):
        pass
    assert (
        registry.get_sample_value(
            "omnibase_span_duration_seconds_count",
            {"environment": "production", "span_name": "send t", "kind": "producer", "status": "unset"},
        )
        is None
    )
    provider.shutdown()


async def test_database_and_send_spans_feed_the_latency_histograms() -> None:
    registry = CollectorRegistry()
    metrics = InfraMetrics(registry, "development")
    provider = configure_tracing(
        TracingConfiguration(environment=EnumEnvironment.DEVELOPMENT), metrics=metrics
    )
    async with trace_database_operation(
        "SELECT", "SELECT 1", operation_name="count_events_by_type", tracer_provider=provider
    ):
        pass
    async with trace_database_operation("INSERT", collection="onex_event_store", tracer_provider=provider):
        pass
    async with trace_kafka_operation("send", "t", tracer_provider=provider):
        pass
    async with trace_kafka_operation("process", "t", tracer_provider=provider):
        pass
    with pytest.raises(RuntimeError):  # a failed send was never acknowledged: not a latency
        async with trace_kafka_operation("send", "failing", tracer_provider=provider):
            raise RuntimeError("x")
    env = {"environment": "development"}

    def db_count(operation: str) -> float | None:
        labels = {**env, "operation": operation}
        return registry.get_sample_value("omnibase_db_operation_duration_seconds_count", labels)

    def publish_count(topic: str) -> float | None:
        labels = {**env, "topic": topic}
        return registry.get_sample_value("omnibase_kafka_publish_duration_seconds_count", labels)

    assert (db_count("count_events_by_type"), db_count("INSERT")) == (1.0, 1.0)
    assert (publish_count("t"), publish_count("failing")) == (1.0, None)
    provider.shutdown()
