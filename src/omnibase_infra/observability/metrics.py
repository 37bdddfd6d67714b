"""Every Prometheus metric the service exports, each with an ``environment`` label.

The seed's metrics, fed by ``update_from_health`` (one health sample):

- ``omnibase_infrastructure_health`` gauge: 1 healthy, 0.5 degraded, 0 unhealthy
  (absent until the first sample);
- ``omnibase_component_healthy{component}`` gauge: 1/0 for postgres, kafka, circuit_breaker;
- ``omnibase_postgres_connections`` gauge: connections in use (pool size minus idle);
  ``omnibase_postgres_pool_size``: connections the pool holds;
  ``omnibase_postgres_max_connections``: the pool's maximum;
- ``omnibase_postgres_reconnects_total`` counter: dead connections replaced;
- ``omnibase_kafka_producers`` gauge: producers in the pool;
- ``omnibase_error_rate_percent``, ``omnibase_response_time_ms`` (average database
  response time), ``omnibase_events_queued`` gauges;
- ``omnibase_circuit_breaker_state{breaker,state}``: 1 for the breaker's current state,
  0 for each other state (closed, open, half_open, forced_open).

Fed by the runtime as work happens:

- ``omnibase_messages_processed_total{workflow}`` counter;
- ``omnibase_db_operation_duration_seconds{operation}``,
  ``omnibase_kafka_publish_duration_seconds{topic}``, ``omnibase_batch_size{workflow}`` histograms
  (the two duration histograms are fed from traced spans by ``span_metrics.MetricsSpanProcessor``);
- ``omnibase_consumer_lag{topic,partition}``, ``omnibase_outbox_pending`` and
  ``omnibase_outbox_listening`` (1 while the relay's LISTEN connection is up) gauges;
- ``omnibase_dlq_records_total{topic,stage}`` counter;
- ``omnibase_circuit_breaker_transitions_total{breaker,from_state,to_state}`` counter
  (``on_breaker_transition`` is a breaker listener; ``register_breaker`` creates a breaker's
  series at 0 so that they exist before its first transition);
- ``omnibase_span_duration_seconds{span_name,kind,status}`` histogram (sampled spans, from
  ``span_metrics.MetricsSpanProcessor``).

Set once: ``omnibase_build_info{version,omnibase_core_version,environment}`` = 1
(``process_metrics.register_build_info``). The standard ``process_*`` and ``python_*``
collectors are added to the service's registry by ``process_metrics.register_process_collectors``.

Metrics live in the injected ``CollectorRegistry`` only; two ``InfraMetrics`` never share
state unless they share a registry (which raises: each name is registered once).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import Protocol, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from omnibase_infra.models.model_health import CircuitState, HealthStatus, InfrastructureHealthMetrics
from omnibase_infra.observability.process_metrics import register_build_info

HEALTH_VALUES: dict[HealthStatus, float] = {"healthy": 1.0, "degraded": 0.5, "unhealthy": 0.0}
CIRCUIT_STATES: tuple[str, ...] = get_args(CircuitState)

_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class BreakerTransition(Protocol):
    """What ``on_breaker_transition`` reads (``models.ModelCircuitBreakerTransition`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def from_state(self) -> str: ...
    @property
    def to_state(self) -> str: ...


class InfraMetrics:
    """The service's Prometheus metrics, registered in ``registry`` and labelled with ``environment``.

    Every method may be called from any thread (prometheus-client's own guarantee, plus a lock
    around the reconnect counter's last-seen value). A method that sets several series (a health
    sample, a breaker state) is not atomic: a scrape in between may see part of the update.
    """

    def __init__(self, registry: CollectorRegistry, environment: str) -> None:
        self.registry = registry
        self.environment = environment
        env = ["environment"]
        r = registry
        self.infrastructure_health = Gauge(
            "omnibase_infrastructure_health", "1 healthy, 0.5 degraded, 0 unhealthy", env, registry=r
        )
        self.component_healthy = Gauge(
            "omnibase_component_healthy", "1 when the component is healthy", [*env, "component"], registry=r
        )
        self.postgres_connections = Gauge(
            "omnibase_postgres_connections", "PostgreSQL connections in use", env, registry=r
        )
        self.postgres_pool_size = Gauge(
            "omnibase_postgres_pool_size", "PostgreSQL connections held by the pool", env, registry=r
        )
        self.postgres_max_connections = Gauge(
            "omnibase_postgres_max_connections", "maximum size of the PostgreSQL pool", env, registry=r
        )
        self.postgres_reconnects = Counter(
            "omnibase_postgres_reconnects", "dead PostgreSQL connections replaced", env, registry=r
        )
        self.kafka_producers = Gauge(
            "omnibase_kafka_producers", "producers in the Kafka pool", env, registry=r
        )
        self.error_rate_percent = Gauge(
            "omnibase_error_rate_percent", "failed operations in percent", env, registry=r
        )
        self.response_time_ms = Gauge(
            "omnibase_response_time_ms", "average database response time (ms)", env, registry=r
        )
        self.events_queued = Gauge(
            "omnibase_events_queued", "events waiting in breaker queues", env, registry=r
        )
        self.circuit_breaker_state = Gauge(
            "omnibase_circuit_breaker_state",
            "1 for the breaker's current state, 0 for the others",
            [*env, "breaker", "state"],
            registry=r,
        )
        self.circuit_breaker_transitions = Counter(
            "omnibase_circuit_breaker_transitions",
            "circuit breaker state transitions",
            [*env, "breaker", "from_state", "to_state"],
            registry=r,
        )
        self.messages_processed = Counter(
            "omnibase_messages_processed", "messages processed", [*env, "workflow"], registry=r
        )
        self.event_store_duplicates = Counter(
            "omnibase_event_store_duplicates",
            "event-store rows already stored (a redelivery or a replay) and skipped",
            env,
            registry=r,
        )
        self.db_operation_duration = Histogram(
            "omnibase_db_operation_duration_seconds",
            "duration of database operations",
            [*env, "operation"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.kafka_publish_duration = Histogram(
            "omnibase_kafka_publish_duration_seconds",
            "time from send to broker acknowledgement",
            [*env, "topic"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "omnibase_batch_size", "records per batch", [*env, "workflow"], buckets=_BATCH_BUCKETS, registry=r
        )
        self.consumer_lag = Gauge(
            "omnibase_consumer_lag",
            "records behind the partition end",
            [*env, "topic", "partition"],
            registry=r,
        )
        self.dlq_records = Counter(
            "omnibase_dlq_records",
            "records sent to a dead-letter topic",
            [*env, "topic", "stage"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "omnibase_outbox_pending", "outbox rows waiting to be published", env, registry=r
        )
        self.outbox_listening = Gauge(
            "omnibase_outbox_listening",
            "1 while the outbox relay wakes on new rows' notifications, 0 while it only polls",
            env,
            registry=r,
        )
        self.span_duration = Histogram(
            "omnibase_span_duration_seconds",
            "duration of sampled trace spans",
            [*env, "span_name", "kind", "status"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.build_info = register_build_info(r, environment)
        self._reconnects_lock = threading.Lock()
        self._last_reconnects: int | None = None
        # Environment-only series exist from the start (0) so that dashboards show them at once;
        # the health gauge is left absent until the first sample rather than reading "unhealthy".
        for gauge in (
            self.postgres_connections,
            self.postgres_pool_size,
            self.postgres_max_connections,
            self.kafka_producers,
            self.error_rate_percent,
            self.response_time_ms,
            self.events_queued,
            self.outbox_pending,
        ):
            gauge.labels(environment).set(0)
        self.postgres_reconnects.labels(environment)

    def update_from_health(self, health: InfrastructureHealthMetrics) -> None:
        """Set every health-derived metric from one sample (see the module docstring)."""
        env = self.environment
        self.infrastructure_health.labels(env).set(HEALTH_VALUES[health.overall_status])
        for component, healthy in (
            ("postgres", health.postgres_healthy),
            ("kafka", health.kafka_healthy),
            ("circuit_breaker", health.circuit_breaker_healthy),
        ):
            self.component_healthy.labels(env, component).set(1.0 if healthy else 0.0)
        pg = health.postgres_metrics
        if pg is not None:
            pool = pg.connection_pool
            self.postgres_connections.labels(env).set(max(pool.size - pool.idle_connections, 0))
            self.postgres_pool_size.labels(env).set(pool.size)
            self.postgres_max_connections.labels(env).set(pool.max_size)
            self._count_reconnects(pg.performance.reconnect_count)
        kafka = health.kafka_metrics
        if kafka is not None and kafka.pool is not None:
            self.kafka_producers.labels(env).set(kafka.pool.total_producers)
        self.error_rate_percent.labels(env).set(health.error_rate_percent)
        self.response_time_ms.labels(env).set(health.avg_db_response_time_ms)
        self.events_queued.labels(env).set(health.total_events_queued)
        for breaker in health.circuit_breaker_metrics:
            self.set_breaker_state(breaker.name, breaker.state)

    def _count_reconnects(self, total: int) -> None:
        """Turn the connection manager's running total into counter increments (a restart resets it)."""
        with self._reconnects_lock:
            last = self._last_reconnects
            self._last_reconnects = total
        delta = total if last is None or total < last else total - last
        if delta > 0:
            self.postgres_reconnects.labels(self.environment).inc(delta)

    def set_breaker_state(self, breaker: str, state: str) -> None:
        """1 for ``state`` and 0 for every other state of ``breaker``; ``ValueError`` for an unknown state."""
        if state not in CIRCUIT_STATES:
            raise ValueError(f"unknown circuit state {state!r}")
        for candidate in CIRCUIT_STATES:
            self.circuit_breaker_state.labels(self.environment, breaker, candidate).set(
                1.0 if candidate == state else 0.0
            )

    def register_breaker(self, breaker: str, state: str, transitions: Iterable[tuple[str, str]]) -> None:
        """Export ``breaker`` before anything happens to it: its state gauge, and a 0 counter per
        possible ``(from_state, to_state)`` transition. ``ValueError`` for an unknown state."""
        self.set_breaker_state(breaker, state)
        for from_state, to_state in transitions:
            self.circuit_breaker_transitions.labels(self.environment, breaker, from_state, to_state)

    def on_breaker_transition(self, transition: BreakerTransition) -> None:
        """Count the transition and move the state gauge; usable as a breaker listener."""
        self.circuit_breaker_transitions.labels(
            self.environment, transition.name, transition.from_state, transition.to_state
        ).inc()
        self.set_breaker_state(transition.name, transition.to_state)

    def count_messages_processed(self, workflow: str, count: int = 1) -> None:
        """Add ``count`` messages processed by ``workflow`` (event_store, operations, outbox_relay...)."""
        self.messages_processed.labels(self.environment, workflow).inc(count)

    def count_event_store_duplicates(self, count: int) -> None:
        """Add ``count`` rows the event store already held (skipped, never written twice)."""
        self.event_store_duplicates.labels(self.environment).inc(count)

    def observe_db_operation(self, operation: str, seconds: float) -> None:
        """Record one database operation's duration (``operation``: a contract operation or verb)."""
        self.db_operation_duration.labels(self.environment, operation).observe(seconds)

    def observe_kafka_publish(self, topic: str, seconds: float) -> None:
        """Record the time from send to broker acknowledgement of one record on ``topic``."""
        self.kafka_publish_duration.labels(self.environment, topic).observe(seconds)

    def observe_batch(self, workflow: str, size: int) -> None:
        """Record the size of one batch written or published by ``workflow``."""
        self.batch_size.labels(self.environment, workflow).observe(size)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Records between the committed position and the end of ``topic``/``partition``."""
        self.consumer_lag.labels(self.environment, topic, str(partition)).set(lag)

    def remove_consumer_lag(self, topic: str, partition: int) -> None:
        """Forget a partition's lag (after it was revoked); no error if it was never set."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(self.environment, topic, str(partition))

    def count_dlq_record(self, topic: str, stage: str) -> None:
        """Count one record sent to the DLQ of source ``topic`` at ``stage`` (decode, validate, apply...)."""
        self.dlq_records.labels(self.environment, topic, stage).inc()

    def set_outbox_pending(self, pending: int) -> None:
        """Outbox rows waiting to be published."""
        self.outbox_pending.labels(self.environment).set(pending)

    def set_outbox_listening(self, listening: bool) -> None:
        """Whether the outbox relay's LISTEN connection is up (else it only polls)."""
        self.outbox_listening.labels(self.environment).set(1.0 if listening else 0.0)

    def observe_span(self, span_name: str, kind: str, status: str, seconds: float) -> None:
        """Record one ended span (status ``ok``/``error``/``unset``)."""
        self.span_duration.labels(self.environment, span_name, kind, status).observe(seconds)

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)


__all__ = ["CIRCUIT_STATES", "HEALTH_VALUES", "BreakerTransition", "InfraMetrics"]
