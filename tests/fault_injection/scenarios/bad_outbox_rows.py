"""(7) Bad outbox rows among good ones, relayed by two service instances at once.

Rows of many keys are inserted into ``onex_outbox`` (three quarters as one backlog, the
rest in small transactions) while two instances relay them (``FOR UPDATE SKIP LOCKED`` plus a
per-key advisory lock). Some keys get one poison row at a random position: headers that
are a JSON object or not base64, a topic no contract declares, the service's own reply or
command topic, a record larger than the producer's ``max_request_size``, a declared topic
that does not exist. Rows without a key are mixed in, one of them bad. Expectations:

- every good row is published exactly once (the topic is read back and counted) and
  marked ``published``; both instances published some, and together the good rows
  (relay rounds of 10 rows, through a tuned orchestrator contract, keep both busy);
- every bad row ends in ``dead_letter`` after one attempt, its ``last_error`` naming
  what is wrong; nothing reaches the reply or command topic;
- per key, the good rows are in the log in insertion order, and the rows behind a
  dead-lettered row of their topic and key stay ``pending`` (never published, no
  attempt); a bad row on another topic (undeclared, reply, command, missing) holds
  nothing back, as order is per (topic, key).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from fault_injection.ledger import read_topic
from fault_injection.results import ScenarioResult
from fault_injection.streaming import RunContext
from fault_injection.workspace import Workspace
from omnibase_infra.contract_validation.discovery import NODES_ROOT

logger = logging.getLogger("faults")

TITLE = "bad outbox rows of every kind among good rows of many keys, two relays at once"
TOO_LARGE = 1_100_000  # above the producer's max_request_size (1 MiB) in every environment


@dataclass(frozen=True)
class Row:
    """One row to insert; ``fate`` is what must become of it."""

    topic: str
    key: bytes | None
    payload: bytes
    headers: str
    fate: str  # "publish", "dead_letter" or "held"
    reason: str = ""  # the start of the expected last_error of a dead_letter row

    @property
    def label(self) -> str:
        return self.payload[:40].decode("utf-8", "replace")


def _bad_kinds(workspace: Workspace, missing: str) -> dict[str, tuple[str, str, bytes | None, str]]:
    """kind -> (topic, headers, payload or None for the usual one, expected last_error start)."""
    target, topics = workspace.outbox_topic, workspace.topics
    return {
        "headers-object": (
            target,
            '{"traceparent": "00-abc"}',
            None,
            "outbox: MalformedHeaders: headers must be a JSON array",
        ),
        "headers-base64": (
            target,
            '[["traceparent", "not base64!"]]',
            None,
            "outbox: MalformedHeaders: headers[0] (traceparent): the value is not base64",
        ),
        "undeclared-topic": (
            f"onex.evt.faults-undeclared.{workspace.group[-8:]}.v1",
            "[]",
            None,
            "acl: TopicNotAllowed: topic onex.evt.faults-undeclared.",
        ),
        "reply-topic": (topics.completed, "[]", None, f"acl: TopicNotAllowed: topic {topics.completed} "),
        "command-topic": (topics.command, "[]", None, f"acl: TopicNotAllowed: topic {topics.command} "),
        "too-large": (target, "[]", os.urandom(TOO_LARGE), "kafka_send: "),
        "missing-topic": (missing, "[]", None, f"outbox: UnknownTopic: topic {missing} does not exist"),
    }


def plan_rows(ctx: RunContext, workspace: Workspace, missing: str) -> list[Row]:
    """Keyed chains (some with one bad row) interleaved at random, keeping each key's order."""
    keys, per_key, bad_per_kind = (60, 25, 2) if ctx.quick else (200, 50, 5)
    kinds = _bad_kinds(workspace, missing)
    bad_keys = dict(enumerate(kind for kind in kinds for _ in range(bad_per_kind)))
    chains: list[list[Row]] = []
    for k in range(keys):
        key = f"key-{k}".encode()
        bad_at = ctx.rng.randrange(per_key) if k in bad_keys else per_key
        # Order is per (topic, key): a bad row holds back only the rows of its own topic.
        holds = k in bad_keys and kinds[bad_keys[k]][0] == workspace.outbox_topic
        chain = []
        for n in range(per_key):
            payload = f"key-{k}:{n}".encode()
            if n == bad_at:
                topic, headers, body, reason = kinds[bad_keys[k]]
                chain.append(Row(topic, key, body or payload, headers, "dead_letter", reason))
            else:
                fate = "held" if holds and n > bad_at else "publish"
                chain.append(Row(workspace.outbox_topic, key, payload, "[]", fate))
        chains.append(chain)
    loose = [
        Row(workspace.outbox_topic, None, f"nokey:{n}".encode(), "[]", "publish") for n in range(per_key)
    ]
    loose.insert(
        per_key // 2,
        Row(workspace.outbox_topic, None, b"nokey:bad", "{}", "dead_letter", "outbox: MalformedHeaders: "),
    )
    chains.append(loose)
    rows: list[Row] = []
    while chains:
        chain = ctx.rng.choice(chains)
        rows.append(chain.pop(0))
        if not chain:
            chains.remove(chain)
    return rows


async def insert_rows(
    ctx: RunContext, workspace: Workspace, rows: list[Row], chunk: int = 50
) -> dict[int, Row]:
    """Insert ``rows`` in order while the relays run; id -> row.

    Three quarters go in one transaction, committed while both relays idle: a backlog
    longer than one idle interval to drain, so both relays claim from it at once. The
    rest trickles in, ``chunk`` rows per transaction.
    """
    by_id: dict[int, Row] = {}
    backlog = len(rows) * 3 // 4
    bounds = [(0, backlog)] + [(s, min(s + chunk, len(rows))) for s in range(backlog, len(rows), chunk)]
    conn = await ctx.servers.connect(workspace.schema)
    try:
        for start, end in bounds:
            async with conn.transaction():
                for row in rows[start:end]:
                    row_id = await conn.fetchval(
                        "INSERT INTO onex_outbox (topic, key, payload, headers) "
                        "VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
                        row.topic,
                        row.key,
                        row.payload,
                        row.headers,
                    )
                    by_id[int(row_id)] = row
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return by_id


async def wait_settled(
    ctx: RunContext, workspace: Workspace, expect: Counter[str], within: float
) -> Counter[str]:
    """Rows per status once they equal ``expect`` (or after ``within`` seconds)."""
    deadline = time.monotonic() + within
    counts: Counter[str] = Counter()
    while time.monotonic() < deadline:
        conn = await ctx.servers.connect(workspace.schema)
        try:
            rows = await conn.fetch("SELECT status, count(*) AS n FROM onex_outbox GROUP BY status")
        finally:
            await conn.close()
        counts = Counter({r["status"]: int(r["n"]) for r in rows})
        if counts == expect:
            break
        await asyncio.sleep(0.5)
    return counts


async def relayed_by(url: str) -> float:
    """``omnibase_messages_processed_total{workflow="outbox_relay"}`` of one instance."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("omnibase_messages_processed_total{") and 'workflow="outbox_relay"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def small_relay_rounds(ctx: RunContext, workspace: Workspace) -> Path:
    """The shipped orchestrator contract with 10 rows per relay round in every environment.

    With the shipped 50 to 500, one relay can drain the whole backlog within the other's idle
    interval; 10 keeps both relays claiming at once for the whole run, so ``SKIP LOCKED``
    and the per-key locks are really contended.
    """
    shipped = NODES_ROOT / "infrastructure_orchestrator" / "v1_0_0" / "contract.yaml"
    tuned = re.sub(r"outbox_batch_size: \d+", "outbox_batch_size: 10", shipped.read_text(encoding="utf-8"))
    path = ctx.run_dir / f"{workspace.schema}-orchestrator.yaml"
    path.write_text(tuned, encoding="utf-8")
    return path


async def run_bad_outbox_rows(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("bad-outbox-rows", TITLE)
    started = time.monotonic()
    workspace = Workspace(ctx.servers, result.name, ctx.run_dir, partitions=3, environment=ctx.environment)
    missing = f"onex.evt.{result.name}-missing.{workspace.group[-8:]}.v1"  # declared, never created
    workspace.relay_topics.append(missing)
    workspace.extra_env["ONEX_CONTRACTS_PATH"] = str(small_relay_rounds(ctx, workspace))
    try:
        await workspace.create()
        await workspace.create_topic(workspace.outbox_topic, 3)
        services = [workspace.new_service(), workspace.new_service()]
        for process in services:
            process.start()
        for process in services:
            await process.wait_ready(within=120)
        rows = plan_rows(ctx, workspace, missing)
        fates = Counter(r.fate for r in rows)
        logger.info(
            "  inserting %d outbox rows (%d bad, %d behind a bad row) under two relays",
            len(rows),
            fates["dead_letter"],
            fates["held"],
        )
        by_id = await insert_rows(ctx, workspace, rows)
        expect = Counter(
            {"published": fates["publish"], "dead_letter": fates["dead_letter"], "pending": fates["held"]}
        )
        counts = await wait_settled(ctx, workspace, expect, within=120)
        result.events = len(rows)
        result.figures.update(
            rows=len(rows),
            good_rows=fates["publish"],
            bad_rows=fates["dead_letter"],
            held_rows=fates["held"],
            outbox_status=dict(counts),
            settled_s=round(time.monotonic() - started, 1),
        )
        result.check(
            "rows settle: good published, bad dead_letter, held pending", counts == expect, f"{dict(counts)}"
        )
        await _verify_rows(ctx, result, workspace, by_id)
        await _verify_topics(ctx, result, workspace, rows)
        relayed = [await relayed_by(f"http://127.0.0.1:{p.metrics_port}/metrics") for p in services]
        result.figures["published_per_instance"] = relayed
        result.check(
            "both relays published, together each good row once",
            all(n > 0 for n in relayed) and sum(relayed) == fates["publish"],
            f"{relayed} per instance, {fates['publish']} good rows",
        )
        for process in services:
            codes = await workspace.wait_healthy(process)
            result.check(f"{process.log_path.name}: /health and /ready 200", codes == (200, 200), str(codes))
        exits = await asyncio.to_thread(workspace.stop_all)
        result.check("SIGTERM: every instance exits 0", exits == [0, 0], str(exits))
    except Exception as exc:
        import traceback

        result.error = f"{type(exc).__name__}: {exc}"
        logger.error("  scenario %s failed:\n%s", result.name, traceback.format_exc())
    finally:
        workspace.kill_all()
        if not ctx.keep_data:
            try:
                await workspace.drop()
            except Exception as exc:
                logger.warning("  cleanup of %s failed: %s", workspace.schema, exc)
        result.duration_s = time.monotonic() - started
    return result


async def _verify_rows(
    ctx: RunContext, result: ScenarioResult, workspace: Workspace, by_id: dict[int, Row]
) -> None:
    conn = await ctx.servers.connect(workspace.schema)
    try:
        stored = await conn.fetch("SELECT id, status, attempts, last_error, published_at FROM onex_outbox")
    finally:
        await conn.close()
    wrong: list[str] = []
    for record in stored:
        row = by_id[int(record["id"])]
        status, attempts, error = record["status"], int(record["attempts"]), record["last_error"] or ""
        if row.fate == "publish" and (status != "published" or record["published_at"] is None or attempts):
            wrong.append(f"{row.label}: {status}, {attempts} attempts ({error[:80]})")
        elif row.fate == "held" and (status != "pending" or attempts or error):
            wrong.append(f"{row.label} behind a bad row: {status}, {attempts} attempts")
        elif row.fate == "dead_letter" and (
            status != "dead_letter" or attempts != 1 or not error.startswith(row.reason)
        ):
            wrong.append(f"bad {row.label}: {status}, {attempts} attempts, last_error {error[:120]!r}")
    result.examples["outbox rows in the wrong state"] = wrong[:10]
    result.check("every row in the state its kind calls for", not wrong, f"{len(wrong)} wrong")
    reasons = sorted({r["last_error"].split(":")[1].strip() for r in stored if r["last_error"]})
    result.figures["dead_letter_reasons"] = reasons


async def _verify_topics(
    ctx: RunContext, result: ScenarioResult, workspace: Workspace, rows: list[Row]
) -> None:
    log = await read_topic(ctx.servers.bootstrap, workspace.outbox_topic)
    copies = Counter(r.value for r in log)
    good = [r.payload for r in rows if r.fate == "publish"]
    missing = sum(1 for p in good if copies[p] == 0)
    twice = sum(copies[p] - 1 for p in good if copies[p] > 1)
    leaked = [p[:40].decode("utf-8", "replace") for p in copies if p not in set(good)]
    result.figures["published_duplicates"] = twice
    result.check(
        "every good row on its topic exactly once",
        missing == 0 and twice == 0,
        f"{len(good)} good rows, {missing} missing, {twice} extra copies",
    )
    result.examples["published rows that should not be"] = leaked[:10]
    result.check("no bad or held row published", not leaked, f"{len(leaked)} published")
    order: dict[bytes | None, list[int]] = defaultdict(list)
    for record in sorted(log, key=lambda r: (r.partition, r.offset)):
        if record.key is not None and record.value is not None:
            order[record.key].append(int(record.value.rsplit(b":", 1)[1]))
    broken = [f"{k!r}: {v[:10]}" for k, v in order.items() if v != sorted(v)]
    result.check("order kept per key", not broken, "; ".join(broken[:3]))
    for name, topic in (("reply", workspace.topics.completed), ("command", workspace.topics.command)):
        forged = await read_topic(ctx.servers.bootstrap, topic, within=10)
        result.check(f"nothing relayed to the {name} topic", not forged, f"{len(forged)} records")


__all__ = ["run_bad_outbox_rows"]
