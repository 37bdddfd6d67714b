"""The bench's data: ~200-byte envelopes, the matching table rows, topics and producing.

Every case reads the same generated events. An envelope is valid ``ModelEventEnvelope``
JSON that omits the fields whose defaults apply (as a non-ONEX producer would write it):
payload, envelope_id, envelope_timestamp, correlation_id and event_type.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]  # untyped library
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]

from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import COLUMNS as EVENT_STORE_COLUMNS
from omnibase_infra.workflow.records import SourceRecord, StoredEvent, uuid_text
from omnibase_infra.workflow.records import timestamp_text as stored_timestamp_text

EVENT_TYPE = "bench.event"
# What the service stores as metadata for an envelope that carries none.
METADATA_JSON = '{"headers":{},"tags":{}}'
# The ceiling COPYs the same columns, in the same order, as the service's writer.
COLUMNS = EVENT_STORE_COLUMNS

Row = tuple[uuid.UUID, str, int, int, str, uuid.UUID, datetime, str, str]
Progress = Callable[[str], None]


def timestamp_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(seq: int, envelope_id: uuid.UUID, correlation_id: uuid.UUID, at: datetime) -> tuple[bytes, str]:
    """The wire bytes of one bench envelope and the payload JSON the service will store."""
    payload = f'{{"seq":{seq},"data":"bench"}}'
    value = (
        f'{{"payload":{payload},"envelope_id":"{envelope_id}","envelope_timestamp":"{timestamp_text(at)}",'
        f'"correlation_id":"{correlation_id}","event_type":"{EVENT_TYPE}"}}'
    )
    return value.encode("utf-8"), payload


@dataclass
class Dataset:
    """N envelopes, their partition assignment, and the rows the event store should hold."""

    topic: str
    partitions: int
    values: list[bytes]
    rows: list[Row]

    @property
    def mean_bytes(self) -> float:
        return sum(map(len, self.values)) / max(1, len(self.values))

    def stored_events(self) -> list[StoredEvent]:
        """The rows as the service's writer takes them (``write_events``), text as decoded."""
        return [
            StoredEvent(
                uuid_text(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                uuid_text(r[5]),
                stored_timestamp_text(r[6]),
                r[7],
                r[8],
                SourceRecord(r[1], r[2], r[3], None, None, ()),
            )
            for r in self.rows
        ]


def make_dataset(topic: str, count: int, partitions: int, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    at = datetime.now(UTC)
    values: list[bytes] = []
    rows: list[Row] = []
    for i in range(count):
        envelope_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        correlation_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        value, payload = envelope(i, envelope_id, correlation_id, at)
        values.append(value)
        rows.append(
            (
                envelope_id,
                topic,
                i % partitions,
                i // partitions,
                EVENT_TYPE,
                correlation_id,
                at,
                payload,
                METADATA_JSON,
            )
        )
    return Dataset(topic, partitions, values, rows)


_PEER_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "name": "bench.Event",
    "optional": False,
    "fields": [
        {"field": "envelope_id", "type": "string", "optional": False},
        {"field": "topic", "type": "string", "optional": False},
        {"field": "partition", "type": "int32", "optional": False},
        {"field": "offset", "type": "int64", "optional": False},
        {"field": "event_type", "type": "string", "optional": True},
        {"field": "correlation_id", "type": "string", "optional": True},
        {"field": "envelope_timestamp", "type": "string", "optional": True},
        {"field": "payload", "type": "string", "optional": False},
        {"field": "metadata", "type": "string", "optional": False},
    ],
}


def peer_values(rows: Sequence[Row]) -> list[bytes]:
    """The same rows as Kafka Connect JSON-with-schema records (what a JDBC sink needs)."""
    schema = json.dumps(_PEER_SCHEMA, separators=(",", ":"))
    out: list[bytes] = []
    for r in rows:
        body = json.dumps(
            {
                "envelope_id": str(r[0]),
                "topic": r[1],
                "partition": r[2],
                "offset": r[3],
                "event_type": r[4],
                "correlation_id": str(r[5]),
                "envelope_timestamp": timestamp_text(r[6]),
                "payload": r[7],
                "metadata": r[8],
            },
            separators=(",", ":"),
        )
        out.append(f'{{"schema":{schema},"payload":{body}}}'.encode())
    return out


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, p, 1) for t, p in topics.items()])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    finally:
        await admin.close()


async def produce(
    bootstrap: str, topic: str, values: Sequence[bytes], partitions: int, progress: Progress
) -> float:
    """Send ``values`` round-robin over ``partitions``, wait for every ack; return records/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=262144)
    await producer.start()
    started = time.perf_counter()
    try:
        pending: list[Any] = []
        for i, value in enumerate(values):
            pending.append(await producer.send(topic, value, partition=i % partitions))
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
                progress(f"produced {i + 1:,}/{len(values):,} to {topic}")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return len(values) / (time.perf_counter() - started)


async def committed_total(admin: Any, group: str, topics: set[str]) -> int:
    """Sum of the committed offsets of ``group`` on ``topics`` (records whose work is durable)."""
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(int(meta.offset) for tp, meta in offsets.items() if tp.topic in topics and meta.offset > 0)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/p99.9/max (nearest rank) of ``samples``, in the samples' unit."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "p50": rank(0.50),
        "p99": rank(0.99),
        "p999": rank(0.999),
        "max": ordered[-1],
        "count": float(len(ordered)),
    }
