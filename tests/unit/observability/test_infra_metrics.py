"""InfraMetrics: names, labels and values as Prometheus renders them; monitoring assets use only these."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from omnibase_infra.models.model_circuit_breaker_transition import ModelCircuitBreakerTransition
from omnibase_infra.models.model_health import InfrastructureHealthMetrics
from omnibase_infra.observability.metrics import InfraMetrics

MONITORING = Path(__file__).resolve().parents[3] / "monitoring"
METRIC_NAME = re.compile(r"\bomnibase_[a-z_]+\b")


def _samples(metrics: InfraMetrics) -> list[Sample]:
    text = metrics.render().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _value(metrics: InfraMetrics, name: str, **labels: str) -> float:
    wanted = {"environment": metrics.environment, **labels}
    found = [s.value for s in _samples(metrics) if s.name == name and s.labels == wanted]
    assert len(found) == 1, f"{name}{wanted}: {found}"
    return found[0]


def populate(metrics: InfraMetrics, health: InfrastructureHealthMetrics) -> None:
    """Touch every metric once, as a running service would."""
    metrics.update_from_health(health)
    metrics.on_breaker_transition(
        ModelCircuitBreakerTransition(
            name="kafka",
            from_state="closed",
            to_state="open",
            reason="failure_threshold_reached",
            at=datetime.now(UTC),
        )
    )
    metrics.count_messages_processed("event_store", 10)
    metrics.observe_db_operation("COPY", 0.012)
    metrics.observe_kafka_publish("onex.evt.test.v1", 0.004)
    metrics.observe_batch("event_store", 250)
    metrics.set_consumer_lag("onex.evt.test.v1", 0, 42)
    metrics.count_dlq_record("onex.evt.test.v1", "decode")
    metrics.count_event_store_duplicates(4)
    metrics.set_outbox_pending(3)
    metrics.set_outbox_listening(True)
    metrics.observe_span("send onex.evt.test.v1", "producer", "ok", 0.003)
    metrics.observe_span("send onex.evt.test.v1", "producer", "error", 0.5)


@pytest.fixture
def metrics() -> InfraMetrics:
    return InfraMetrics(CollectorRegistry(), "production")


def test_health_gauge_encodes_the_status(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    assert not [s for s in _samples(metrics) if s.name == "omnibase_infrastructure_health"]
    for status, value in (("healthy", 1.0), ("degraded", 0.5), ("unhealthy", 0.0)):
        metrics.update_from_health(health_factory(status))
        assert _value(metrics, "omnibase_infrastructure_health") == value
    assert _value(metrics, "omnibase_component_healthy", component="postgres") == 0.0
    assert _value(metrics, "omnibase_component_healthy", component="kafka") == 0.0


def test_health_sample_sets_the_seed_gauges(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    metrics.update_from_health(health_factory("healthy", pool_size=8, idle=3, max_size=10))
    assert _value(metrics, "omnibase_postgres_connections") == 5  # in use = size - idle
    assert _value(metrics, "omnibase_postgres_pool_size") == 8
    assert _value(metrics, "omnibase_postgres_max_connections") == 10
    assert _value(metrics, "omnibase_kafka_producers") == 3
    assert _value(metrics, "omnibase_error_rate_percent") == 0.2
    assert _value(metrics, "omnibase_response_time_ms") == 45.3
    assert _value(metrics, "omnibase_events_queued") == 0


def test_breaker_state_is_one_for_the_current_state_only(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    metrics.update_from_health(health_factory("degraded", kafka_state="half_open"))
    states = {
        s.labels["state"]: s.value
        for s in _samples(metrics)
        if s.name == "omnibase_circuit_breaker_state" and s.labels["breaker"] == "kafka"
    }
    assert states == {"closed": 0.0, "open": 0.0, "half_open": 1.0, "forced_open": 0.0}
    with pytest.raises(ValueError, match="unknown circuit state"):
        metrics.set_breaker_state("kafka", "melted")


def test_transitions_are_counted_and_move_the_state(metrics: InfraMetrics) -> None:
    transition = ModelCircuitBreakerTransition(
        name="postgres",
        from_state="closed",
        to_state="open",
        reason="failure_threshold_reached",
        at=datetime.now(UTC),
    )
    metrics.on_breaker_transition(transition)
    metrics.on_breaker_transition(transition)
    labels = {"breaker": "postgres", "from_state": "closed", "to_state": "open"}
    assert _value(metrics, "omnibase_circuit_breaker_transitions_total", **labels) == 2
    assert _value(metrics, "omnibase_circuit_breaker_state", breaker="postgres", state="open") == 1


def test_a_registered_breaker_is_exported_before_its_first_transition(metrics: InfraMetrics) -> None:
    metrics.register_breaker("kafka", "closed", [("closed", "open"), ("open", "half_open")])
    for from_state, to_state in (("closed", "open"), ("open", "half_open")):
        labels = {"breaker": "kafka", "from_state": from_state, "to_state": to_state}
        assert _value(metrics, "omnibase_circuit_breaker_transitions_total", **labels) == 0
    assert _value(metrics, "omnibase_circuit_breaker_state", breaker="kafka", state="closed") == 1
    assert _value(metrics, "omnibase_circuit_breaker_state", breaker="kafka", state="open") == 0


def test_reconnects_become_counter_increments(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    assert _value(metrics, "omnibase_postgres_reconnects_total") == 0
    for total in (2, 2, 5, 1):  # 1: the connection manager restarted its count
        metrics.update_from_health(health_factory("healthy", reconnects=total))
    assert _value(metrics, "omnibase_postgres_reconnects_total") == 6


def test_work_metrics_have_their_labels(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    populate(metrics, health_factory("healthy"))
    topic = "onex.evt.test.v1"
    assert _value(metrics, "omnibase_messages_processed_total", workflow="event_store") == 10
    assert _value(metrics, "omnibase_db_operation_duration_seconds_count", operation="COPY") == 1
    assert _value(metrics, "omnibase_kafka_publish_duration_seconds_count", topic=topic) == 1
    assert _value(metrics, "omnibase_batch_size_sum", workflow="event_store") == 250
    assert _value(metrics, "omnibase_consumer_lag", topic=topic, partition="0") == 42
    assert _value(metrics, "omnibase_dlq_records_total", topic=topic, stage="decode") == 1
    assert _value(metrics, "omnibase_event_store_duplicates_total") == 4
    assert _value(metrics, "omnibase_outbox_pending") == 3
    span_labels = {"span_name": f"send {topic}", "kind": "producer"}
    assert _value(metrics, "omnibase_span_duration_seconds_count", status="error", **span_labels) == 1
    metrics.remove_consumer_lag(topic, 0)
    metrics.remove_consumer_lag(topic, 9)
    assert not [s for s in _samples(metrics) if s.name == "omnibase_consumer_lag"]


def test_every_sample_carries_the_environment_label(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    populate(metrics, health_factory("healthy"))
    omnibase = [s for s in _samples(metrics) if s.name.startswith("omnibase_")]
    assert omnibase
    assert all(s.labels.get("environment") == "production" for s in omnibase)


def test_two_instances_with_their_own_registries_do_not_share_state() -> None:
    a, b = InfraMetrics(CollectorRegistry(), "staging"), InfraMetrics(CollectorRegistry(), "staging")
    a.count_messages_processed("outbox_relay")
    assert not [s for s in _samples(b) if s.name == "omnibase_messages_processed_total"]


def _referenced_names() -> set[str]:
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana" / "omnibase-infrastructure.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return {name for expr in exprs for name in METRIC_NAME.findall(expr)}


def test_monitoring_assets_reference_only_exported_metrics(
    metrics: InfraMetrics, health_factory: Callable[..., InfrastructureHealthMetrics]
) -> None:
    populate(metrics, health_factory("healthy"))
    exported = {s.name for s in _samples(metrics)}
    referenced = _referenced_names()
    assert {"omnibase_infrastructure_health", "omnibase_dlq_records_total"} <= referenced
    assert referenced - exported == set()


def test_dashboard_has_the_four_panel_groups() -> None:
    dashboard = json.loads((MONITORING / "grafana" / "omnibase-infrastructure.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == [
        "Infrastructure Health Overview",
        "Connection Pool Monitoring",
        "Performance Metrics",
        "Distributed Tracing",
    ]
