"""Commands and outbox rows streamed beside the envelopes, and their delivery checks.

- Commands (``enqueue_outbox_event``) must be applied exactly once: one outbox row per
  command and one inbox row per command, however often the command was redelivered;
  every command gets a reply (a redelivered command may be answered twice, with the same
  reply id).
- Outbox rows must all reach ``published`` and each must be on its topic at least once;
  copies beyond the first are the relay's at-least-once duplicates and are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from pydantic import JsonValue

from fault_injection.ledger import LogRecord, read_topic
from fault_injection.results import ScenarioResult
from fault_injection.servers import FaultServers
from fault_injection.stream import EnvelopeStream

OUTBOX_KEYS = 8


def command_payload(target_topic: str) -> Callable[[int], dict[str, JsonValue]]:
    def payload(seq: int) -> dict[str, JsonValue]:
        return {
            "operation": "enqueue_outbox_event",
            "parameters": {
                "topic": target_topic,
                "key": f"cmd-key-{seq % OUTBOX_KEYS}",
                "payload": f"cmd:{seq}",
            },
        }

    return payload


async def insert_outbox_rows(
    servers: FaultServers, schema: str, topic: str, *, rate: float, stop: asyncio.Event
) -> list[str]:
    """Insert keyed rows into ``onex_outbox`` at ``rate``/s until ``stop``; return their payloads.

    Inserts go on while PostgreSQL or the broker is down (a failed insert is retried), so the
    relay always has work during a fault.
    """
    inserted: list[str] = []
    conn = None
    started = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - started) * rate) + 1
        while len(inserted) < due and not stop.is_set():
            n = len(inserted)
            payload = f"outbox:{n}"
            try:
                if conn is None or conn.is_closed():
                    conn = await servers.connect(schema, within=120)
                await conn.execute(
                    "INSERT INTO onex_outbox (topic, key, payload) VALUES ($1, $2, $3)",
                    topic,
                    f"key-{n % OUTBOX_KEYS}".encode(),
                    payload.encode(),
                )
                inserted.append(payload)
            except Exception:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                conn = None
                await asyncio.sleep(0.2)
                break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    if conn is not None:
        await conn.close()
    return inserted


async def wait_outbox_published(servers: FaultServers, schema: str, within: float) -> dict[str, int]:
    """Wait until no outbox row is pending; return the count per status."""
    deadline = time.monotonic() + within
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        conn = await servers.connect(schema)
        try:
            rows = await conn.fetch("SELECT status, count(*) AS n FROM onex_outbox GROUP BY status")
        finally:
            await conn.close()
        counts = {r["status"]: int(r["n"]) for r in rows}
        if counts.get("pending", 0) == 0:
            return counts
        await asyncio.sleep(0.5)
    return counts


async def check_outbox_delivery(
    servers: FaultServers,
    result: ScenarioResult,
    schema: str,
    topic: str,
    payloads: list[str],
    *,
    label: str,
    within: float = 180.0,
) -> None:
    """Every row in ``payloads`` published, on ``topic`` at least once, in order per key."""
    counts = await wait_outbox_published(servers, schema, within)
    result.figures["outbox_status"] = counts
    result.check(
        "outbox: no row left pending or dead-lettered",
        counts.get("pending", 0) == 0 and counts.get("dead_letter", 0) == 0,
        json.dumps(counts),
    )
    records = await read_topic(servers.bootstrap, topic)
    seen = Counter((r.value or b"").decode("utf-8", "replace") for r in records)
    missing = [p for p in payloads if seen[p] == 0]
    duplicates = sum(seen[p] - 1 for p in payloads if seen[p] > 1)
    result.figures[f"{label}_rows"] = len(payloads)
    result.figures[f"{label}_published_duplicates"] = duplicates
    result.check(
        f"{label}: every row published (at least once)",
        not missing,
        f"{len(payloads)} rows, {len(missing)} missing, {duplicates} duplicate copies"
        + (f", e.g. {missing[:3]}" if missing else ""),
    )
    order_broken = _first_copies_out_of_order(records)
    result.check(f"{label}: order kept per key", not order_broken, "; ".join(order_broken[:3]))


def _first_copies_out_of_order(records: list[LogRecord]) -> list[str]:
    by_key: dict[bytes | None, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for record in records:
        value = (record.value or b"").decode("utf-8", "replace")
        if value in seen or ":" not in value:
            continue
        seen.add(value)
        with contextlib.suppress(ValueError):
            by_key[record.key].append(int(value.rsplit(":", 1)[1]))
    problems = []
    for key, numbers in by_key.items():
        if numbers != sorted(numbers):
            problems.append(f"key {key!r}: {numbers[:10]}...")
    return problems


async def check_commands(
    servers: FaultServers,
    result: ScenarioResult,
    schema: str,
    commands: EnvelopeStream,
    completed_topic: str,
    target_topic: str,
) -> None:
    """Each command applied exactly once (outbox + inbox rows) and answered at least once."""
    conn = await servers.connect(schema)
    try:
        rows = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8') AS payload FROM onex_outbox WHERE topic = $1", target_topic
        )
        inbox = await conn.fetchval("SELECT count(*) FROM onex_inbox")
    finally:
        await conn.close()
    applied = Counter(r["payload"] for r in rows)
    expected = [f"cmd:{seq}" for seq in range(len(commands.records))]
    twice = sum(1 for p in expected if applied[p] > 1)
    never = sum(1 for p in expected if applied[p] == 0)
    result.figures["commands"] = len(expected)
    result.check(
        "commands: each applied exactly once (inbox)",
        twice == 0 and never == 0 and inbox == len(expected),
        f"{len(expected)} commands, {twice} applied twice, {never} never applied, {inbox} inbox rows",
    )
    replies = await read_topic(servers.bootstrap, completed_topic)
    answered: Counter[str] = Counter()
    for record in replies:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            answered[json.loads(record.value or b"{}")["parent_envelope_id"]] += 1
    unanswered = sum(1 for r in commands.records if answered[str(r.envelope_id)] == 0)
    repeated = sum(n - 1 for n in answered.values() if n > 1)
    result.figures["command_replies_repeated"] = repeated
    result.check(
        "commands: every command answered",
        unanswered == 0,
        f"{unanswered} unanswered, {repeated} replies re-sent for redelivered commands",
    )
    await check_outbox_delivery(servers, result, schema, target_topic, expected, label="command outbox")


__all__ = [
    "check_commands",
    "check_outbox_delivery",
    "command_payload",
    "insert_outbox_rows",
    "wait_outbox_published",
]
