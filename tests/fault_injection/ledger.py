"""What the broker holds versus what the event store holds, and how fast it got there.

Definitions (per scenario, over the stream's topic):
- *in the log*: envelope ids read back from the topic (every record, from offset 0);
- *lost*: in the log but not in the event store; *broker lost*: acknowledged to the
  producer but missing from the log (a broker fault, reported apart);
- *duplicated*: event-store rows beyond one per envelope id, plus rows whose Kafka
  coordinates are shared with another row (one record stored twice under two ids);
- *misplaced*: a row whose (topic, partition, offset) is not one of the log records of
  its envelope id; *phantom*: a row whose envelope id is not in the log at all;
- *log duplicates*: envelopes the producer had to send more than once that the log holds
  more than once (at-least-once upstream, folded by the event store).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

from fault_injection.envelopes import envelope_id_of

Coordinates = tuple[str, int, int]


@dataclass
class LogRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


async def read_topic(bootstrap: str, topic: str, *, within: float = 120.0) -> list[LogRecord]:
    """Every record of ``topic`` from offset 0 up to the end offsets seen at the start."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            if time.monotonic() >= deadline:
                return []
            await consumer.getmany(timeout_ms=100)  # drives the metadata and the assignment
            await asyncio.sleep(0.05)
        tps = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[LogRecord] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + within
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for tp, items in batch.items():
                for item in items:
                    if item.offset < ends[tp]:
                        records.append(
                            LogRecord(tp.partition, item.offset, item.key, item.value, list(item.headers))
                        )
                if items and items[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"could not read {topic} to its end within {within} s")
        return records
    finally:
        await consumer.stop()


@dataclass
class StoredRow:
    topic: str
    partition: int
    offset: int
    stored_at: float


async def read_event_store(conn: asyncpg.Connection) -> dict[uuid.UUID, list[StoredRow]]:
    rows = await conn.fetch(
        'SELECT envelope_id, topic, "partition", "offset", stored_at FROM onex_event_store'
    )
    result: dict[uuid.UUID, list[StoredRow]] = defaultdict(list)
    for row in rows:
        stored_at: datetime = row["stored_at"]
        result[row["envelope_id"]].append(
            StoredRow(row["topic"], row["partition"], row["offset"], stored_at.timestamp())
        )
    return result


@dataclass
class Reconciliation:
    """The event store checked against the log; see the module docstring."""

    in_log: int = 0
    log_records: int = 0
    stored_rows: int = 0
    lost: int = 0
    duplicated: int = 0
    misplaced: int = 0
    phantom: int = 0
    broker_lost: int = 0
    log_duplicates: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.misplaced or self.phantom or self.broker_lost)

    def note(self, kind: str, text: str) -> None:
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < 5:
            bucket.append(text)


def reconcile(
    topic: str,
    log: list[LogRecord],
    stored: dict[uuid.UUID, list[StoredRow]],
    *,
    acked: dict[uuid.UUID, list[tuple[int, int]]],
    expected_ids: set[uuid.UUID] | None = None,
) -> Reconciliation:
    """Compare; ``expected_ids`` limits the check to the stream's own envelopes (hostile runs)."""
    result = Reconciliation()
    where: dict[uuid.UUID, set[Coordinates]] = defaultdict(set)
    for record in log:
        envelope_id = envelope_id_of(record.value)
        if envelope_id is None or (expected_ids is not None and envelope_id not in expected_ids):
            continue
        where[envelope_id].add((topic, record.partition, record.offset))
    result.in_log = len(where)
    result.log_records = sum(len(c) for c in where.values())
    result.log_duplicates = sum(1 for c in where.values() if len(c) > 1)
    for envelope_id, acknowledged in acked.items():
        for partition, offset in acknowledged:
            if (topic, partition, offset) not in where.get(envelope_id, set()):
                result.broker_lost += 1
                result.note("broker_lost", f"{envelope_id} acked at {partition}/{offset}")
    by_coordinates: dict[Coordinates, int] = defaultdict(int)
    for envelope_id, rows in stored.items():
        if expected_ids is not None and envelope_id not in expected_ids:
            continue
        result.stored_rows += len(rows)
        if len(rows) > 1:
            result.duplicated += len(rows) - 1
            result.note("duplicated", str(envelope_id))
        if envelope_id not in where:
            result.phantom += len(rows)
            result.note("phantom", str(envelope_id))
            continue
        for row in rows:
            coordinates = (row.topic, row.partition, row.offset)
            by_coordinates[coordinates] += 1
            if coordinates not in where[envelope_id]:
                result.misplaced += 1
                result.note("misplaced", f"{envelope_id} stored at {coordinates}, log {where[envelope_id]}")
    shared = sum(n - 1 for n in by_coordinates.values() if n > 1)
    if shared:
        result.duplicated += shared
        result.note("duplicated", f"{shared} coordinates stored under more than one id")
    for envelope_id, coordinates_in_log in where.items():
        if envelope_id not in stored:
            result.lost += 1
            result.note("lost", f"{envelope_id} at {sorted(coordinates_in_log)}")
    return result


def first_row_after(
    stored: dict[uuid.UUID, list[StoredRow]], moment: float, partitions: set[int] | None = None
) -> float | None:
    """Seconds from ``moment`` to the first row stored after it (optionally on ``partitions``)."""
    times = [
        row.stored_at
        for rows in stored.values()
        for row in rows
        if row.stored_at >= moment and (partitions is None or row.partition in partitions)
    ]
    return min(times) - moment if times else None


def caught_up_after(
    stored: dict[uuid.UUID, list[StoredRow]], envelope_ids: list[uuid.UUID], moment: float
) -> float | None:
    """Seconds from ``moment`` until every one of ``envelope_ids`` was stored (0 if before)."""
    latest = 0.0
    for envelope_id in envelope_ids:
        rows = stored.get(envelope_id)
        if not rows:
            return None
        latest = max(latest, min(r.stored_at for r in rows))
    return max(0.0, latest - moment)


def longest_stall(
    stored: dict[uuid.UUID, list[StoredRow]], start: float, end: float, partitions: set[int] | None = None
) -> float | None:
    """The longest time without any row written (on ``partitions``) overlapping [start, end]."""
    times = sorted(
        {
            row.stored_at
            for rows in stored.values()
            for row in rows
            if partitions is None or row.partition in partitions
        }
    )
    if not times:
        return None
    longest = 0.0
    for before, after in itertools.pairwise(times):
        if after >= start and before <= end:
            longest = max(longest, after - before)
    return longest


__all__ = [
    "LogRecord",
    "Reconciliation",
    "StoredRow",
    "caught_up_after",
    "first_row_after",
    "longest_stall",
    "read_event_store",
    "read_topic",
    "reconcile",
]
