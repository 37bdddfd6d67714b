"""A pool of Kafka producers with real statistics and a broker health check.

Guarantees:

- Between ``min_pool_size`` and ``max_pool_size`` producers
  (``ModelKafkaProducerConfig``). ``send`` prefers an idle producer, otherwise
  shares the least loaded one and grows the pool in the background. The pool's
  own ``asyncio.Lock`` guards the producer list; callers never see it.
- ``send`` returns ``(partition, offset)`` only after the broker acknowledged
  the record (``acks`` per config), within ``delivery_timeout_ms``. When the
  wait for an ack is abandoned (the delivery timeout, or the caller was
  cancelled, e.g. by a breaker's timeout), the producer is aborted: its
  buffered records are failed and never delivered late, it is marked
  ``failed`` and replaced. A record already on the wire may still land, so
  delivery is at-least-once.
- Errors: outages raise ``OutageError``; a record the broker can never take
  (too large, corrupt) raises ``PoisonRecordError``; rejected credentials raise
  ``ConfigurationError`` (never retried). All are raised ``from`` the client's
  error; messages carry no secrets.
- ``renew_security`` swaps every producer for one with rotated credentials without
  losing a record: the new ones are started before the old ones are flushed and closed.
- ``start()``/``stop()`` are idempotent; ``send`` before ``start()`` or after
  ``stop()`` raises ``LifecycleError``. ``stop()`` flushes each producer for up
  to ``close_timeout_seconds`` and aborts it after that.

``lane()`` and ``send_batch`` (``kafka_producer_pool_lanes``) hold one producer for a group of
sends and build one batch per partition (``kafka_producer_lane``); ``send`` is one record.

Statistics are defined in ``kafka_producer_stats``. Pool health: unhealthy
when no producer is usable (or the pool is not running), degraded when a
producer has failed or the recent error rate exceeds 5 %, healthy otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Coroutine, Sequence

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.errors import ConfigurationError, InfraError, LifecycleError, OutageError
from omnibase_infra.infrastructure.error_classification import qualified_name
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_errors import (
    describe_kafka_error,
    is_fatal_for_producer,
    translate_kafka_error,
)
from omnibase_infra.infrastructure.kafka_producer_lane import Pending, mark_seen
from omnibase_infra.infrastructure.kafka_producer_pool_lanes import PoolLanes, Slot
from omnibase_infra.infrastructure.kafka_producer_protocol import (
    Ack,
    Header,
    ProducerFactory,
    ProtocolKafkaProducer,
)
from omnibase_infra.infrastructure.kafka_producer_stats import PoolCounters, ProducerCounters, pool_snapshot
from omnibase_infra.models.model_health import ModelKafkaHealth
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)
from omnibase_infra.models.model_kafka_producer_pool_stats import ModelKafkaProducerPoolStats

_log = logging.getLogger(__name__)


def _default_factory(config: ModelKafkaProducerConfig, client_id: str) -> ProtocolKafkaProducer:
    from omnibase_infra.infrastructure.kafka_producer_adapter import AIOKafkaProducerAdapter

    return AIOKafkaProducerAdapter(config, client_id)


class KafkaProducerPool(PoolLanes):
    """Pooled producers with statistics and health (see the module docstring for guarantees)."""

    def __init__(
        self,
        config: ModelKafkaProducerConfig,
        *,
        name: str = "kafka_producer_pool",
        factory: ProducerFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
        health_timeout_seconds: float = 5.0,
        close_timeout_seconds: float = 10.0,
        stats_window_seconds: float = 60.0,
    ) -> None:
        self._config = config
        self._name = name
        self._factory = factory or _default_factory
        self._clock = clock
        self._health_timeout = health_timeout_seconds
        self._close_timeout = close_timeout_seconds
        self._slots: list[Slot] = []
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._growing = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._state = "new"
        self._generation = 0  # bumped by renew_security
        self._counters = PoolCounters(clock, stats_window_seconds)

    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> ModelKafkaProducerConfig:
        return self._config

    async def start(self, *, require_connection: bool = True) -> None:
        """Start ``min_pool_size`` producers; idempotent.

        With ``require_connection`` a broker that cannot be reached raises
        ``OutageError`` (and the pool stays unstarted); without it the pool
        starts empty and connects on first use or health check.
        """
        async with self._lock:
            if self._state == "stopped":
                raise LifecycleError(f"producer pool {self._name!r} was stopped; create a new one")
            if self._state == "running":
                return
            started: list[Slot] = []
            try:
                for _ in range(self._config.min_pool_size):
                    started.append(await self._create_slot())
            except Exception as exc:
                if require_connection or isinstance(exc, ConfigurationError):
                    for slot in started:
                        await self._close_slot(slot)
                    raise
                _log.warning("producer pool %s started without a broker connection: %s", self._name, exc)
            self._slots.extend(started)
            self._state = "running"

    async def initialize(self) -> None:
        """``start()`` under the original guide's name (a broker must be reachable); idempotent."""
        await self.start()

    async def stop(self) -> None:
        """Flush and close every producer; idempotent."""
        async with self._lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
            slots, self._slots = self._slots, []
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._close_slot(slot) for slot in slots))

    async def renew_security(self, security: ModelKafkaSecurityConfig) -> None:
        """Replace every producer with one built with ``security`` (rotated SASL credentials).

        aiokafka takes the credentials at construction, so the pool is rebuilt
        gracefully: ``min_pool_size`` new producers are started first (credentials the
        broker rejects raise ``ConfigurationError``, an unreachable broker ``OutageError``,
        and the pool keeps its old producers), then they take over every new send,
        and each old producer is closed (flushed) once the sends in flight on it have
        returned. Nothing buffered is dropped. Before ``start()`` the new settings are
        simply taken for the first producers.
        """
        if security == self._config.security:
            return  # already in use: a retried rotation round must not replace the producers again
        config = self._config.model_copy(update={"security": security})
        async with self._lock:
            if self._state != "running":
                if self._state == "stopped":
                    raise LifecycleError(f"producer pool {self._name!r} is stopped")
                self._config = config
                return
        # The new producers start (a SASL handshake each) outside the lock, so sends go on
        # through the old ones meanwhile; only the swap happens under it.
        fresh: list[Slot] = []
        try:
            for _ in range(config.min_pool_size):
                fresh.append(await self._create_slot(config))
        except Exception:
            for slot in fresh:
                await self._close_slot(slot)
            raise
        async with self._lock:
            if self._state != "running":
                for slot in fresh:
                    await self._close_slot(slot)
                raise LifecycleError(f"producer pool {self._name!r} stopped while renewing")
            retiring, self._slots = self._slots, fresh
            self._config = config
            self._generation += 1  # producers still growing with the old settings are dropped
        _log.info("producer pool %s: %d producers renewed with new credentials", self._name, len(fresh))
        await asyncio.gather(*(self._retire(slot) for slot in retiring))

    async def _retire(self, slot: Slot) -> None:
        """Close ``slot`` once no send is in flight on it (waiting up to ``close_timeout``)."""
        if slot.counters.in_flight > 0:
            slot.drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot.drained.wait(), self._close_timeout)
        await self._close_slot(slot)

    async def __aenter__(self) -> KafkaProducerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Sequence[Header] | None = None,
        partition: int | None = None,
        *,
        linger: bool = True,
    ) -> Ack:
        """Publish one record and return ``(partition, offset)`` once acknowledged.

        ``linger=False``: the record does not wait out ``linger_ms`` (records of its topic
        sent in the same turn of the event loop still go together), for a caller that sent
        everything it had and waits for the acks (replies)."""
        record = OutboundEvent(topic, value, key, tuple(headers or ()))
        slot = await self._acquire()
        try:
            pending = await self._enqueue(slot, record, partition)
            if not linger:
                slot.producer.send_soon(topic)
            return await self._await_ack(slot, record, pending)
        finally:
            self._release(slot)

    async def topic_exists(self, topic: str) -> bool:
        """Whether the brokers have ``topic``, asked without creating it.

        Answers from a producer's metadata when it knows the topic, else with one
        metadata request, bounded by ``health_timeout_seconds``. Raises ``OutageError``
        when the brokers cannot say (unreachable, no answer in time).
        """
        try:
            async with asyncio.timeout(self._health_timeout):
                slot = await self._acquire()
                try:
                    return await slot.producer.has_topic(topic)
                finally:
                    self._release(slot)
        except TimeoutError:
            raise OutageError(
                f"Kafka {self._config.bootstrap_servers}: no metadata within {self._health_timeout:g} s"
            ) from None
        except InfraError:
            raise
        except Exception as exc:
            translated = translate_kafka_error(exc, self._config)
            if isinstance(translated, ConfigurationError):
                raise translated from exc
            # Not knowing is never an answer about the topic: the caller must wait, not give up on it.
            raise OutageError(
                f"Kafka {self._config.bootstrap_servers}: no cluster metadata "
                f"({describe_kafka_error(exc, self._config)})"
            ) from exc

    def get_pool_stats(self) -> ModelKafkaProducerPoolStats:
        """A snapshot of the pool (definitions in ``kafka_producer_stats``)."""
        return pool_snapshot(
            pool_name=self._name,
            config=self._config,
            running=self._state == "running",
            producers=[slot.counters for slot in self._slots],
            counters=self._counters,
        )

    async def health_check(self) -> ModelKafkaHealth:
        """Ask the brokers for metadata within ``health_timeout_seconds``; never raises."""
        if self._state != "running":
            return ModelKafkaHealth(
                status="unhealthy",
                brokers_reachable=False,
                pool=self.get_pool_stats(),
                error="pool not running",
            )
        try:
            async with asyncio.timeout(self._health_timeout):
                slot = await self._acquire()
                try:
                    brokers = await slot.producer.fetch_metadata()
                finally:
                    self._release(slot)
        except Exception as exc:
            return ModelKafkaHealth(
                status="unhealthy",
                brokers_reachable=False,
                pool=self.get_pool_stats(),
                error=self._describe(exc),
            )
        stats = self.get_pool_stats()
        reachable = brokers > 0
        status = "healthy" if reachable and stats.pool_health == "healthy" else "degraded"
        return ModelKafkaHealth(
            status=status if reachable else "unhealthy", brokers_reachable=reachable, pool=stats
        )

    # -- internals ---------------------------------------------------------------------------

    async def _enqueue(self, slot: Slot, record: OutboundEvent, partition: int | None) -> Pending:
        started = self._clock.monotonic()
        try:
            future = await slot.producer.enqueue(
                record.topic, record.value, record.key, record.headers, partition
            )
        except Exception as exc:
            raise self._record_failure(slot, exc) from exc
        future.add_done_callback(mark_seen)
        return Pending(future, started)

    async def _await_ack(self, slot: Slot, record: OutboundEvent, pending: Pending) -> Ack:
        try:
            if pending.future.done():  # a lane's later acks often are by their turn
                ack = pending.future.result()
            else:
                async with asyncio.timeout(self._config.delivery_timeout_ms / 1000):
                    ack = await pending.future
        except TimeoutError as exc:
            self._fail_slot(slot, "delivery timed out")
            within = self._config.delivery_timeout_ms
            outage = OutageError(f"Kafka did not acknowledge a record for {record.topic} within {within} ms")
            raise self._record_failure(slot, outage) from exc
        except asyncio.CancelledError:
            self._fail_slot(slot, "delivery abandoned")
            self._record_failure(slot, None)
            raise
        except Exception as exc:
            raise self._record_failure(slot, exc) from exc
        size = len(record.value) + len(record.key or b"")
        self._counters.record_success(size, self._clock.monotonic() - pending.started)
        slot.counters.messages_sent += 1
        slot.counters.bytes_sent += size
        return ack

    def _record_failure(self, slot: Slot, exc: Exception | None) -> Exception:
        """Count a failed record; return the error to raise in place of ``exc``."""
        self._counters.record_failure()
        slot.counters.messages_failed += 1
        if exc is None:
            return OutageError("delivery abandoned")
        slot.counters.last_error = self._describe(exc)
        if is_fatal_for_producer(exc):
            self._fail_slot(slot, qualified_name(exc))
        return self._translate(exc)

    def _translate(self, exc: Exception) -> Exception:
        return translate_kafka_error(exc, self._config)

    def _describe(self, exc: BaseException) -> str:
        return describe_kafka_error(exc, self._config)

    async def _acquire(self) -> Slot:
        async with self._lock:
            if self._state != "running":
                state = "stopped" if self._state == "stopped" else "not started"
                raise LifecycleError(f"producer pool {self._name!r} is {state}")
            self._retire_failed()
            usable = [slot for slot in self._slots if slot.counters.state != "failed"]
            slot = next((s for s in usable if s.counters.in_flight == 0), None)
            if slot is None and not usable:
                slot = await self._create_slot()
                self._slots.append(slot)
            elif slot is None:
                if len(self._slots) + self._growing < self._config.max_pool_size:
                    self._start_growing()
                slot = min(usable, key=lambda s: s.counters.in_flight)
            slot.counters.in_flight += 1
            slot.counters.state = "active"
            return slot

    def _release(self, slot: Slot) -> None:
        slot.counters.in_flight = max(0, slot.counters.in_flight - 1)
        if slot.counters.in_flight == 0 and slot.counters.state == "active":
            slot.counters.state = "idle"
        if slot.counters.in_flight == 0 and slot.drained is not None:
            slot.drained.set()

    def _fail_slot(self, slot: Slot, reason: str) -> None:
        if slot.counters.state in ("failed", "closed"):
            return
        _log.warning(
            "producer %s of pool %s failed (%s); replacing it", slot.counters.producer_id, self._name, reason
        )
        slot.counters.state = "failed"
        slot.counters.last_error = reason
        slot.producer.abort(OutageError(f"producer {slot.counters.producer_id} aborted: {reason}"))

    def _retire_failed(self) -> None:
        """Drop failed producers (already aborted) and top the pool up to ``min_pool_size``."""
        kept = [
            slot for slot in self._slots if slot.counters.state != "failed" or slot.counters.in_flight > 0
        ]
        if len(kept) == len(self._slots):
            return
        self._slots = kept
        missing = self._config.min_pool_size - len(kept) - self._growing
        for _ in range(max(0, missing)):
            self._start_growing()

    async def _create_slot(self, config: ModelKafkaProducerConfig | None = None) -> Slot:
        config = config or self._config
        producer_id = f"{self._name}-{next(self._ids)}"
        producer = self._factory(config, f"{config.client_id}-{producer_id}")
        try:
            await producer.start()
        except Exception as exc:
            translated = self._translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        return Slot(producer, ProducerCounters(producer_id))

    def _start_growing(self) -> None:
        self._growing += 1  # counted now, so that concurrent acquires do not over-grow
        self._spawn(self._grow())

    async def _grow(self) -> None:
        generation = self._generation
        try:
            slot = await self._create_slot()
        except Exception as exc:
            self._growing -= 1
            _log.warning("producer pool %s could not add a producer: %s", self._name, self._describe(exc))
            return
        async with self._lock:
            self._growing -= 1
            if self._state == "running" and generation == self._generation:
                self._slots.append(slot)
                return
        await self._close_slot(slot)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_slot(self, slot: Slot) -> None:
        try:
            await asyncio.wait_for(slot.producer.stop(), self._close_timeout)
        except Exception as exc:
            slot.producer.abort(OutageError(f"producer pool {self._name!r} stopped"))
            _log.warning(
                "producer %s did not close cleanly: %s", slot.counters.producer_id, self._describe(exc)
            )
        slot.counters.state = "closed"


__all__ = ["KafkaProducerPool"]
