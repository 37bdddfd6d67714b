"""Poison commands against the real service: answered once, kept in the inbox, never retried.

A command whose reply cannot be published (larger than the producer may send, larger than
the reply topic accepts, a result with no JSON form) or whose statement runs past its
timeout gets one typed failed reply; its offset is committed; the event store keeps
storing the events that arrive meanwhile; the consumer never pauses.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from service_harness import (
    ServiceProcess,
    ServiceTopics,
    committed_offsets,
    consume_all,
    encode,
    make_envelope,
    produce,
)

# Test-only operations (ONEX_CONTRACTS_PATH): a result with a bytea that is not UTF-8,
# and a statement that always outlives the command's statement timeout.
POISON_OPERATIONS = """\
kind: operations
target_node: postgres_adapter
operations:
  - name: read_binary_blob
    description: a bytea value that is not UTF-8 (it has no JSON form)
    read_only: true
    exposed: true
    returns: row
    sql: SELECT decode('fffe00', 'hex') AS blob
  - name: sleep_seconds
    description: a statement that runs for as long as it is told
    read_only: true
    exposed: true
    returns: row
    sql: SELECT pg_sleep($1::float8)::text AS slept
    parameters:
      - {name: seconds, schema: {type: number, minimum: 0}}
"""
REPLY_TOPIC_MAX_BYTES = 300_000  # below the producer's 1 MiB: the broker refuses what the producer sends


def stored_event(correlation: uuid.UUID, n: int) -> bytes:
    # ~1.5 KB of incompressible-looking text per event
    blob = "".join(uuid.uuid4().hex for _ in range(45))
    return encode(
        make_envelope({"n": n, "blob": blob}, event_type="test.poison.event", correlation_id=correlation)
    )


async def wait_for_count(db: asyncpg.Connection, query: str, expect: int, within: float = 90.0) -> int:
    deadline = time.monotonic() + within
    value = 0
    while time.monotonic() < deadline:
        value = int(await db.fetchval(query))
        if value >= expect:
            return value
        await asyncio.sleep(0.3)
    return value


async def test_poison_commands_are_answered_once_kept_in_the_inbox_and_the_event_store_goes_on(
    service: ServiceProcess,
    service_topics: ServiceTopics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    unique_topic: Callable[..., Awaitable[str]],
    tmp_path: Path,
) -> None:
    operations = tmp_path / "poison_operations.yaml"
    operations.write_text(POISON_OPERATIONS)
    completed = await unique_topic(1, configs={"max.message.bytes": str(REPLY_TOPIC_MAX_BYTES)})
    service.env.update(
        {
            "ONEX_CONTRACTS_PATH": str(operations),
            "ONEX_OPERATION_COMPLETED_TOPIC": completed,
            "POSTGRES_COMMAND_TIMEOUT": "3",  # a command's statement may run 2.7 s
        }
    )
    correlation = uuid.uuid4()
    await produce(kafka_bootstrap, service_topics.store, [stored_event(correlation, n) for n in range(1000)])
    service.start()
    await service.wait_ready()
    assert await wait_for_count(db, "SELECT count(*) FROM onex_event_store", 1000) == 1000

    too_large = make_envelope(
        {
            "operation": "list_events_by_correlation",
            "parameters": {"correlation_id": str(correlation), "limit": 1000},
        }
    )
    refused_by_broker = make_envelope(
        {
            "operation": "list_events_by_correlation",
            "parameters": {"correlation_id": str(correlation), "limit": 300},
        }
    )
    not_serialisable = make_envelope({"operation": "read_binary_blob", "parameters": {}})
    times_out = make_envelope({"operation": "sleep_seconds", "parameters": {"seconds": 60}})
    answered = make_envelope({"operation": "count_events_by_type", "parameters": {}})
    poison = [too_large, refused_by_broker, not_serialisable, times_out]
    later = uuid.uuid4()
    for index, request in enumerate([*poison, answered]):
        await produce(kafka_bootstrap, service_topics.command, [encode(request)])
        await produce(
            kafka_bootstrap, service_topics.store, [stored_event(later, index * 50 + n) for n in range(50)]
        )

    offsets = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        offsets = await committed_offsets(
            kafka_bootstrap, service.env["KAFKA_CONSUMER_GROUP"], service_topics.command, 1
        )
        if offsets[0] == 5:
            break
        await asyncio.sleep(0.5)
    assert offsets == {0: 5}, service.log_tail()
    assert await wait_for_count(db, "SELECT count(*) FROM onex_event_store", 1250) == 1250

    failed = await consume_all(kafka_bootstrap, service_topics.failed, expect=5, within=5)
    replies = [json.loads(r.value) for r in failed]  # type: ignore[attr-defined]
    by_request = {reply["parent_envelope_id"]: reply for reply in replies}
    assert len(replies) == len(by_request) == 4, replies  # one answer per command
    kinds = {request_id: reply["payload"]["error"]["kind"] for request_id, reply in by_request.items()}
    assert kinds == {
        str(too_large.envelope_id): "reply_too_large",
        str(refused_by_broker.envelope_id): "reply_too_large",
        str(not_serialisable.envelope_id): "result_not_serialisable",
        str(times_out.envelope_id): "timeout",
    }
    assert by_request[str(times_out.envelope_id)]["payload"]["error"]["sqlstate"] == "57014"
    # The producer's limit is checked before publishing; the topic's smaller one by the broker.
    assert "at most" in by_request[str(too_large.envelope_id)]["payload"]["error"]["message"]
    refused_message = by_request[str(refused_by_broker.envelope_id)]["payload"]["error"]["message"]
    assert "MessageSizeTooLargeError" in refused_message, refused_message
    assert all(len(r.value) < 4096 for r in failed)  # type: ignore[attr-defined]
    ok = await consume_all(kafka_bootstrap, completed, expect=1, within=30)
    assert [json.loads(r.value)["parent_envelope_id"] for r in ok] == [str(answered.envelope_id)]  # type: ignore[attr-defined]

    kept = {
        str(row["envelope_id"]): (row["reply_topic"], bytes(row["reply"]))
        for row in await db.fetch("SELECT envelope_id, reply_topic, reply FROM onex_inbox")
    }
    published = {json.loads(r.value)["parent_envelope_id"]: r.value for r in failed}  # type: ignore[attr-defined]
    assert kept == {request_id: (service_topics.failed, value) for request_id, value in published.items()}
    dlq = await consume_all(kafka_bootstrap, service_topics.command + ".dlq", expect=4, within=30)
    assert sorted(int(dict(r.headers)["onex.dlq.original.offset"]) for r in dlq) == [0, 1, 2, 3]  # type: ignore[attr-defined]
    assert {dict(r.headers)["onex.dlq.attempts"] for r in dlq} == {b"1"}  # type: ignore[attr-defined]

    log = service.log_text()
    assert "paused for" not in log and "partitions paused" not in log, log[-4000:]
    code, _ = service.stop()
    assert code == 0
