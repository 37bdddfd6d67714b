"""Samples PostgreSQL, Kafka and every circuit breaker, and aggregates them into one verdict.

Rules for ``overall_status`` (first match wins):

1. ``unhealthy`` if PostgreSQL is configured and its health check is
   unhealthy: without the database the service cannot do its job.
2. ``degraded`` if Kafka is configured and unhealthy or degraded, PostgreSQL
   is degraded (pool exhausted), any breaker is not closed, or the error rate
   exceeds 5 %: the service works, possibly slower or by queueing events.
3. ``healthy`` otherwise.

Figures in ``InfrastructureHealthMetrics``:

- ``postgres_healthy`` / ``kafka_healthy``: the component is not unhealthy
  (true when the component is not configured);
  ``circuit_breaker_healthy``: every breaker is closed.
- ``error_rate_percent``: failed / attempted operations (PostgreSQL queries
  plus Kafka records) over the last ``error_rate_window_seconds`` (5 minutes,
  the HighErrorRate alert's window), so it recovers once failures stop; 0
  without traffic.
- ``total_connections``: PostgreSQL pool connections plus Kafka producers.
- ``total_messages_processed``: records acknowledged by Kafka, plus the
  optional ``processed_counter`` (e.g. the consumer's processed records).
- ``total_events_queued``: events held by every breaker's event queue.
- ``avg_db_response_time_ms``, ``avg_kafka_throughput_mps``: as reported by
  the connection manager and the producer pool.
- ``circuit_breaker_success_rate``: successful / (successful + failed) calls
  over all breakers; 1 when none was called.

The Prometheus rendering of these figures lives in ``observability``; this
module only exposes the data.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.environment import detect_environment
from omnibase_infra.errors import LifecycleError
from omnibase_infra.models.model_connection_stats import ConnectionStats
from omnibase_infra.models.model_health import (
    HealthStatus,
    InfrastructureHealthMetrics,
    ModelCircuitBreakerMetrics,
    ModelKafkaHealth,
    ModelPoolSnapshot,
    ModelPostgresHealth,
    ModelQueryPerformance,
)

ERROR_RATE_DEGRADED_PERCENT = 5.0

_log = logging.getLogger(__name__)


class ProtocolPostgresHealthSource(Protocol):
    """``PostgresConnectionManager`` has this shape."""

    async def health_check(self) -> ModelPostgresHealth: ...

    def get_connection_stats(self) -> ConnectionStats: ...


class ProtocolKafkaHealthSource(Protocol):
    """``KafkaProducerPool`` has this shape."""

    async def health_check(self) -> ModelKafkaHealth: ...


class ProtocolBreakerMetricsSource(Protocol):
    """``EventBusCircuitBreaker`` has this shape."""

    def metrics(self) -> ModelCircuitBreakerMetrics: ...


HealthListener = Callable[[InfrastructureHealthMetrics], None]


@dataclass(frozen=True, slots=True)
class _Counts:
    attempted: int
    failed: int
    at: float = 0.0


class InfrastructureHealthMonitor:
    """Periodic sampler of infrastructure health (rules in the module docstring)."""

    def __init__(
        self,
        *,
        postgres: ProtocolPostgresHealthSource | None = None,
        kafka: ProtocolKafkaHealthSource | None = None,
        breakers: Iterable[ProtocolBreakerMetricsSource] = (),
        environment: str | None = None,
        interval_seconds: float = 30.0,
        history_size: int = 60,
        sample_timeout_seconds: float = 10.0,
        error_rate_window_seconds: float = 300.0,
        processed_counter: Callable[[], int] | None = None,
        listeners: Iterable[HealthListener] = (),
        exposition: Callable[[], bytes] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if interval_seconds <= 0 or history_size < 1:
            raise ValueError("interval_seconds must be positive and history_size at least 1")
        self._postgres = postgres
        self._kafka = kafka
        self._breakers: list[ProtocolBreakerMetricsSource] = list(breakers)
        self._environment = environment or str(detect_environment())
        self._interval = interval_seconds
        self._timeout = sample_timeout_seconds
        self._error_window = error_rate_window_seconds
        self._processed_counter = processed_counter
        self._listeners = list(listeners)
        self._exposition = exposition
        self._clock = clock
        self._history: deque[InfrastructureHealthMetrics] = deque(maxlen=history_size)
        self._counts: deque[_Counts] = deque(maxlen=history_size)
        self._task: asyncio.Task[None] | None = None
        self._state = "new"

    def add_breaker(self, breaker: ProtocolBreakerMetricsSource) -> None:
        self._breakers.append(breaker)

    def add_listener(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Sample now and then every ``interval_seconds`` in a background task; idempotent."""
        if self._state == "stopped":
            raise LifecycleError("InfrastructureHealthMonitor was stopped; create a new one")
        if self._state == "running":
            return
        self._state = "running"
        self._task = asyncio.create_task(self._run(), name="infrastructure-health-monitor")

    async def start_monitoring(self) -> None:
        """``start()`` under the original guide's name: sampling goes on in the background."""
        await self.start()

    def get_prometheus_metrics(self) -> str:
        """The Prometheus text exposition of the metrics this monitor feeds (``exposition``).

        ``LifecycleError`` when the monitor was built without one.
        """
        if self._exposition is None:
            raise LifecycleError("InfrastructureHealthMonitor was built without a metrics exposition")
        return self._exposition().decode("utf-8")

    async def stop(self) -> None:
        """Stop sampling; idempotent."""
        self._state = "stopped"
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def latest(self) -> InfrastructureHealthMetrics | None:
        """The most recent sample, if any."""
        return self._history[-1] if self._history else None

    def history(self) -> list[InfrastructureHealthMetrics]:
        """The retained samples, oldest first."""
        return list(self._history)

    async def get_comprehensive_health_status(self) -> InfrastructureHealthMetrics:
        """Take a fresh sample (and keep it) and return it."""
        return await self.sample_once()

    async def sample_once(self) -> InfrastructureHealthMetrics:
        """Query every component once, aggregate, retain and return the result. Never raises."""
        postgres, kafka = await asyncio.gather(self._postgres_health(), self._kafka_health())
        breakers = [breaker.metrics() for breaker in self._breakers]
        pg_stats = self._postgres.get_connection_stats() if self._postgres is not None else None
        pool = kafka.pool if kafka is not None else None
        counts = _Counts(
            attempted=(pg_stats.query_count if pg_stats else 0)
            + (pool.total_messages_sent + pool.total_messages_failed if pool else 0),
            failed=(pg_stats.failed_queries if pg_stats else 0) + (pool.total_messages_failed if pool else 0),
            at=self._clock.monotonic(),
        )
        while self._counts and self._counts[0].at < counts.at - self._error_window:
            self._counts.popleft()
        baseline = self._counts[0] if self._counts else _Counts(0, 0)
        self._counts.append(counts)
        attempted = counts.attempted - baseline.attempted
        error_rate = 0.0 if attempted <= 0 else 100.0 * max(0, counts.failed - baseline.failed) / attempted
        metrics = aggregate_health(
            postgres=postgres,
            postgres_stats=pg_stats,
            kafka=kafka,
            breakers=breakers,
            environment=self._environment,
            timestamp=self._clock.now(),
            error_rate_percent=error_rate,
            processed=self._processed_counter() if self._processed_counter else 0,
        )
        self._history.append(metrics)
        for listener in list(self._listeners):
            try:
                listener(metrics)
            except Exception:
                _log.exception("health listener failed")
        return metrics

    async def _postgres_health(self) -> ModelPostgresHealth | None:
        return None if self._postgres is None else await sample_postgres(self._postgres, self._timeout)

    async def _kafka_health(self) -> ModelKafkaHealth | None:
        return None if self._kafka is None else await sample_kafka(self._kafka, self._timeout)

    async def _run(self) -> None:
        while True:
            try:
                await self.sample_once()
            except Exception:
                _log.exception("health sample failed")
            await asyncio.sleep(self._interval)


async def sample_postgres(
    source: ProtocolPostgresHealthSource, timeout_seconds: float
) -> ModelPostgresHealth:
    """``source``'s health check; an unhealthy sample naming the error when it fails or times out."""
    try:
        async with asyncio.timeout(timeout_seconds):
            return await source.health_check()
    except Exception as exc:
        return ModelPostgresHealth(
            status="unhealthy",
            connection_pool=ModelPoolSnapshot(size=0, min_size=0, max_size=0, idle_connections=0),
            performance=ModelQueryPerformance(
                total_queries=0, failed_connections=0, reconnect_count=0, average_response_time_ms=0.0
            ),
            error=f"health check failed: {type(exc).__name__}",
        )


async def sample_kafka(source: ProtocolKafkaHealthSource, timeout_seconds: float) -> ModelKafkaHealth:
    """``source``'s health check; an unhealthy sample naming the error when it fails or times out."""
    try:
        async with asyncio.timeout(timeout_seconds):
            return await source.health_check()
    except Exception as exc:
        return ModelKafkaHealth(
            status="unhealthy",
            brokers_reachable=False,
            error=f"health check failed: {type(exc).__name__}",
        )


def aggregate_health(
    *,
    postgres: ModelPostgresHealth | None,
    postgres_stats: ConnectionStats | None,
    kafka: ModelKafkaHealth | None,
    breakers: Sequence[ModelCircuitBreakerMetrics],
    environment: str,
    timestamp: datetime,
    error_rate_percent: float = 0.0,
    processed: int = 0,
) -> InfrastructureHealthMetrics:
    """One sample of each component aggregated into the verdict (rules in the module docstring).

    Pure: ``sample_once`` and the infrastructure_state workflow's rounds both use it; the
    error rate (a window over samples) is the monitor's, 0 for a round.
    """
    pool = kafka.pool if kafka is not None else None
    connections = (postgres_stats.size if postgres_stats else 0) + (pool.total_producers if pool else 0)
    successful = sum(b.successful_calls for b in breakers)
    counted = successful + sum(b.failed_calls for b in breakers)
    breakers_ok = all(b.state == "closed" for b in breakers)
    return InfrastructureHealthMetrics(
        overall_status=_overall(postgres, kafka, breakers_ok, error_rate_percent),
        timestamp=timestamp,
        environment=environment,
        postgres_healthy=postgres is None or postgres.status != "unhealthy",
        kafka_healthy=kafka is None or kafka.status != "unhealthy",
        circuit_breaker_healthy=breakers_ok,
        total_connections=connections,
        total_messages_processed=(pool.total_messages_sent if pool else 0) + processed,
        total_events_queued=sum(b.events_queued for b in breakers),
        error_rate_percent=min(100.0, error_rate_percent),
        avg_db_response_time_ms=postgres_stats.average_response_time_ms if postgres_stats else 0.0,
        avg_kafka_throughput_mps=pool.average_throughput_mps if pool else 0.0,
        circuit_breaker_success_rate=1.0 if counted == 0 else successful / counted,
        postgres_metrics=postgres,
        kafka_metrics=kafka,
        circuit_breaker_metrics=list(breakers),
    )


def _overall(
    postgres: ModelPostgresHealth | None,
    kafka: ModelKafkaHealth | None,
    breakers_closed: bool,
    error_rate_percent: float,
) -> HealthStatus:
    if postgres is not None and postgres.status == "unhealthy":
        return "unhealthy"
    if (
        (kafka is not None and kafka.status != "healthy")
        or (postgres is not None and postgres.status == "degraded")
        or not breakers_closed
        or error_rate_percent > ERROR_RATE_DEGRADED_PERCENT
    ):
        return "degraded"
    return "healthy"


def get_health_monitor() -> InfrastructureHealthMonitor:
    """The process's health monitor (the original guide's entry point; see ``get_connection_manager``).

    It samples the process's PostgreSQL pool, producer pool and breakers, and feeds the
    process's metrics (``get_prometheus_metrics()``).
    """
    from omnibase_infra.runtime.process_services import process_components

    return process_components().monitor


__all__ = [
    "ERROR_RATE_DEGRADED_PERCENT",
    "HealthListener",
    "InfrastructureHealthMonitor",
    "ProtocolBreakerMetricsSource",
    "ProtocolKafkaHealthSource",
    "ProtocolPostgresHealthSource",
    "aggregate_health",
    "get_health_monitor",
    "sample_kafka",
    "sample_postgres",
]
