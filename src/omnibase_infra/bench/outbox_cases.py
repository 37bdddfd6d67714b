"""Cases 5 and 5b: the outbox relay of the running service (``onex-infra run``), measured from outside.

- 5 ``outbox``: ``rows`` pending ``onex_outbox`` rows over ``keys`` keys, inserted at once
  (one COPY) → the last row marked published (its marking transaction's commit time,
  ``pg_xact_commit_timestamp(xmin)``, else ``published_at``); every row must reach the
  topic and none may be dead-lettered. With ``profile_seconds`` py-spy samples the service
  during the case (``profile_case_5``).
- 5b ``outbox_idle_latency``: ``rows`` rows inserted one at a time into an otherwise idle
  outbox, ``gap_ms`` apart once the previous one is published; each is timed from its
  INSERT's commit (the bench's clock when the autocommitted INSERT returned) to its
  marking's commit (the same server clock, as above). Published means acknowledged by the
  broker and marked: the relay marks a row only after its ack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from omnibase_infra.bench import profiling
from omnibase_infra.bench.service_cases import ServiceProcess
from omnibase_infra.bench.workload import Progress, envelope, percentiles


def _marked_expr(commit_ts: bool) -> str:
    return "pg_xact_commit_timestamp(xmin)" if commit_ts else "published_at"


async def _records_on_topic(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        return int(sum((await consumer.end_offsets(parts)).values()))
    finally:
        await consumer.stop()


async def outbox(
    service: ServiceProcess,
    partitions: int,
    servers_dsn: str,
    schema: str,
    bootstrap: str,
    topic: str,
    rows: int,
    keys: int,
    commit_ts: bool,
    progress: Progress,
    profile_seconds: float = 0.0,
) -> dict[str, float]:
    """Case 5: ``rows`` pending outbox rows inserted at once; insert → last row marked published."""
    value, _ = envelope(0, uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    records = [(topic, f"k{i % keys}".encode(), value, "[]") for i in range(rows)]
    before = await _records_on_topic(bootstrap, topic, partitions)
    conn = await asyncpg.connect(servers_dsn, server_settings={"search_path": schema})
    profiler = None
    try:
        await conn.copy_records_to_table(
            "onex_outbox", records=records, columns=("topic", "key", "payload", "headers"), schema_name=schema
        )
        inserted_at = time.time()
        if profile_seconds > 0:
            out = service.log_path.with_name("profile_outbox.txt")
            profiler = profiling.start(service.pid, profile_seconds, out)
        deadline = time.monotonic() + 60 + rows / 200
        pending = rows
        while time.monotonic() < deadline:
            service.check_alive()
            pending = int(await conn.fetchval("SELECT count(*) FROM onex_outbox WHERE status = 'pending'"))
            if pending == 0:
                break
            progress(f"5 outbox: {rows - pending:,}/{rows:,} published")
            await asyncio.sleep(0.25)
        if pending:
            raise RuntimeError(f"outbox: {pending:,} rows still pending")
        parked = int(await conn.fetchval("SELECT count(*) FROM onex_outbox WHERE status = 'dead_letter'"))
        if parked:
            error = await conn.fetchval(
                "SELECT min(last_error) FROM onex_outbox WHERE status = 'dead_letter'"
            )
            raise RuntimeError(f"outbox: {parked:,} rows dead-lettered, e.g. {error}")
        last = float(
            await conn.fetchval(
                f"SELECT extract(epoch FROM max({_marked_expr(commit_ts)})) "
                "FROM onex_outbox WHERE topic = $1",
                topic,
            )
        )
    finally:
        await conn.close()
        if profiler is not None:
            profiler.wait(timeout=profile_seconds + 60)
    on_topic = await _records_on_topic(bootstrap, topic, partitions) - before
    if on_topic < rows:
        raise RuntimeError(f"outbox: {on_topic:,} records reached {topic}, expected {rows:,}")
    elapsed = last - inserted_at
    return {
        "rows": float(rows),
        "keys": float(keys),
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "records_on_topic": float(on_topic),
    }


async def outbox_idle_latency(
    service: ServiceProcess,
    servers_dsn: str,
    schema: str,
    topic: str,
    rows: int,
    gap_ms: float,
    commit_ts: bool,
    progress: Progress,
) -> dict[str, float]:
    """Case 5b: one row at a time into an idle outbox; INSERT commit → row marked published."""
    value, _ = envelope(0, uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
    conn = await asyncpg.connect(servers_dsn, server_settings={"search_path": schema})
    latencies: list[float] = []
    marked = (
        f"SELECT extract(epoch FROM {_marked_expr(commit_ts)}) "
        "FROM onex_outbox WHERE id = $1 AND status = 'published'"
    )
    try:
        pending = int(await conn.fetchval("SELECT count(*) FROM onex_outbox WHERE status = 'pending'"))
        if pending:
            raise RuntimeError(f"outbox idle latency: the outbox is not idle ({pending:,} rows pending)")
        for i in range(rows):
            await asyncio.sleep(gap_ms / 1000)
            row_id = await conn.fetchval(
                "INSERT INTO onex_outbox (topic, key, payload) VALUES ($1, $2, $3) RETURNING id",
                topic,
                f"idle-{i % 10}".encode(),
                value,
            )
            inserted_at = time.time()
            deadline = time.monotonic() + 30
            published: float | None = None
            while published is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"outbox idle latency: row {row_id} not published within 30 s")
                published = await conn.fetchval(marked, row_id)
                if published is None:
                    await asyncio.sleep(0.002)
            latencies.append((float(published) - inserted_at) * 1000)
            if i % 50 == 49:
                service.check_alive()
                progress(f"5b outbox idle latency: {i + 1}/{rows}")
    finally:
        await conn.close()
    figures = percentiles(latencies)
    return {
        "rows": float(rows),
        "gap_ms": gap_ms,
        "p50_ms": figures["p50"],
        "p99_ms": figures["p99"],
        "max_ms": figures["max"],
    }


__all__ = ["outbox", "outbox_idle_latency"]
