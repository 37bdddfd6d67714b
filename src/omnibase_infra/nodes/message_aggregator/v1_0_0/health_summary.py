"""Pure: turn one health sampling round into per-component samples (message_aggregator).

Components: ``postgres``, ``kafka`` and ``circuit_breaker:<name>`` for each breaker.
A breaker that is open (or forced open) makes its component unhealthy, half-open
degraded; PostgreSQL and Kafka keep the status their health checks reported.
"""

from __future__ import annotations

from omnibase_infra.models.model_health import HealthStatus, InfrastructureHealthMetrics
from omnibase_infra.models.model_infrastructure_state import (
    ModelComponentSample,
    ModelHealthSummary,
)

_BREAKER_STATUS: dict[str, HealthStatus] = {
    "closed": "healthy",
    "half_open": "degraded",
    "open": "unhealthy",
    "forced_open": "unhealthy",
}


def summarise_health(metrics: InfrastructureHealthMetrics) -> ModelHealthSummary:
    """One sample per component, stamped with the metrics' timestamp."""
    at = metrics.timestamp
    samples: list[ModelComponentSample] = []
    if metrics.postgres_metrics is not None:
        pg = metrics.postgres_metrics
        samples.append(
            ModelComponentSample(component="postgres", status=pg.status, reason=pg.error, observed_at=at)
        )
    else:
        status: HealthStatus = "healthy" if metrics.postgres_healthy else "unhealthy"
        samples.append(ModelComponentSample(component="postgres", status=status, observed_at=at))
    if metrics.kafka_metrics is not None:
        kafka = metrics.kafka_metrics
        samples.append(
            ModelComponentSample(component="kafka", status=kafka.status, reason=kafka.error, observed_at=at)
        )
    else:
        status = "healthy" if metrics.kafka_healthy else "unhealthy"
        samples.append(ModelComponentSample(component="kafka", status=status, observed_at=at))
    for breaker in metrics.circuit_breaker_metrics:
        samples.append(
            ModelComponentSample(
                component=f"circuit_breaker:{breaker.name}",
                status=_BREAKER_STATUS[breaker.state],
                reason=None if breaker.state == "closed" else f"circuit {breaker.state}",
                observed_at=at,
            )
        )
    return ModelHealthSummary(samples=tuple(samples), observed_at=at)


__all__ = ["summarise_health"]
