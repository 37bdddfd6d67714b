"""``onex-infra dlq list|replay`` against the real broker: written dead letters and a running service."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cli_helpers import closed_port, run_cli
from service_harness import ServiceProcess, ServiceTopics, produce

from omnibase_infra.workflow.records import VALUE_DROPPED_HEADER, DeadLetter, SourceRecord

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            described = await admin.describe_topics([name])
            parts = described[0]["partitions"] if not described[0]["error_code"] else []
            if len(parts) == partitions and all(p["leader"] >= 0 for p in parts):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name} has no leaders")
    finally:
        await admin.close()


async def topic_exists(bootstrap: str, name: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return name in await admin.list_topics()
    finally:
        await admin.close()


async def read_topic(bootstrap: str, topic: str, *, expect: int, within: float = 20.0) -> list[object]:
    """Every record of every partition from the beginning, waiting up to ``within`` for ``expect``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[object] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + within
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(*partitions, timeout_ms=300)
            for items in batch.values():
                records.extend(items)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))  # type: ignore[attr-defined]


async def write_dead_letters(bootstrap: str, source: str) -> None:
    """DLQ records as the service writes them, plus one whose origin is a DLQ and one foreign record."""
    letters = [
        DeadLetter(
            SourceRecord(source, 0, 10 + i, f"key-{i}".encode(), f"value-{i}".encode(), [("h", b"%d" % i)]),
            stage,
            "JSONDecodeError" if stage == "decode" else "ValidationError",
            f"problem {i}",
            1,
            WHEN,
        )
        for i, stage in enumerate(("decode", "decode", "validate"))
    ]
    letters.append(
        DeadLetter(SourceRecord(f"{source}.dlq", 0, 99, b"loop", b"loop", []), "decode", "X", "x", 1, WHEN)
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for letter in letters:
            await producer.send_and_wait(
                f"{source}.dlq",
                letter.record.value,
                key=letter.record.key,
                headers=letter.headers(),
                partition=0,
            )
        await producer.send_and_wait(f"{source}.dlq", b"foreign", partition=0)
    finally:
        await producer.stop()


async def test_list_then_replay_to_the_original_topic(
    cli_env: dict[str, str], kafka_bootstrap: str, unique_topic: Callable[..., Awaitable[str]]
) -> None:
    source = await unique_topic(1)
    await create_topic(kafka_bootstrap, f"{source}.dlq")
    await write_dead_letters(kafka_bootstrap, source)

    listed = await run_cli("dlq", "list", source, env=cli_env)
    assert listed.code == 0, listed.text
    lines = listed.out.splitlines()
    assert lines[0] == f"{source}.dlq: 5 record(s) in 1 partition"
    assert lines[2].split()[:4] == ["0", "0", f"{source}/0@10", "decode"]
    assert lines[2].endswith("JSONDecodeError: problem 0")
    as_json = json.loads(
        (await run_cli("dlq", "list", f"{source}.dlq", "--json", "--limit", "2", env=cli_env)).out
    )
    assert as_json["total"] == 5 and len(as_json["records"]) == 2
    assert as_json["records"][1]["original_offset"] == 11
    assert as_json["records"][1]["headers"] == ["h"]

    dry = await run_cli("dlq", "replay", source, "--offsets", "0-1", "--dry-run", env=cli_env)
    assert dry.code == 0, dry.text
    assert f"would replay 0:0 -> {source} (7 bytes)" in dry.out
    assert await read_topic(kafka_bootstrap, source, expect=1, within=2) == []

    staged = await run_cli("dlq", "replay", source, "--offsets", "0-2", "--stage", "decode", env=cli_env)
    assert staged.code == 0, staged.text
    assert f"replayed 2, skipped 1 (1 filtered by --stage, 0 refused) from {source}.dlq" in staged.out
    replayed = await read_topic(kafka_bootstrap, source, expect=2)
    assert [(r.key, r.value, list(r.headers)) for r in replayed] == [  # type: ignore[attr-defined]
        (b"key-0", b"value-0", [("h", b"0"), ("onex.dlq.attempts", b"1")]),
        (b"key-1", b"value-1", [("h", b"1"), ("onex.dlq.attempts", b"1")]),
    ]

    everything = await run_cli("dlq", "replay", source, "--all", "--json", env=cli_env)
    assert everything.code == 1  # two records refused
    report = json.loads(everything.out)
    assert (report["replayed"], report["refused"], report["failed"]) == (3, 2, 0)
    reasons = [r["reason"] for r in report["records"] if r["outcome"] == "refused"]
    assert "refusing to replay onto a DLQ" in reasons[0]
    assert "no onex.dlq.original.topic header" in reasons[1]
    assert len(await read_topic(kafka_bootstrap, source, expect=5)) == 5
    assert (
        len(await read_topic(kafka_bootstrap, f"{source}.dlq", expect=6, within=2)) == 5
    )  # nothing new there
    assert not await topic_exists(kafka_bootstrap, f"{source}.dlq.dlq")

    missing = await run_cli("dlq", "replay", source, "--offsets", "9", env=cli_env)
    assert missing.code == 1
    assert f"no record at 0:9 in {source}.dlq" in missing.out


async def test_a_missing_dlq_topic_is_reported_not_created(
    cli_env: dict[str, str], kafka_bootstrap: str, unique_topic: Callable[..., Awaitable[str]]
) -> None:
    source = await unique_topic(1)
    listed = await run_cli("dlq", "list", source, env=cli_env)
    assert listed.code == 0, listed.text
    assert f"{source}.dlq does not exist" in listed.out
    replay = await run_cli("dlq", "replay", source, "--all", env=cli_env)
    assert replay.code == 1
    assert "there is nothing to replay" in replay.err
    assert not await topic_exists(kafka_bootstrap, f"{source}.dlq")


async def test_kafka_down_and_bad_selection_exit_codes(
    cli_env: dict[str, str], kafka_bootstrap: str, unique_topic: Callable[..., Awaitable[str]]
) -> None:
    down = await run_cli(
        "dlq", "list", "onex.evt.x.y.v1", "--timeout", "3",
        env={**cli_env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}"},
    )  # fmt: skip
    assert down.code == 1
    assert "cannot read onex.evt.x.y.v1.dlq" in down.err
    unset = await run_cli(
        "dlq", "list", "T", env={k: v for k, v in cli_env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    )
    assert unset.code == 3
    assert "KAFKA_BOOTSTRAP_SERVERS" in unset.err
    source = await unique_topic(1)
    await create_topic(kafka_bootstrap, f"{source}.dlq", partitions=2)
    bare = await run_cli("dlq", "replay", source, "--offsets", "1", env=cli_env)
    assert bare.code == 2
    assert "need --partition" in bare.err


async def test_poison_dead_lettered_by_the_service_is_replayed_to_its_topic(
    service: ServiceProcess, service_topics: ServiceTopics, kafka_bootstrap: str
) -> None:
    store = service_topics.store
    env = service.env
    await produce(kafka_bootstrap, store, [b"this is not json"], keys=[b"poison-key"])

    deadline = time.monotonic() + 45
    listing: dict[str, object] = {}
    while time.monotonic() < deadline:
        result = await run_cli("dlq", "list", store, "--json", env=env)
        listing = json.loads(result.out)
        if listing.get("total"):
            break
        await asyncio.sleep(0.5)
    [record] = listing["records"]  # type: ignore[misc]
    assert record["original_topic"] == store
    assert (record["original_offset"], record["stage"], record["error_class"]) == (
        0,
        "decode",
        "JSONDecodeError",
    )

    replay = await run_cli("dlq", "replay", store, "--all", env=env)
    assert replay.code == 0, replay.text
    assert f"replayed 1, skipped 0 (0 filtered by --stage, 0 refused) from {store}.dlq" in replay.out
    on_source = await read_topic(kafka_bootstrap, store, expect=2)
    assert [(r.key, r.value) for r in on_source] == [(b"poison-key", b"this is not json")] * 2  # type: ignore[attr-defined]
    # Still poison: the service dead-letters the replayed copy again, from its new offset.
    again = await read_topic(kafka_bootstrap, f"{store}.dlq", expect=2, within=45)
    assert len(again) == 2
    attempts = [dict(r.headers)["onex.dlq.attempts"] for r in again]  # type: ignore[attr-defined]
    assert attempts == [b"1", b"2"]  # the replayed copy failed a second time


async def test_replay_refuses_records_whose_value_was_dropped_and_replays_the_rest(
    cli_env: dict[str, str], kafka_bootstrap: str, unique_topic: Callable[..., Awaitable[str]]
) -> None:
    source = await unique_topic(1)
    await create_topic(kafka_bootstrap, f"{source}.dlq")
    kept = DeadLetter(SourceRecord(source, 0, 4, b"k", b"small", []), "decode", "X", "bad", 1, WHEN)
    dropped = DeadLetter(SourceRecord(source, 0, 5, b"k", b"", []), "decode", "X", "huge", 1, WHEN)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(f"{source}.dlq", b"small", key=b"k", headers=kept.headers(), partition=0)
        # As the DLQ writer writes a copy that did not fit: no value, the original's size.
        headers = [*dropped.headers(), (VALUE_DROPPED_HEADER, b"1048000")]
        await producer.send_and_wait(f"{source}.dlq", b"", key=b"k", headers=headers, partition=0)
    finally:
        await producer.stop()

    replay = await run_cli("dlq", "replay", source, "--all", "--json", env=cli_env)

    assert replay.code == 1, replay.text  # a record was refused
    report = json.loads(replay.out)
    assert (report["replayed"], report["refused"], report["failed"]) == (1, 1, 0)
    [refused] = [r for r in report["records"] if r["outcome"] == "refused"]
    assert refused["offset"] == 1
    assert "1048000 bytes" in refused["reason"] and f"{source}/0@5" in refused["reason"]
    replayed = await read_topic(kafka_bootstrap, source, expect=2, within=5)
    assert [r.value for r in replayed] == [b"small"]  # type: ignore[attr-defined]
