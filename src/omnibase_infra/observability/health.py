"""The seams between the HTTP endpoints and the runtime: health, readiness and breaker admin.

The runtime implements ``ProtocolHealthProvider`` (usually over the health monitor's last
sample) and, to allow operators to reset breakers over HTTP, ``ProtocolBreakerAdmin``.
``evaluate_readiness`` is the readiness rule shared by providers: the database pool and the
consumer are up, and no breaker is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from omnibase_infra.models.model_health import CircuitState, InfrastructureHealthMetrics

BLOCKING_STATES: frozenset[str] = frozenset({"open", "forced_open"})


class ProtocolHealthProvider(Protocol):
    """Answers /health, /health/detailed and /ready."""

    async def health(self) -> InfrastructureHealthMetrics:
        """The current (or latest sampled) infrastructure health."""
        ...

    async def readiness(self) -> tuple[bool, list[str]]:
        """(ready, reasons it is not ready); reasons are short, secret-free sentences."""
        ...


class ProtocolBreakerAdmin(Protocol):
    """Operator actions on circuit breakers."""

    def breaker_names(self) -> Sequence[str]:
        """Names of the breakers that can be reset."""
        ...

    async def reset_breaker(self, name: str) -> CircuitState:
        """Reset breaker ``name`` to closed and return its state afterwards; ``KeyError`` if unknown."""
        ...


def evaluate_readiness(
    health: InfrastructureHealthMetrics | None,
    *,
    database_pool_ready: bool,
    consumer_ready: bool,
) -> tuple[bool, list[str]]:
    """Ready only when the pool and the consumer are up and no breaker is open or forced open.

    ``health`` ``None`` (no sample yet) is not ready. Returns the reasons in a stable order.
    """
    reasons: list[str] = []
    if not database_pool_ready:
        reasons.append("database pool is not started")
    if not consumer_ready:
        reasons.append("Kafka consumer is not running")
    if health is None:
        reasons.append("no health sample yet")
    else:
        for breaker in health.circuit_breaker_metrics:
            if breaker.state in BLOCKING_STATES:
                reasons.append(f"circuit breaker {breaker.name!r} is {breaker.state}")
    return not reasons, reasons


__all__ = ["BLOCKING_STATES", "ProtocolBreakerAdmin", "ProtocolHealthProvider", "evaluate_readiness"]
