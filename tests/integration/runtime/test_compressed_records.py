"""Compressed records: stored whatever codec their producer chose; published with the contract's codec."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import asyncpg
from service_harness import (
    ServiceProcess,
    ServiceTopics,
    consume_all,
    encode,
    make_envelope,
    produce,
    stored_batch_codecs,
)

from omnibase_infra.contract_validation.loader import load_contract_set
from omnibase_infra.environment import EnumEnvironment

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 40


async def _rows(db: asyncpg.Connection, expect: int, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    count = 0
    while time.monotonic() < deadline:
        count = int(await db.fetchval("SELECT count(*) FROM onex_event_store"))
        if count >= expect:
            return count
        await asyncio.sleep(0.25)
    return count


async def test_envelopes_compressed_with_every_codec_are_stored(
    service: ServiceProcess, service_topics: ServiceTopics, db: asyncpg.Connection, kafka_bootstrap: str
) -> None:
    sent: dict[str, list[str]] = {}
    for codec in CODECS:
        envelopes = [make_envelope({"codec": codec, "n": i}) for i in range(PER_CODEC)]
        await produce(
            kafka_bootstrap,
            service_topics.store,
            [encode(e) for e in envelopes],
            partitions=3,
            compression_type=codec,
        )
        sent[codec] = [str(e.envelope_id) for e in envelopes]
    # The broker holds what the producers wrote: batches of each codec, none uncompressed.
    held = Counter(await stored_batch_codecs(kafka_bootstrap, service_topics.store))
    assert set(held) == set(CODECS), held

    service.start()
    await service.wait_ready()
    assert await _rows(db, len(CODECS) * PER_CODEC) == len(CODECS) * PER_CODEC, service.log_tail()
    rows = await db.fetch("SELECT envelope_id::text AS id, payload FROM onex_event_store")
    stored = {row["id"]: json.loads(row["payload"]) for row in rows}
    for codec, ids in sent.items():
        assert [stored[i]["codec"] for i in ids] == [codec] * PER_CODEC
    assert await service.metric("omnibase_dlq_records_total") in (None, 0.0)
    code, _ = service.stop()
    assert code == 0, service.log_tail()


async def test_a_production_service_publishes_with_the_production_codec(
    service: ServiceProcess, service_topics: ServiceTopics, kafka_bootstrap: str
) -> None:
    production = load_contract_set().node("kafka_adapter").kafka_producer(EnumEnvironment.PRODUCTION)
    assert production.compression_type == "snappy"  # the original guide's production codec
    service.env["ENVIRONMENT"] = "production"
    command = make_envelope(
        {"operation": "list_events_by_type", "parameters": {"event_type": "none.such"}},
        event_type="onex.postgres.operation.requested",
    )
    await produce(kafka_bootstrap, service_topics.command, [encode(command)], partitions=1)
    await produce(kafka_bootstrap, service_topics.store, [b"not json"], partitions=1)

    service.start()
    await service.wait_ready()
    (reply,) = await consume_all(kafka_bootstrap, service_topics.completed, expect=1, within=45)
    assert json.loads(reply.value)["parent_envelope_id"] == str(command.envelope_id)  # type: ignore[attr-defined]
    (dead,) = await consume_all(kafka_bootstrap, f"{service_topics.store}.dlq", expect=1, within=45)
    assert dict(dead.headers)["onex.dlq.stage"] == b"decode"  # type: ignore[attr-defined]
    code, _ = service.stop()
    assert code == 0, service.log_tail()

    # Read back as the broker stores them: every batch the service wrote carries the codec.
    for topic in (service_topics.completed, f"{service_topics.store}.dlq"):
        codecs = await stored_batch_codecs(kafka_bootstrap, topic)
        assert codecs and set(codecs) == {production.compression_type}, (topic, codecs)
