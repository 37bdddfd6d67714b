"""``python -m omnibase_infra.bench.relay_cpu BOOTSTRAP``: the relay's publishing, CPU per row.

Runs kafka_adapter's outbox publishing (``OutboxPublishOperations._publish_rows``: the chains,
the pool's lane, aiokafka) against a real broker, without PostgreSQL: ``--rounds`` rounds of
``--rows`` rows over ``--keys`` keys, on a fresh 3-partition topic, with the production producer
settings (batch 65,536, linger 10 ms, snappy, acks all, idempotent). Prints this process's CPU
time per row (``time.process_time``), which a loaded machine disturbs far less than wall time;
the wall rate is printed too. The rows are built before the clock starts. Every row must be
acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import TYPE_CHECKING, cast

from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]  # untyped

from omnibase_infra.clock import SYSTEM_CLOCK, Clock
from omnibase_infra.infrastructure.event_bus_circuit_breaker import EventBusCircuitBreaker
from omnibase_infra.infrastructure.kafka_producer_pool import KafkaProducerPool
from omnibase_infra.models.model_circuit_breaker_config import PRODUCTION_DEFAULT
from omnibase_infra.models.model_kafka_producer_config import ModelKafkaProducerConfig
from omnibase_infra.nodes.kafka_adapter.v1_0_0.outbox_operations import OutboxPublishOperations

if TYPE_CHECKING:
    import asyncpg

    from omnibase_infra.workflow.protocols import ProtocolTopicAcl


class _Relay(OutboxPublishOperations):
    """The publishing step on its own: a pool, a breaker, no ACL."""

    def __init__(self, pool: KafkaProducerPool, breaker: EventBusCircuitBreaker) -> None:
        self._pool = pool
        self._breaker = breaker
        self._acl: ProtocolTopicAcl | None = None
        self._clock: Clock = SYSTEM_CLOCK

    @property
    def producers(self) -> KafkaProducerPool:
        return self._pool

    @property
    def breaker(self) -> EventBusCircuitBreaker:
        return self._breaker


def _rows(topic: str, first: int, count: int, keys: int, payload: bytes) -> list[asyncpg.Record]:
    rows = [
        {
            "id": row_id,
            "topic": topic,
            "key": f"k{row_id % keys}".encode(),
            "payload": payload,
            "headers": "[]",
            "attempts": 0,
            "origin": "application",
        }
        for row_id in range(first, first + count)
    ]
    return cast("list[asyncpg.Record]", rows)  # read by key only, as an asyncpg.Record is


async def measure(bootstrap: str, rounds: int, rows: int, keys: int) -> dict[str, float]:
    """Publish ``rounds`` rounds of ``rows`` rows; CPU µs per row and the wall rate."""
    topic = f"onex.evt.relay-cpu.{uuid.uuid4().hex[:8]}.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    config = ModelKafkaProducerConfig(
        bootstrap_servers=bootstrap,
        batch_size=65536,
        linger_ms=10,
        compression_type="snappy",
        acks="all",
        enable_idempotence=True,
        min_pool_size=2,
        max_pool_size=8,
    )
    payload = b'{"payload":{"n":1},"event_type":"bench","envelope_id":"' + str(uuid.uuid4()).encode() + b'"}'
    async with KafkaProducerPool(config, name="relay-cpu") as pool:
        relay = _Relay(pool, EventBusCircuitBreaker("kafka", PRODUCTION_DEFAULT))
        await relay._publish_rows(_rows(topic, 0, rows, keys, payload), 30.0)  # metadata, connections
        batches = [_rows(topic, (i + 1) * rows, rows, keys, payload) for i in range(rounds)]
        cpu, wall = time.process_time(), time.perf_counter()
        published = 0
        for batch in batches:
            results = await relay._publish_rows(batch, 30.0)
            if any(result.failed or result.outage for result in results):
                raise RuntimeError("relay_cpu: a row was not acknowledged")
            published += sum(len(result.published) for result in results)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if published != rounds * rows:
        raise RuntimeError(f"relay_cpu: {published} rows acknowledged, expected {rounds * rows}")
    return {
        "rows": float(published),
        "cpu_us_per_row": cpu * 1e6 / published,
        "wall_rows_per_s": published / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omnibase_infra.bench.relay_cpu", description=__doc__)
    parser.add_argument("bootstrap", help="host:port of a broker")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.bootstrap, args.rounds, args.rows, args.keys))
    print(
        f"rows {figures['rows']:,.0f} ({args.rounds} rounds of {args.rows}, {args.keys} keys): "
        f"CPU {figures['cpu_us_per_row']:.2f} us/row; wall {figures['wall_rows_per_s']:,.0f} rows/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
