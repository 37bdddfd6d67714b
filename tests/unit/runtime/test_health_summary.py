"""summarise_health: one sample per component; breaker states map to health statuses."""

from __future__ import annotations

import pytest

from omnibase_infra.models.model_health import CircuitState, InfrastructureHealthMetrics, ModelKafkaHealth
from omnibase_infra.nodes.message_aggregator.v1_0_0.health_summary import summarise_health

from .fakes import HEALTH_AT, breaker, postgres_health
from .fakes import health_metrics as metrics


def statuses(summary_metrics: InfrastructureHealthMetrics) -> dict[str, tuple[str, str | None]]:
    return {s.component: (s.status, s.reason) for s in summarise_health(summary_metrics).samples}


def test_flags_decide_when_no_detailed_metrics() -> None:
    assert statuses(metrics(postgres_healthy=True, kafka_healthy=False)) == {
        "postgres": ("healthy", None),
        "kafka": ("unhealthy", None),
    }
    assert statuses(metrics(postgres_healthy=False, kafka_healthy=True)) == {
        "postgres": ("unhealthy", None),
        "kafka": ("healthy", None),
    }


def test_detailed_metrics_keep_their_status_and_reason() -> None:
    result = statuses(
        metrics(
            postgres_healthy=True,  # the detailed check wins over the flag
            postgres_metrics=postgres_health("degraded", "slow responses"),
            kafka_metrics=ModelKafkaHealth(status="unhealthy", brokers_reachable=False, error="no brokers"),
        )
    )

    assert result == {"postgres": ("degraded", "slow responses"), "kafka": ("unhealthy", "no brokers")}


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        ("closed", "healthy", None),
        ("half_open", "degraded", "circuit half_open"),
        ("open", "unhealthy", "circuit open"),
        ("forced_open", "unhealthy", "circuit forced_open"),
    ],
)
def test_breaker_states_map_to_statuses(state: CircuitState, status: str, reason: str | None) -> None:
    result = statuses(metrics(breakers=[breaker("postgres", state)]))

    assert result["circuit_breaker:postgres"] == (status, reason)


def test_one_sample_per_component_in_order_stamped_with_the_metrics_time() -> None:
    summary = summarise_health(metrics(breakers=[breaker("postgres", "closed"), breaker("kafka", "open")]))

    assert [s.component for s in summary.samples] == [
        "postgres",
        "kafka",
        "circuit_breaker:postgres",
        "circuit_breaker:kafka",
    ]
    assert summary.observed_at == HEALTH_AT
    assert all(s.observed_at == HEALTH_AT for s in summary.samples)
