"""Counters of the Kafka producer pool: per producer, and a sliding window for rates.

Definitions (all times from the injected clock):

- ``total_messages_sent`` / ``total_messages_failed`` / ``total_bytes_sent``:
  since the pool was created; bytes are key + value of acknowledged records.
- ``average_response_time_ms``: mean time from ``send`` to the broker's ack
  over acknowledged records.
- ``average_throughput_mps``: acknowledged records in the last
  ``window_seconds``, divided by the window (or by the time since the first
  send when that is shorter).
- ``error_rate`` / ``success_rate``: failed / (sent + failed) over the same
  window, so that the rates recover after an outage; both 0/1 without traffic.
- ``pool_utilization``: producers with a send in flight / ``max_pool_size``.
- ``pool_health``: unhealthy when the pool is not running or no producer is
  usable, degraded when a producer has failed or the error rate exceeds 5 %.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from omnibase_infra.clock import Clock
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig
from omnibase_infra.models.model_kafka_producer_pool_stats import (
    ModelKafkaProducerPoolStats,
    ModelKafkaProducerStats,
    PoolHealth,
    ProducerState,
)

DEGRADED_ERROR_RATE = 0.05


@dataclass(slots=True)
class ProducerCounters:
    """The counters of one pooled producer."""

    producer_id: str
    state: ProducerState = "idle"
    in_flight: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    bytes_sent: int = 0
    last_error: str | None = None

    def snapshot(self) -> ModelKafkaProducerStats:
        return ModelKafkaProducerStats(
            producer_id=self.producer_id,
            state=self.state,
            messages_sent=self.messages_sent,
            messages_failed=self.messages_failed,
            bytes_sent=self.bytes_sent,
            last_error=self.last_error,
        )


class PoolCounters:
    """Lifetime totals plus a sliding window of outcomes kept in one-second buckets."""

    def __init__(self, clock: Clock, window_seconds: float = 60.0) -> None:
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        self._clock = clock
        self._window = window_seconds
        self._buckets: deque[list[int]] = deque()  # [second, acknowledged, failed]
        self._first_send: float | None = None
        self.sent = 0
        self.failed = 0
        self.bytes_sent = 0
        self._ack_seconds = 0.0

    def record_success(self, size: int, latency_seconds: float) -> None:
        self.sent += 1
        self.bytes_sent += size
        self._ack_seconds += max(0.0, latency_seconds)
        self._bucket()[1] += 1

    def record_failure(self) -> None:
        self.failed += 1
        self._bucket()[2] += 1

    def record_successes(self, count: int, size: int, latency_seconds_sum: float) -> None:
        """``count`` records acknowledged together (one batch): ``size`` bytes, their latencies summed."""
        self.sent += count
        self.bytes_sent += size
        self._ack_seconds += max(0.0, latency_seconds_sum)
        self._bucket()[1] += count

    def record_failures(self, count: int) -> None:
        self.failed += count
        self._bucket()[2] += count

    @property
    def average_response_time_ms(self) -> float:
        return 0.0 if self.sent == 0 else 1000.0 * self._ack_seconds / self.sent

    def window_rates(self) -> tuple[float, float, float]:
        """``(throughput_mps, error_rate, success_rate)`` over the window."""
        now = self._clock.monotonic()
        self._trim(now)
        ok = sum(bucket[1] for bucket in self._buckets)
        bad = sum(bucket[2] for bucket in self._buckets)
        span = self._window
        if self._first_send is not None:
            span = min(self._window, max(now - self._first_send, 1.0))
        total = ok + bad
        error_rate = 0.0 if total == 0 else bad / total
        return ok / span, error_rate, 1.0 - error_rate

    def _bucket(self) -> list[int]:
        now = self._clock.monotonic()
        if self._first_send is None:
            self._first_send = now
        second = int(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        self._trim(now)
        return self._buckets[-1]

    def _trim(self, now: float) -> None:
        horizon = now - self._window
        while self._buckets and self._buckets[0][0] + 1 <= horizon:
            self._buckets.popleft()


def pool_snapshot(
    *,
    pool_name: str,
    config: ModelKafkaProducerConfig,
    running: bool,
    producers: Sequence[ProducerCounters],
    counters: PoolCounters,
) -> ModelKafkaProducerPoolStats:
    """The pool's statistics model (definitions in the module docstring)."""
    failed = sum(1 for p in producers if p.state == "failed")
    active = sum(1 for p in producers if p.state == "active")
    idle = sum(1 for p in producers if p.state == "idle")
    throughput, error_rate, success_rate = counters.window_rates()
    health: PoolHealth = "healthy"
    if not running or len(producers) - failed == 0:
        health = "unhealthy"
    elif failed or error_rate > DEGRADED_ERROR_RATE:
        health = "degraded"
    return ModelKafkaProducerPoolStats(
        pool_name=pool_name,
        total_producers=len(producers),
        active_producers=active,
        idle_producers=idle,
        failed_producers=failed,
        min_pool_size=config.min_pool_size,
        max_pool_size=config.max_pool_size,
        pool_utilization=min(1.0, active / config.max_pool_size),
        total_messages_sent=counters.sent,
        total_messages_failed=counters.failed,
        total_bytes_sent=counters.bytes_sent,
        average_throughput_mps=throughput,
        average_response_time_ms=counters.average_response_time_ms,
        pool_health=health,
        error_rate=error_rate,
        success_rate=success_rate,
        producers=[p.snapshot() for p in producers],
    )


__all__ = ["DEGRADED_ERROR_RATE", "PoolCounters", "ProducerCounters", "pool_snapshot"]
