"""Ended spans feed omnibase_span_duration_seconds through MetricsSpanProcessor."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from omnibase_infra.environment import EnumEnvironment
from omnibase_infra.observability.metrics import InfraMetrics
from omnibase_infra.observability.spans import trace_kafka_operation
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
