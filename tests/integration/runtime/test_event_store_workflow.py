"""Workflow 1 end to end: Kafka → the running service → onex_event_store, exactly once."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from service_harness import (
    ServiceProcess,
    ServiceTopics,
    committed_offsets,
    encode,
    make_envelope,
    produce,
    reset_group_offsets,
)

N = 10_000


async def wait_for_rows(db: asyncpg.Connection, expect: int, within: float = 120.0) -> int:
    deadline = time.monotonic() + within
    count = 0
    while time.monotonic() < deadline:
        count = int(await db.fetchval("SELECT count(*) FROM onex_event_store"))
        if count >= expect:
            return count
        await asyncio.sleep(0.25)
    return count


async def test_ten_thousand_envelopes_stored_once_with_coordinates_even_after_offset_reset(
    service: ServiceProcess, service_topics: ServiceTopics, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    envelopes = [make_envelope({"n": i}, event_type="test.counted") for i in range(N)]
    await produce(kafka_bootstrap, service_topics.store, [encode(e) for e in envelopes], partitions=3)

    service.start()
    await service.wait_ready()
    assert await wait_for_rows(db, N) == N
    group = service.env["KAFKA_CONSUMER_GROUP"]
    # The service commits after the database transaction: wait for the last commit.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        committed = await committed_offsets(kafka_bootstrap, group, service_topics.store, 3)
        if sum(v or 0 for v in committed.values()) == N:
            break
        await asyncio.sleep(0.25)
    code, _ = service.stop()
    assert code == 0, service.log_tail()

    rows = await db.fetch('SELECT envelope_id, topic, "partition", "offset", payload FROM onex_event_store')
    assert len(rows) == N
    by_id = {row["envelope_id"]: row for row in rows}
    per_partition: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for i, envelope in enumerate(envelopes):
        row = by_id[envelope.envelope_id]
        assert row["topic"] == service_topics.store
        assert row["partition"] == i % 3
        per_partition[row["partition"]].append(row["offset"])
    for offsets in per_partition.values():
        assert sorted(offsets) == list(range(len(offsets)))

    await reset_group_offsets(kafka_bootstrap, group, service_topics.store, 3)
    service.start()
    await service.wait_ready()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        committed = await committed_offsets(kafka_bootstrap, group, service_topics.store, 3)
        if sum(v or 0 for v in committed.values()) == N:
            break
        await asyncio.sleep(0.25)
    assert sum(v or 0 for v in committed.values()) == N, "the rerun did not re-consume the topic"
    assert await service.metric("omnibase_event_store_duplicates_total") == N
    code, _ = service.stop()
    assert code == 0
    assert await db.fetchval("SELECT count(*) FROM onex_event_store") == N
    assert "were already stored (a redelivery or a replay)" in service.log_text()
