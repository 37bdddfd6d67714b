"""(7) Poison commands interleaved with the event stream: each answered once, nothing stalls.

While envelopes stream to the event-store topic, bursts of commands go to the command
topic at random moments. Each burst holds one command of each kind, shuffled:

- ``oversized``: ``list_events_by_correlation`` with ``limit`` 1000 over ~1.5 KB events
  (a reply of ~1.8 MB, larger than a Kafka record may be) → failed ``reply_too_large``;
- ``unserialisable``: a test-only operation selecting a ``bytea`` that is not UTF-8
  → failed ``result_not_serialisable``;
- ``timeout``: a test-only ``pg_sleep`` operation longer than the statement timeout
  (``POSTGRES_COMMAND_TIMEOUT`` 2 s, so 1.8 s) → failed ``timeout``;
- ``unknown``: an operation no contract declares → failed ``unknown_operation``;
- ``invalid``: parameters failing their schema → failed ``invalid_parameters``;
- ``valid``: ``count_events_by_type`` → completed.

Checked afterwards: every command has exactly one reply (by ``parent_envelope_id``) on
the right topic with the right error kind; every failing command is in the command DLQ
once with its coordinates; the failed replies of commands that reached PostgreSQL are kept
in ``onex_inbox``; the command topic is fully committed; the event store lost and
duplicated nothing (the shared reconciliation) and its longest write gap during a burst
stayed within the burst's statement timeouts plus a margin; the service log has no
retry-loop pause ("paused for", "partitions paused") and no breaker transition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from fault_injection.envelopes import encode_envelope
from fault_injection.ledger import longest_stall, read_event_store, read_topic
from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

logger = logging.getLogger("faults")

TITLE = "poison commands (oversized reply, unserialisable result, timeout, unknown, invalid) amid the stream"
COMMAND_TIMEOUT_SECONDS = 2.0
STALL_MARGIN_SECONDS = 10.0
BIG_EVENTS = 800  # of ~1.5 KB each: a reply of ~1.5 MB for limit 1000
# Test-only operations (ONEX_CONTRACTS_PATH).
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
# kind -> (reply topic role, error kind or None for completed, reaches PostgreSQL)
EXPECTED: dict[str, tuple[str, str | None, bool]] = {
    "oversized": ("failed", "reply_too_large", True),
    "unserialisable": ("failed", "result_not_serialisable", True),
    "timeout": ("failed", "timeout", True),
    "unknown": ("failed", "unknown_operation", False),
    "invalid": ("failed", "invalid_parameters", False),
    "valid": ("completed", None, True),
}
RETRY_LOOP_LINES = ("paused for", "partitions paused", "circuit breaker postgres", "circuit breaker kafka")


def command_payload(kind: str, correlation: uuid.UUID) -> dict[str, Any]:
    if kind == "oversized":
        return {
            "operation": "list_events_by_correlation",
            "parameters": {"correlation_id": str(correlation), "limit": 1000},
        }
    if kind == "unserialisable":
        return {"operation": "read_binary_blob", "parameters": {}}
    if kind == "timeout":
        return {"operation": "sleep_seconds", "parameters": {"seconds": 30}}
    if kind == "unknown":
        return {"operation": "drop_all_tables", "parameters": {}}
    if kind == "invalid":
        return {"operation": "list_events_by_correlation", "parameters": {"correlation_id": "x", "limit": 0}}
    return {"operation": "count_events_by_type", "parameters": {}}


async def send(bootstrap: str, topic: str, values: list[bytes]) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=4 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value) for value in values]
        return [(int(m.partition), int(m.offset)) for m in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


async def run_poison_commands(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("poison-commands", TITLE)
    operations = ctx.run_dir / "poison_operations.yaml"
    operations.write_text(POISON_OPERATIONS)
    env = {"ONEX_CONTRACTS_PATH": str(operations), "POSTGRES_COMMAND_TIMEOUT": str(COMMAND_TIMEOUT_SECONDS)}
    if ctx.quick:
        plan = StreamPlan(count=3_000, rate=300, partitions=3, service_env=env)
    else:
        plan = StreamPlan(count=20_000, rate=500, partitions=3, service_env=env)
    bursts = 2 if ctx.quick else 6
    correlation = uuid.uuid4()
    sent: list[tuple[uuid.UUID, str, int]] = []  # (envelope id, kind, offset on the command topic)

    async def prepare(run: StreamRun) -> None:
        # ~1.5 KB events of one correlation id, stored before the first burst (they are not
        # part of the stream's reconciliation, which checks the stream's own envelopes).
        big = [
            encode_envelope(
                uuid.uuid4(),
                "faults.poison.big",
                {"n": n, "blob": "".join(uuid.uuid4().hex for _ in range(45))},
                correlation_id=correlation,
            )
            for n in range(BIG_EVENTS)
        ]
        await send(ctx.servers.bootstrap, run.workspace.topics.store, big)
        conn = await ctx.servers.connect(run.workspace.schema)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                stored = await conn.fetchval(
                    "SELECT count(*) FROM onex_event_store WHERE correlation_id = $1", correlation
                )
                if stored >= BIG_EVENTS:
                    return
                await asyncio.sleep(0.3)
        finally:
            await conn.close()
        raise TimeoutError(f"the {BIG_EVENTS} large events were not stored within 120 s")

    async def inject(run: StreamRun) -> None:
        for moment in random_moments(ctx.rng, bursts):
            await run.stream.reached(moment)
            kinds = list(EXPECTED)
            ctx.rng.shuffle(kinds)
            ids = [uuid.uuid4() for _ in kinds]
            values = [
                encode_envelope(i, "onex.postgres.operation.requested", command_payload(k, correlation))
                for i, k in zip(ids, kinds, strict=True)
            ]
            started = time.time()
            at = await send(ctx.servers.bootstrap, run.workspace.topics.command, values)
            sent.extend((i, k, offset) for i, k, (_, offset) in zip(ids, kinds, at, strict=True))
            answered = await run.workspace.wait_lag_zero(120, run.workspace.topics.command)
            fault = FaultTiming("poison command burst", started, time.time(), detail=",".join(kinds))
            if answered is None:
                fault.detail += " (not committed within 120 s)"
            run.record(fault)

    async def verify(run: StreamRun) -> None:
        await _verify(ctx, run, result, sent)

    await run_streamed(ctx, result, plan, inject, prepare=prepare, verify=verify)
    return result


async def _verify(
    ctx: RunContext,
    run: StreamRun,
    result: ScenarioResult,
    sent: list[tuple[uuid.UUID, str, int]],
) -> None:
    servers, topics = ctx.servers, run.workspace.topics
    lag = await run.workspace.group_lag(topics.command)
    result.check("command topic fully committed", lag == 0, f"lag {lag}")
    replies: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for role, topic in (("completed", topics.completed), ("failed", topics.failed)):
        for record in await read_topic(servers.bootstrap, topic):
            document = json.loads(record.value or b"{}")
            replies[str(document.get("parent_envelope_id"))].append((role, document.get("payload", {})))
    wrong: list[str] = []
    for envelope_id, kind, _ in sent:
        answers = replies.get(str(envelope_id), [])
        role, error_kind, _ = EXPECTED[kind]
        if len(answers) != 1:
            wrong.append(f"{kind} {envelope_id}: {len(answers)} replies")
            continue
        got_role, payload = answers[0]
        got_kind = (payload.get("error") or {}).get("kind")
        if (got_role, got_kind) != (role, error_kind):
            wrong.append(f"{kind} {envelope_id}: {got_role} {got_kind} ({str(payload)[:160]})")
    result.figures["commands"] = len(sent)
    result.figures["replies"] = sum(len(replies.get(str(i), [])) for i, _, _ in sent)
    result.check("every command has exactly one reply of the right type", not wrong, "; ".join(wrong[:4]))

    failing = {offset: kind for _, kind, offset in sent if EXPECTED[kind][0] == "failed"}
    dead: dict[int, int] = defaultdict(int)
    for record in await read_topic(servers.bootstrap, topics.command + ".dlq"):
        headers = dict(record.headers)
        if headers.get("onex.dlq.original.topic", b"").decode() == topics.command:
            dead[int(headers.get("onex.dlq.original.offset", b"-1"))] += 1
    missing = sorted(set(failing) - set(dead))
    extra = sorted(o for o in dead if o not in failing or dead[o] > 1)
    result.figures["dead_letters"] = sum(dead.values())
    result.check(
        "every failing command dead-lettered once with its coordinates",
        not missing and not extra,
        f"missing {missing[:5]}, extra {extra[:5]}",
    )

    kept_expected = [i for i, kind, _ in sent if EXPECTED[kind][0] == "failed" and EXPECTED[kind][2]]
    conn = await servers.connect(run.workspace.schema)
    try:
        kept = await conn.fetchval(
            "SELECT count(*) FROM onex_inbox WHERE envelope_id = ANY($1::uuid[]) AND reply_topic = $2",
            kept_expected,
            topics.failed,
        )
        stored = await read_event_store(conn)
    finally:
        await conn.close()
    result.check(
        "failed replies of commands that reached PostgreSQL kept in the inbox",
        kept == len(kept_expected),
        f"{kept} of {len(kept_expected)}",
    )

    stalls = [longest_stall(stored, fault.started_at, fault.ended_at) or 0.0 for fault in result.faults]
    bound = COMMAND_TIMEOUT_SECONDS + STALL_MARGIN_SECONDS  # one timeout command per burst
    result.figures["longest_event_store_gap_during_a_burst_s"] = round(max(stalls, default=0.0), 2)
    result.figures["burst_answered_s"] = [round(f.duration_s, 2) for f in result.faults]
    result.check(
        f"event store kept writing during each burst (longest gap <= {bound:.0f} s)",
        all(stall <= bound for stall in stalls),
        str([round(s, 2) for s in stalls]),
    )
    retry_lines = [
        line
        for process in run.services
        for line in process.log_text().splitlines()
        if any(marker in line for marker in RETRY_LOOP_LINES)
    ]
    result.figures["retry_loop_log_lines"] = len(retry_lines)
    result.check(
        "no retry loop: no consumer pause and no breaker transition in the service log",
        not retry_lines,
        "; ".join(line[-200:] for line in retry_lines[:3]),
    )


__all__ = ["run_poison_commands"]
