"""Poison records go to T.dlq with their coordinates; SIGTERM mid-stream loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import asyncpg
from service_harness import (
    ServiceProcess,
    ServiceTopics,
    consume_all,
    encode,
    make_envelope,
    produce,
)

from omnibase_infra.workflow.records import read_dlq_headers


async def count_rows(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM onex_event_store"))


async def wait_for_rows(db: asyncpg.Connection, expect: int, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    count = 0
    while time.monotonic() < deadline:
        count = await count_rows(db)
        if count >= expect:
            return count
        await asyncio.sleep(0.2)
    return count


async def test_mixed_stream_dead_letters_each_bad_record_and_stores_every_good_one(
    service: ServiceProcess, service_topics: ServiceTopics, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    good = [make_envelope({"i": i}) for i in range(30)]
    bad: list[bytes] = [
        b"\xff\xfe\x00 not utf-8",
        b"{ this is not json",
        json.dumps({"payload": {"x": 1}, "unexpected": True}).encode(),
        json.dumps({"no": "payload"}).encode(),
        encode(make_envelope({"text": "nul \u0000 inside"})),
    ]
    values: list[bytes] = []
    for i, envelope in enumerate(good):
        values.append(encode(envelope))
        if i % 6 == 0 and bad:
            values.append(bad.pop(0))
    values.extend(bad)
    # all on partition 0 so that the coordinates are predictable
    await produce(kafka_bootstrap, service_topics.store, values, partitions=1)
    service.start()
    await service.wait_ready()
    assert await wait_for_rows(db, len(good)) == len(good)

    dlq = await consume_all(kafka_bootstrap, service_topics.store + ".dlq", expect=5, within=30)
    assert len(dlq) == 5
    bad_offsets = {i for i, v in enumerate(values) if not any(v == encode(g) for g in good)}
    seen_offsets = set()
    for record in dlq:
        headers = read_dlq_headers(record.headers)  # type: ignore[attr-defined]
        assert headers["original.topic"] == service_topics.store
        assert headers["original.partition"] == "0"
        seen_offsets.add(int(headers["original.offset"]))
        assert headers["stage"] in ("decode", "validate", "store")
        assert headers["error.class"]
        assert headers["error.message"]
        assert record.value == values[int(headers["original.offset"])]  # type: ignore[attr-defined]
    assert seen_offsets == bad_offsets
    # the partition did not stall: a record produced after the poison is stored too
    late = make_envelope({"late": True})
    await produce(kafka_bootstrap, service_topics.store, [encode(late)], partitions=1)
    assert await wait_for_rows(db, len(good) + 1) == len(good) + 1
    code, _ = service.stop()
    assert code == 0


async def test_sigterm_mid_stream_exits_zero_and_restart_loses_and_duplicates_nothing(
    service: ServiceProcess, service_topics: ServiceTopics, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    total = 20_000
    envelopes = [make_envelope({"n": i}) for i in range(total)]
    service.start()
    await service.wait_ready()
    producer_task = asyncio.create_task(
        produce(kafka_bootstrap, service_topics.store, [encode(e) for e in envelopes], partitions=3)
    )
    # stop once some but not all rows are in
    deadline = time.monotonic() + 60
    while await count_rows(db) < 1000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    code, took = service.stop(signal.SIGTERM)
    assert code == 0, service.log_tail()
    assert took < 30
    await producer_task
    service.start()
    await service.wait_ready()
    assert await wait_for_rows(db, total, within=120) == total
    code, _ = service.stop()
    assert code == 0
    stored = {r["envelope_id"] for r in await db.fetch("SELECT envelope_id FROM onex_event_store")}
    assert stored == {e.envelope_id for e in envelopes}
