"""The producer pool against fake producers: lifecycle, growth, acks, aborts, errors, statistics."""

from __future__ import annotations

import asyncio
import gc

import aiokafka.errors as kafka_errors
import pytest
from pydantic import SecretStr

from omnibase_infra.clock import FakeClock
from omnibase_infra.errors import ConfigurationError, LifecycleError, OutageError, PoisonRecordError
from omnibase_infra.infrastructure.event_queue import OutboundEvent
from omnibase_infra.infrastructure.kafka_producer_lane import outcome
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.models.model_kafka_producer_config import (
    ModelKafkaProducerConfig,
    ModelKafkaSecurityConfig,
)

from .autojump import run_autojump
from .fakes import FakeProducer, events

CONFIG = ModelKafkaProducerConfig(
    bootstrap_servers="broker:9092",
    min_pool_size=1,
    max_pool_size=3,
    request_timeout_ms=1000,
    delivery_timeout_ms=2000,
)


class Factory:
    def __init__(self) -> None:
        self.made: list[FakeProducer] = []
        self.start_error: Exception | None = None

    def __call__(self, config: ModelKafkaProducerConfig, client_id: str) -> FakeProducer:
        producer = FakeProducer(client_id, start_error=self.start_error)
        self.made.append(producer)
        return producer


def make_pool(config: ModelKafkaProducerConfig = CONFIG) -> tuple[KafkaProducerPool, Factory, FakeClock]:
    factory = Factory()
    clock = FakeClock()
    return KafkaProducerPool(config, name="test-pool", factory=factory, clock=clock), factory, clock


async def test_lifecycle_is_idempotent_and_guarded() -> None:
    pool, factory, _ = make_pool()
    with pytest.raises(LifecycleError, match="not started"):
        await pool.send("t", b"v")
    await pool.start()
    await pool.start()
    assert len(factory.made) == 1 and factory.made[0].started
    await pool.stop()
    await pool.stop()
    assert factory.made[0].stopped
    with pytest.raises(LifecycleError, match="stopped"):
        await pool.send("t", b"v")
    with pytest.raises(LifecycleError):
        await pool.start()


async def test_send_returns_the_ack_and_counts_it() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        assert await pool.send("t", b"12345", key=b"k", headers=[("h", b"v")]) == (0, 0)
        assert await pool.send("t", b"67890", partition=2) == (2, 1)
        stats = pool.get_pool_stats()
    assert factory.made[0].sent[0].headers == (("h", b"v"),)
    assert (stats.total_messages_sent, stats.total_messages_failed, stats.total_bytes_sent) == (2, 0, 11)
    assert (stats.error_rate, stats.success_rate, stats.pool_health) == (0.0, 1.0, "healthy")
    assert stats.producers[0].messages_sent == 2


async def test_a_send_without_linger_asks_its_producer_to_send_the_topic_soon() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        await pool.send("events", b"v")
        await pool.send("replies", b"v", linger=False)
    assert factory.made[0].sent_soon == ["replies"], "only the send that asked for it"


async def test_a_lane_sends_what_it_buffered_without_linger_when_told() -> None:
    """The outbox relay buffers a whole round on a lane, then sends it at once: one batch per partition."""
    pool, factory, _ = make_pool()
    async with pool, pool.lane() as lane:
        deliveries = [await lane.enqueue(OutboundEvent(topic, b"v", None, ())) for topic in ("a", "b", "a")]
        await asyncio.sleep(0)
        assert factory.made[0].batches == [], "nothing is sent while the group is buffered"
        lane.send_buffered()
        assert [await d.ack() for d in deliveries] == [(0, 0), (0, 2), (0, 1)]
    assert factory.made[0].batches == [("a", 0, 2), ("b", 0, 1)]
    assert factory.made[0].sent_soon == [], "a lane's batches never wait out linger_ms"


async def test_a_lane_keeps_each_key_on_its_partition_and_in_order_across_full_batches() -> None:
    pool, factory, _ = make_pool()
    producer_keys = {b"k0": 0, b"k1": 1, b"k2": 2}
    async with pool:
        producer = factory.made[0]
        producer.batch_capacity = 2
        producer.partition_of = lambda topic, key: producer_keys[key or b"k0"]
        async with pool.lane() as lane:
            records = [OutboundEvent("t", f"v{i}".encode(), f"k{i % 3}".encode(), ()) for i in range(9)]
            deliveries = [await lane.enqueue(record) for record in records]
            lane.send_buffered()
            acks = [await d.ack() for d in deliveries]
        stats = pool.get_pool_stats()
    assert [partition for partition, _ in acks] == [i % 3 for i in range(9)]
    for key in (b"k0", b"k1", b"k2"):
        sent = [event.value for event in producer.sent if event.key == key]
        assert sent == [r.value for r in records if r.key == key], "a key's records in order"
        offsets = [offset for (_, offset), r in zip(acks, records, strict=True) if r.key == key]
        assert offsets == sorted(offsets)
        assert [producer.sent[offset].value for offset in offsets] == sent
    assert [count for _, _, count in producer.batches] == [2, 2, 2, 1, 1, 1]
    assert (stats.total_messages_sent, stats.total_bytes_sent) == (9, 9 * 4)


async def test_a_lane_that_ends_unsent_sends_nothing_and_counts_its_records_failed() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        async with pool.lane() as lane:
            await lane.enqueue(OutboundEvent("t", b"v", b"k", ()))
        await asyncio.sleep(0)
        stats = pool.get_pool_stats()
    assert factory.made[0].batches == []
    assert (stats.total_messages_sent, stats.total_messages_failed) == (0, 1)


async def test_awaiting_an_ack_sends_its_batch() -> None:
    pool, factory, _ = make_pool()
    async with pool, pool.lane() as lane:
        delivery = await lane.enqueue(OutboundEvent("t", b"v", b"k", ()))
        assert await delivery.ack() == (0, 0)
    assert factory.made[0].batches == [("t", 0, 1)]


async def test_after_a_batch_fails_to_be_queued_the_later_batches_of_its_partition_are_never_sent() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        producer = factory.made[0]
        producer.batch_capacity = 1
        real_send_batch = producer.send_batch
        calls = 0

        async def flaky(batch: object, topic: str, partition: int) -> asyncio.Future[int]:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise kafka_errors.KafkaTimeoutError()
            return await real_send_batch(batch, topic, partition)

        producer.send_batch = flaky  # type: ignore[method-assign]
        async with pool.lane() as lane:
            records = [OutboundEvent("t", f"v{i}".encode(), b"k", ()) for i in range(4)]
            deliveries = [await lane.enqueue(record) for record in records]
            lane.send_buffered()
            outcomes = [await outcome(d) for d in deliveries]
    assert outcomes[0] == (0, 0)
    assert all(isinstance(o, OutageError) for o in outcomes[1:]), outcomes
    assert [event.value for event in producer.sent] == [b"v0"], "nothing behind the failed batch"


async def test_busy_producers_make_the_pool_grow_up_to_max() -> None:
    pool, factory, _ = make_pool()
    await pool.start()
    factory.made[0].auto_ack = False
    tasks = [asyncio.create_task(pool.send("t", b"v")) for _ in range(6)]
    for _ in range(5):
        await asyncio.sleep(0)
    for producer in factory.made:
        producer.auto_ack = False
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(factory.made) == 3
    stats = pool.get_pool_stats()
    assert stats.total_producers == 3
    assert stats.active_producers >= 1
    assert 0 < stats.pool_utilization <= 1
    for producer in factory.made:
        for _, future in producer.pending:
            future.set_result((0, 0))
        producer.pending.clear()
        producer.auto_ack = True
    await asyncio.gather(*tasks)
    await pool.stop()


def test_an_unacknowledged_record_aborts_its_producer_and_is_replaced() -> None:
    pool, factory, clock = make_pool()

    async def scenario() -> None:
        await pool.start()
        factory.made[0].auto_ack = False
        started = clock.monotonic()
        with pytest.raises(OutageError, match="did not acknowledge"):
            await pool.send("t", b"v")
        assert clock.monotonic() - started == 2.0  # delivery_timeout_ms
        assert isinstance(factory.made[0].aborted, OutageError)
        stats = pool.get_pool_stats()
        assert stats.failed_producers == 1
        assert stats.pool_health == "unhealthy"
        assert await pool.send("t", b"v") == (0, 0)  # a replacement producer took over
        assert len(factory.made) == 2
        assert pool.get_pool_stats().failed_producers == 0
        await pool.stop()

    run_autojump(scenario(), clock)


def test_a_caller_that_gives_up_aborts_the_producer_too() -> None:
    pool, factory, clock = make_pool()

    async def scenario() -> None:
        await pool.start()
        factory.made[0].auto_ack = False
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):  # e.g. the breaker's timeout_seconds
                await pool.send("t", b"v")
        assert factory.made[0].aborted is not None
        assert pool.get_pool_stats().total_messages_failed == 1
        await pool.stop()

    run_autojump(scenario(), clock)


@pytest.mark.parametrize(
    ("client_error", "expected"),
    [
        (kafka_errors.KafkaConnectionError(), OutageError),
        (kafka_errors.KafkaTimeoutError(), OutageError),
        (kafka_errors.MessageSizeTooLargeError(), PoisonRecordError),
        (kafka_errors.AuthenticationFailedError(), ConfigurationError),
    ],
)
async def test_client_errors_are_translated(client_error: Exception, expected: type[Exception]) -> None:
    pool, factory, _ = make_pool()
    async with pool:
        factory.made[0].enqueue_error = client_error
        with pytest.raises(expected) as raised:
            await pool.send("t", b"v")
        assert raised.value.__cause__ is client_error
        assert pool.get_pool_stats().total_messages_failed == 1


async def test_a_fatal_producer_error_marks_the_producer_failed() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        factory.made[0].enqueue_error = kafka_errors.ProducerClosed()
        with pytest.raises(kafka_errors.ProducerClosed):
            await pool.send("t", b"v")
        assert pool.get_pool_stats().failed_producers == 1
        await pool.send("t", b"v")
        assert len(factory.made) == 2


async def test_start_raises_an_outage_when_the_broker_is_unreachable() -> None:
    pool, factory, _ = make_pool()
    factory.start_error = kafka_errors.KafkaConnectionError("Unable to bootstrap")
    with pytest.raises(OutageError):
        await pool.start()
    factory.start_error = None
    await pool.start()  # may be retried
    await pool.stop()


async def test_start_without_a_broker_connects_on_first_use() -> None:
    pool, factory, _ = make_pool()
    factory.start_error = kafka_errors.KafkaConnectionError("Unable to bootstrap")
    await pool.start(require_connection=False)
    health = await pool.health_check()
    assert (health.status, health.brokers_reachable) == ("unhealthy", False)
    factory.start_error = None
    assert await pool.send("t", b"v") == (0, 0)
    assert (await pool.health_check()).status == "healthy"
    await pool.stop()


async def test_rejected_credentials_fail_start_even_without_require_connection() -> None:
    pool, factory, _ = make_pool()
    factory.start_error = ConfigurationError("KAFKA_SASL_PASSWORD", "rejected")
    with pytest.raises(ConfigurationError):
        await pool.start(require_connection=False)


async def test_health_reflects_broker_metadata() -> None:
    pool, factory, _ = make_pool()
    assert (await pool.health_check()).status == "unhealthy"
    async with pool:
        health = await pool.health_check()
        assert (health.status, health.brokers_reachable) == ("healthy", True)
        factory.made[0].metadata_error = kafka_errors.KafkaError("Unable to get cluster metadata")
        health = await pool.health_check()
        assert (health.status, health.brokers_reachable) == ("unhealthy", False)
        assert health.error is not None and "Unable to get cluster metadata" in health.error


async def test_secrets_never_reach_error_text() -> None:
    secure = CONFIG.model_copy(
        update={
            "security": ModelKafkaSecurityConfig(
                security_protocol="SASL_PLAINTEXT",
                sasl_mechanism="PLAIN",
                sasl_username="svc",
                sasl_password=SecretStr("hunter2"),
            )
        }
    )
    pool, factory, _ = make_pool(secure)
    async with pool:
        factory.made[0].metadata_error = kafka_errors.KafkaError("login hunter2 failed")
        health = await pool.health_check()
    assert health.error is not None and "hunter2" not in health.error and "***" in health.error


async def test_send_batch_returns_one_outcome_per_record_in_order() -> None:
    pool, factory, _ = make_pool()
    async with pool:
        records = events(4)
        outcomes = await pool.send_batch(records)
        assert outcomes == [(0, 0), (0, 1), (0, 2), (0, 3)]
        assert factory.made[0].sent == records
        factory.made[0].enqueue_error = kafka_errors.MessageSizeTooLargeError()
        [failed] = await pool.send_batch(records[:1])
        assert isinstance(failed, PoisonRecordError)
        assert await pool.send_batch([]) == []


async def test_rates_cover_a_sliding_window() -> None:
    pool, factory, clock = make_pool()
    async with pool:
        for _ in range(9):
            await pool.send("t", b"v")
        factory.made[0].enqueue_error = kafka_errors.KafkaConnectionError()
        with pytest.raises(OutageError):
            await pool.send("t", b"v")
        clock.advance(10)
        stats = pool.get_pool_stats()
        assert stats.error_rate == pytest.approx(0.1)
        assert stats.pool_health == "degraded"
        assert stats.average_throughput_mps == pytest.approx(9 / 10)
        clock.advance(61)
        stats = pool.get_pool_stats()
        assert (stats.error_rate, stats.success_rate, stats.pool_health) == (0.0, 1.0, "healthy")
        assert stats.total_messages_sent == 9


async def test_records_abandoned_with_their_producer_leave_no_unretrieved_failure() -> None:
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(str(context.get("message"))))
    pool, factory, _ = make_pool()
    async with pool:
        factory.made[0].auto_ack = False
        batch = asyncio.create_task(pool.send_batch(events(3)))
        while not factory.made[0].pending_batches:
            await asyncio.sleep(0)
        batch.cancel()  # e.g. a breaker's timeout: the producer is aborted, its records fail
        with pytest.raises(asyncio.CancelledError):
            await batch
        assert isinstance(factory.made[0].aborted, OutageError)
    del batch
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not [message for message in reported if "never retrieved" in message]


SASL = ModelKafkaSecurityConfig(
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-256",
    sasl_username="svc",
    sasl_password=SecretStr("sasl-password-v1"),
)
ROTATED = SASL.model_copy(update={"sasl_username": "svc-2", "sasl_password": SecretStr("sasl-password-v2")})


class ConfigRecordingFactory(Factory):
    def __init__(self) -> None:
        super().__init__()
        self.configs: list[ModelKafkaProducerConfig] = []

    def __call__(self, config: ModelKafkaProducerConfig, client_id: str) -> FakeProducer:
        self.configs.append(config)
        return super().__call__(config, client_id)


def make_sasl_pool() -> tuple[KafkaProducerPool, ConfigRecordingFactory]:
    factory = ConfigRecordingFactory()
    config = CONFIG.model_copy(update={"security": SASL, "min_pool_size": 2})
    return KafkaProducerPool(config, name="test-pool", factory=factory, clock=FakeClock()), factory


async def test_renewed_security_replaces_every_producer_once_its_sends_returned() -> None:
    pool, factory = make_sasl_pool()
    await pool.start()
    old = list(factory.made)
    old[0].auto_ack = False
    in_flight = asyncio.create_task(pool.send("t", b"in-flight"))
    while not old[0].pending:
        await asyncio.sleep(0)
    renewal = asyncio.create_task(pool.renew_security(ROTATED))
    while len(factory.made) < 4:
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert not old[0].stopped  # its send is still in flight: not closed under it
    _, future = old[0].pending.pop()
    future.set_result((0, 7))
    assert await in_flight == (0, 7)
    await asyncio.wait_for(renewal, 1)
    assert all(p.stopped for p in old) and old[0].aborted is None
    new = factory.made[2:]
    assert [c.security.sasl_username for c in factory.configs[2:]] == ["svc-2", "svc-2"]
    assert pool.config.security == ROTATED
    await pool.send("t", b"after")
    assert sum(len(p.sent) for p in new) == 1
    assert pool.get_pool_stats().total_producers == 2
    await pool.stop()


async def test_rejected_new_credentials_keep_the_old_producers() -> None:
    pool, factory = make_sasl_pool()
    await pool.start()
    factory.start_error = ConfigurationError("KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD", "rejected")
    with pytest.raises(ConfigurationError):
        await pool.renew_security(ROTATED)
    assert pool.config.security == SASL
    assert not any(p.stopped for p in factory.made[:2])
    factory.start_error = None
    assert await pool.send("t", b"still works") is not None
    await pool.stop()


async def test_renewal_before_start_is_taken_by_the_first_producers() -> None:
    pool, factory = make_sasl_pool()
    await pool.renew_security(ROTATED)
    await pool.start()
    assert {c.security.sasl_username for c in factory.configs} == {"svc-2"}
    await pool.stop()
    with pytest.raises(LifecycleError, match="stopped"):
        await pool.renew_security(SASL)


async def test_renewing_with_the_credentials_in_use_replaces_nothing() -> None:
    pool, factory = make_sasl_pool()
    await pool.start()
    await pool.renew_security(ROTATED)
    made = len(factory.made)
    await pool.renew_security(ROTATED)  # a rotation round retried after its consumer step failed
    assert len(factory.made) == made
    assert not any(p.stopped for p in factory.made[2:])
    await pool.stop()


class GatedStartFactory(ConfigRecordingFactory):
    """Producers built after ``gate_after`` wait for ``gate`` in ``start()`` (a slow SASL handshake)."""

    def __init__(self, gate_after: int) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate_after = gate_after

    def __call__(self, config: ModelKafkaProducerConfig, client_id: str) -> FakeProducer:
        producer = super().__call__(config, client_id)
        if len(self.made) > self.gate_after:
            plain_start, gate = producer.start, self.gate

            async def gated_start() -> None:
                await gate.wait()
                await plain_start()

            producer.start = gated_start  # type: ignore[method-assign]  # the fake's start is swapped per instance
        return producer


async def test_sends_go_on_while_the_renewed_producers_start() -> None:
    factory = GatedStartFactory(gate_after=2)
    config = CONFIG.model_copy(update={"security": SASL, "min_pool_size": 2})
    pool = KafkaProducerPool(config, name="test-pool", factory=factory, clock=FakeClock())
    await pool.start()
    renewal = asyncio.create_task(pool.renew_security(ROTATED))
    while len(factory.made) < 3:
        await asyncio.sleep(0)
    # The new producer is still starting: a send takes an old one instead of waiting for it.
    assert await asyncio.wait_for(pool.send("t", b"during"), 1) is not None
    assert sum(len(p.sent) for p in factory.made[:2]) == 1
    factory.gate.set()
    await asyncio.wait_for(renewal, 1)
    assert pool.config.security == ROTATED
    await pool.stop()


async def test_topic_exists_answers_from_the_brokers_and_never_guesses() -> None:
    pool, factory, _ = make_pool()
    await pool.start()
    factory.made[0].topics.add("onex.evt.test.orders.v1")

    assert await pool.topic_exists("onex.evt.test.orders.v1") is True
    assert await pool.topic_exists("onex.evt.test.missing.v1") is False

    factory.made[0].metadata_error = kafka_errors.KafkaError("Unable to get cluster metadata")
    with pytest.raises(OutageError, match="no cluster metadata"):
        await pool.topic_exists("onex.evt.test.missing.v1")
    await pool.stop()


async def test_a_batch_whose_delivery_the_producer_cancels_fails_as_an_outage() -> None:
    # The awaiting relay chain or reply batch must see an outage (it pauses), never a
    # cancellation of its own task.
    pool, factory, _ = make_pool()
    async with pool:
        producer = factory.made[0]
        producer.auto_ack = False
        async with pool.lane() as lane:
            delivery = await lane.enqueue(OutboundEvent("t", b"v", b"k", ()))
            lane.send_buffered()
            for _ in range(3):
                await asyncio.sleep(0)
            _, future = producer.pending_batches[0]
            future.cancel()
            result = await outcome(delivery)
    assert isinstance(result, OutageError), result
