"""Case 1: the ceilings — what Kafka alone and PostgreSQL alone can do with the same data.

(a) raw aiokafka consumption of the pre-loaded topic, no database, with the service's
    consumer settings and batch size; (b) raw asyncpg ``copy_records_to_table`` of the same
    rows into a table of the same shape (primary key and indexes included), no Kafka;
(c) diagnostic: the service's own ``write_events`` alone (no Kafka), batch by batch, each
    batch split over the contract's ``write_connections`` as the service splits it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]  # untyped library

from omnibase_infra.bench.cpu import MachineCpu
from omnibase_infra.bench.workload import COLUMNS, Dataset, Progress
from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
    split_for_connections,
    write_events,
)


async def kafka_ceiling(
    bootstrap: str, data: Dataset, consumer_settings: dict[str, Any], batch_size: int, progress: Progress
) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **consumer_settings
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(data.topic, p) for p in range(data.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        want = len(data.values)
        seen = 0
        size = 0
        machine = MachineCpu()
        started = time.perf_counter()
        next_report = started + 2.0
        while seen < want:
            batch = await consumer.getmany(timeout_ms=1000, max_records=batch_size)
            for records in batch.values():
                seen += len(records)
                size += sum(len(r.value) for r in records)
            if time.perf_counter() >= next_report:
                next_report += 2.0
                progress(f"1a kafka ceiling: {seen:,}/{want:,}")
        elapsed = time.perf_counter() - started
        cpu = machine.figures(seen)
    finally:
        await consumer.stop()
    return {
        "events": float(seen),
        "seconds": elapsed,
        "events_per_s": seen / elapsed,
        "mb_per_s": size / elapsed / 1e6,
        **cpu,
    }


async def copy_ceiling(
    dsn: str, schema: str, data: Dataset, chunk: int, progress: Progress
) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    table = "bench_copy_ceiling"
    try:
        await conn.execute(
            f'CREATE TABLE "{schema}".{table} (LIKE "{schema}".onex_event_store INCLUDING ALL)'
        )
        machine = MachineCpu()
        started = time.perf_counter()
        for start in range(0, len(data.rows), chunk):
            await conn.copy_records_to_table(
                table, records=data.rows[start : start + chunk], columns=COLUMNS, schema_name=schema
            )
            if (start // chunk) % 10 == 9:
                progress(f"1b copy ceiling: {start + chunk:,}/{len(data.rows):,}")
        elapsed = time.perf_counter() - started
        cpu = machine.figures(len(data.rows))
        await conn.execute(f'DROP TABLE "{schema}".{table}')
    finally:
        await conn.close()
    return {
        "events": float(len(data.rows)),
        "seconds": elapsed,
        "events_per_s": len(data.rows) / elapsed,
        "chunk": float(chunk),
        **cpu,
    }


async def writer_alone(
    dsn: str, schema: str, data: Dataset, batch: int, write_connections: int, progress: Progress
) -> dict[str, float]:
    """The service's ``write_events`` on its own, ``batch`` rows per batch, into a scratch
    table; a batch split (``split_for_connections``) over ``write_connections`` connections
    written at once, as ``postgres_adapter.write_rows`` does."""
    scratch = f"{schema}_w"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA "{scratch}"')
        await admin.execute(
            f'CREATE TABLE "{scratch}".onex_event_store (LIKE "{schema}".onex_event_store INCLUDING ALL)'
        )
    finally:
        await admin.close()
    conns = [
        await asyncpg.connect(dsn, server_settings={"search_path": scratch}) for _ in range(write_connections)
    ]
    conn = conns[0]
    try:
        events = data.stored_events()
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            parts = split_for_connections(events[start : start + batch], write_connections)
            await asyncio.gather(*(write_events(c, part) for c, part in zip(conns, parts, strict=False)))
            if (start // batch) % 200 == 199:
                progress(f"1c writer alone: {start + batch:,}/{len(events):,}")
        elapsed = time.perf_counter() - started
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE')
        for c in conns:
            await c.close()
    return {
        "events": float(len(events)),
        "seconds": elapsed,
        "events_per_s": len(events) / elapsed,
        "batch": float(batch),
        "write_connections": float(write_connections),
    }
