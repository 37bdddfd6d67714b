"""(6) A hostile stream: every poison record dead-lettered with its coordinates, nothing else hurt.

Good envelopes are interleaved with hand-written and hypothesis-generated hostile records
on the event-store topic, and with hostile commands (injection strings, unknown and
spoofed operation names, wrong types) on the command topic. Checked afterwards:

- each record took the path the specification gives it (see ``hostile_records``): poison
  in ``T.dlq`` with ``onex.dlq.original.topic/partition/offset`` naming it, its value and
  headers kept, and never in the event store; good envelopes stored with their payload
  intact; valid commands answered ``completed``;
- injection strings came back only as data (outbox rows, published records, replies);
- the database's tables, roles and functions are unchanged, and the service's own rows
  changed only by the intended effects;
- every statement PostgreSQL logged for the service during the hostile stream is one it
  also sent for ordinary traffic, a contract operation, or transaction control;
- the service drained both topics and answers ``/health`` and ``/ready`` with 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import yaml
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from fault_injection.hostile_records import (
    INJECTIONS,
    HostileRecord,
    generated_commands,
    generated_store_records,
    good_event,
    hand_written_commands,
    hand_written_store_records,
)
from fault_injection.ledger import LogRecord, read_topic
from fault_injection.outbox_checks import wait_outbox_published
from fault_injection.results import ScenarioResult
from fault_injection.servers import REPO_ROOT
from fault_injection.statement_log import declared_statements, normalise, outside, read_statements
from fault_injection.streaming import RunContext
from fault_injection.workspace import Workspace
from omnibase_infra.nodes.postgres_adapter.v1_0_0.operation_reads import pipelined_sql

logger = logging.getLogger("faults")

TITLE = (
    "hostile stream: random bytes, truncated/huge records, deep JSON, wrong types, NUL, bad UTF-8, injection"
)
CONTRACT = REPO_ROOT / "src/omnibase_infra/nodes/postgres_adapter/v1_0_0/contract.yaml"
LABEL_HEADER = "faults-label"
WRITE_OPERATIONS = ("enqueue_outbox_event", "requeue_dead_letter_outbox")
# Failed replies given after PostgreSQL answered (kept in onex_inbox); the others are refusals
# decided before any SQL.
KEPT_FAILURE_KINDS = frozenset(
    {
        "sql_error",
        "timeout",
        "result_not_serialisable",
        "reply_too_large",
        "reply_rejected",
        "inbox_write_failed",
    }
)
Coordinates = tuple[str, int, int]


def _contract_document_operations() -> list[dict[str, Any]]:
    operations: list[dict[str, Any]] = yaml.safe_load(CONTRACT.read_text())["operations"]
    return operations


def contract_operations() -> dict[str, str]:
    return {op["name"]: normalise(op["sql"]) for op in _contract_document_operations()}


@dataclass(frozen=True)
class _ContractOperation:
    """A contract operation as ``pipelined_sql`` reads it (``ProtocolOperation``)."""

    name: str
    sql: str
    read_only: bool
    parameter_names: tuple[str, ...]
    relay_topic_parameters: tuple[str, ...] = ()


def pipelined_operations() -> set[str]:
    """The read operations' statements as a pipelined read sends them (``pipelined_sql``): part
    of the service's repertoire whenever two commands of one operation share a round trip."""
    pipelined: set[str] = set()
    for op in _contract_document_operations():
        names = tuple(p["name"] for p in op.get("parameters") or ())
        operation = _ContractOperation(op["name"], op["sql"], bool(op.get("read_only")), names)
        sql = pipelined_sql(operation) if operation.read_only else None
        if sql is not None:
            pipelined.add(normalise(sql))
    return pipelined


async def send_all(
    bootstrap: str, topic: str, records: list[HostileRecord], partitions: int
) -> list[Coordinates]:
    """Send ``records`` in order (round-robin over ``partitions``); their acknowledged coordinates."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        futures = []
        for i, record in enumerate(records):
            headers = [(LABEL_HEADER, record.label.encode("utf-8", "replace"))]
            futures.append(
                await producer.send(
                    topic, record.value, key=record.key, partition=i % partitions, headers=headers
                )
            )
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(topic, int(m.partition), int(m.offset)) for m in metas]


async def catalog(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Relations, roles and functions outside the system schemas."""
    relations = await conn.fetch(
        "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS r "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_t%' "
        "ORDER BY 1"
    )
    roles = await conn.fetch(
        "SELECT rolname || ':' || rolsuper::text || rolcreaterole::text || rolcreatedb::text "
        "|| rolcanlogin::text AS r FROM pg_roles ORDER BY 1"
    )
    functions = await conn.fetch(
        "SELECT n.nspname || '.' || p.proname AS r "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
    )
    return {
        "relations": [r["r"] for r in relations],
        "roles": [r["r"] for r in roles],
        "functions": [r["r"] for r in functions],
    }


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    )
    return {
        t["tablename"]: int(await conn.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"')) for t in tables
    }


def dlq_index(records: list[LogRecord]) -> dict[Coordinates, LogRecord]:
    index: dict[Coordinates, LogRecord] = {}
    for record in records:
        headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
        try:
            key = (
                headers["onex.dlq.original.topic"],
                int(headers["onex.dlq.original.partition"]),
                int(headers["onex.dlq.original.offset"]),
            )
        except (KeyError, ValueError):
            continue
        index[key] = record
    return index


def replies_by_request(records: list[LogRecord]) -> dict[str, list[dict[str, Any]]]:
    replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        try:
            document = json.loads(record.value or b"{}")
            replies[str(document["parent_envelope_id"])].append(document["payload"])
        except (ValueError, KeyError, TypeError):
            continue
    return replies


async def run_hostile(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("hostile", TITLE)
    started = time.monotonic()
    servers = ctx.servers
    workspace = Workspace(servers, "hostile", ctx.run_dir, partitions=3, environment=ctx.environment)
    role, database = os.environ["POSTGRES_USER"], os.environ["POSTGRES_DATABASE"]
    log_path = servers.postgres_log()
    try:
        await workspace.create()
        outbox_topic = await workspace.create_topic(workspace.outbox_topic, 1)
        servers.admin_sql(f'ALTER ROLE "{role}" IN DATABASE "{database}" SET log_statement = \'all\'')
        service = workspace.new_service()  # migrates
        conn = await servers.connect(workspace.schema)
        try:
            catalog_before = await catalog(conn)
        finally:
            await conn.close()
        warm_start = log_path.stat().st_size
        service.start()
        await service.wait_ready(within=120)

        # Warm-up: ordinary traffic, one command per operation and two plain poison records.
        warm = [good_event(i) for i in range(20)]
        await send_all(servers.bootstrap, workspace.topics.store, warm, 3)
        known = warm[0].envelope_id
        assert known is not None
        warm_poison = [HostileRecord("warm-up poison", "store", "dlq", b"not json")]
        await send_all(servers.bootstrap, workspace.topics.store, warm_poison, 3)
        operations = contract_operations()
        warm_commands = [
            r
            for r in hand_written_commands(outbox_topic, known, "faults.hostile.event")
            if r.label.startswith("valid")
        ]
        warm_commands += _one_command_per_operation(outbox_topic, known)
        await send_all(servers.bootstrap, workspace.topics.command, warm_commands, 1)
        for topic in (workspace.topics.store, workspace.topics.command):
            if await workspace.wait_lag_zero(120, topic) is None:
                raise TimeoutError(f"warm-up traffic on {topic} not consumed within 120 s")
        await wait_outbox_published(servers, workspace.schema, 60)
        conn = await servers.connect(workspace.schema)
        try:
            counts_before = await row_counts(conn)
        finally:
            await conn.close()
        hostile_start = log_path.stat().st_size

        # The hostile stream.
        generated = 60 if ctx.quick else 400
        goods = [good_event(1000 + i) for i in range(100 if ctx.quick else 1000)]
        store_records = hand_written_store_records() + generated_store_records(
            generated, ctx.rng.randrange(1 << 30)
        )
        store_records += goods
        ctx.rng.shuffle(store_records)
        commands = hand_written_commands(outbox_topic, known, "faults.hostile.event")
        commands += generated_commands(
            generated // 2, ctx.rng.randrange(1 << 30), outbox_topic, sorted(operations)
        )
        ctx.rng.shuffle(commands)
        logger.info(
            "  sending %d records to the store topic (%d expected poison) and %d commands",
            len(store_records),
            sum(r.expect == "dlq" for r in store_records),
            len(commands),
        )
        store_at, command_at = await asyncio.gather(
            send_all(servers.bootstrap, workspace.topics.store, store_records, 3),
            send_all(servers.bootstrap, workspace.topics.command, commands, 1),
        )
        for topic in (workspace.topics.store, workspace.topics.command):
            drained = await workspace.wait_lag_zero(180, topic)
            result.check(
                f"lag 0 on {topic.split('.')[1]} topic after the hostile stream", drained is not None
            )
        await wait_outbox_published(servers, workspace.schema, 60)
        codes = await workspace.wait_healthy(service, within=30)
        result.check("/health and /ready 200 after the hostile stream", codes == (200, 200), str(codes))
        hostile_end = log_path.stat().st_size
        exits = await asyncio.to_thread(workspace.stop_all)
        result.check("SIGTERM: exits 0", exits == [0], str(exits))

        result.events = len(store_records) + len(commands)
        result.figures["good_envelopes"] = sum(r.expect == "store" for r in store_records)
        result.figures["hostile_records"] = sum(r.expect != "store" for r in store_records)
        result.figures["commands"] = len(commands)
        await _verify(
            ctx, result, workspace, outbox_topic, store_records, store_at, commands, command_at, counts_before
        )
        conn = await servers.connect(workspace.schema)
        try:
            catalog_after = await catalog(conn)
        finally:
            await conn.close()
        for part in ("relations", "roles", "functions"):
            gone = sorted(set(catalog_before[part]) - set(catalog_after[part]))
            new = sorted(set(catalog_after[part]) - set(catalog_before[part]))
            result.check(
                f"database {part} unchanged", not gone and not new, f"gone {gone[:5]}, new {new[:5]}"
            )
        _check_statements(result, log_path, warm_start, hostile_start, hostile_end, operations)
    except Exception as exc:
        import traceback

        result.error = f"{type(exc).__name__}: {exc}"
        logger.error("  scenario hostile failed:\n%s", traceback.format_exc())
    finally:
        try:
            servers.admin_sql(f'ALTER ROLE "{role}" IN DATABASE "{database}" RESET log_statement')
        except Exception as exc:
            logger.warning("  resetting log_statement failed: %s", exc)
        workspace.kill_all()
        if not ctx.keep_data:
            try:
                await workspace.drop()
            except Exception as exc:
                logger.warning("  cleanup failed: %s", exc)
        result.duration_s = time.monotonic() - started
    return result


def _one_command_per_operation(outbox_topic: str, known: uuid.UUID) -> list[HostileRecord]:
    from fault_injection.envelopes import encode_envelope

    commands: list[dict[str, Any]] = [
        {"operation": "get_event_by_id", "parameters": {"envelope_id": str(known)}},
        {"operation": "list_events_by_correlation", "parameters": {"correlation_id": str(uuid.uuid4())}},
        {
            "operation": "list_events_by_type",
            "parameters": {"event_type": "x", "since": "2020-01-01T00:00:00Z"},
        },
        {"operation": "count_events_by_type", "parameters": {}},
        {"operation": "count_outbox_by_status"},
        {"operation": "list_dead_letter_outbox", "parameters": {"limit": 5}},
        {"operation": "requeue_dead_letter_outbox", "parameters": {"id": 1}},
        {
            "operation": "enqueue_outbox_event",
            "parameters": {"topic": outbox_topic, "key": "k", "payload": "warm"},
        },
        {"operation": "no_such_operation"},
        {"operation": "get_event_by_id", "parameters": {"envelope_id": "not-a-uuid"}},
    ]
    out = []
    for payload in commands:
        envelope_id = uuid.uuid4()
        value = encode_envelope(envelope_id, "onex.postgres.operation.requested", payload)
        out.append(HostileRecord("warm-up command", "command", "either", value, envelope_id=envelope_id))
    return out


async def _verify(
    ctx: RunContext,
    result: ScenarioResult,
    workspace: Workspace,
    outbox_topic: str,
    store_records: list[HostileRecord],
    store_at: list[Coordinates],
    commands: list[HostileRecord],
    command_at: list[Coordinates],
    counts_before: dict[str, int],
) -> None:
    servers = ctx.servers
    topics = workspace.topics
    dlq = dlq_index(await read_topic(servers.bootstrap, topics.store + ".dlq"))
    dlq.update(dlq_index(await read_topic(servers.bootstrap, topics.command + ".dlq")))
    conn = await servers.connect(workspace.schema)
    try:
        rows = await conn.fetch(
            'SELECT envelope_id, topic, "partition", "offset", payload::text AS payload FROM onex_event_store'
        )
        outbox = await conn.fetch(
            "SELECT convert_from(payload, 'UTF8') AS payload, convert_from(key, 'UTF8') AS key "
            "FROM onex_outbox WHERE topic = $1",
            outbox_topic,
        )
        counts_after = await row_counts(conn)
    finally:
        await conn.close()
    stored = {(r["topic"], r["partition"], r["offset"]): r for r in rows}
    problems: dict[str, list[str]] = defaultdict(list)
    outcome: Counter[str] = Counter()
    stored_count = 0
    for record, at in zip(store_records, store_at, strict=True):
        in_dlq, row = at in dlq, stored.get(at)
        stored_count += row is not None
        what = f"{record.label} at {at[1]}/{at[2]}"
        if in_dlq:
            _check_dlq_copy(record, at, dlq[at], problems)
        if record.expect == "store":
            if row is None:
                problems["good envelope not stored (lost)"].append(what)
            elif _as_decimals(row["payload"]) != _as_decimals(record.value or b"{}")["payload"]:
                problems["good envelope stored with a different payload"].append(
                    f"{what}: sent {(record.value or b'')[:200]!r}, stored {row['payload'][:200]}"
                )
            if in_dlq:
                reason = {k: v[:200] for k, v in dlq[at].headers if k.startswith("onex.dlq.")}
                problems["good envelope dead-lettered"].append(f"{what}: {record.value!r:.300} {reason}")
        elif record.expect == "dlq":
            if not in_dlq:
                problems["poison record not in the DLQ"].append(what)
            if row is not None:
                problems["poison record stored in the event store"].append(what)
        elif (row is not None) == in_dlq:
            problems["record stored and dead-lettered, or neither"].append(what)
        outcome["stored" if row is not None else "dlq" if in_dlq else "nowhere"] += 1
    replies = replies_by_request(await read_topic(servers.bootstrap, topics.completed))
    failed = replies_by_request(await read_topic(servers.bootstrap, topics.failed))
    completed_writes = completed_enqueues = kept_failures = 0
    for record, at in zip(commands, command_at, strict=True):
        request = str(record.envelope_id)
        ok, bad, in_dlq = replies.get(request, []), failed.get(request, []), at in dlq
        # A failed reply to a command that reached PostgreSQL is kept in the inbox.
        kept_failures += any((b.get("error") or {}).get("kind") in KEPT_FAILURE_KINDS for b in bad[:1])
        what = f"{record.label} ({record.value[:120] if record.value else b''!r})"
        if in_dlq:
            _check_dlq_copy(record, at, dlq[at], problems)
        if ok and not in_dlq:
            operation = ok[0].get("operation")
            completed_writes += operation in WRITE_OPERATIONS
            completed_enqueues += operation == "enqueue_outbox_event"
            if (
                record.injection in INJECTIONS
                and operation == "list_events_by_type"
                and ok[0].get("row_count") != 0
            ):
                problems["injection in a read parameter returned rows"].append(what)
        if record.expect == "completed" and (not ok or in_dlq or bad):
            problems["valid command not completed"].append(what)
        elif record.expect == "dlq" and (ok or not in_dlq):
            problems["poison command not dead-lettered (or answered completed)"].append(what)
        elif record.expect == "either" and bool(ok) == in_dlq:
            problems["command both completed and dead-lettered, or neither"].append(what)
        outcome[
            "command completed" if ok and not in_dlq else "command dlq" if in_dlq else "command nowhere"
        ] += 1
    expected_outbox = Counter(
        r.outbox_payload
        for r in commands
        if r.outbox_payload is not None and replies.get(str(r.envelope_id)) and r.expect == "completed"
    )
    actual_outbox = Counter(row["payload"] for row in outbox if row["payload"] != "warm")
    if expected_outbox != actual_outbox:
        problems["outbox rows differ from the completed enqueue commands"].append(
            f"missing {list((expected_outbox - actual_outbox).elements())[:3]}, "
            f"extra {list((actual_outbox - expected_outbox).elements())[:3]}"
        )
    published = Counter(
        (r.value or b"").decode("utf-8", "replace") for r in await read_topic(servers.bootstrap, outbox_topic)
    )
    unpublished = [p for p in expected_outbox if published[p] == 0]
    if unpublished:
        problems["injected outbox payloads not published verbatim"].append(str(unpublished[:3]))
    deltas = {name: counts_after.get(name, 0) - counts_before.get(name, 0) for name in counts_after}
    intended = {
        "onex_event_store": stored_count,
        "onex_inbox": completed_writes + kept_failures,
        "onex_outbox": completed_enqueues,
    }
    for table, expected in intended.items():
        if deltas.get(table) != expected:
            problems["row counts beyond the intended effects"].append(
                f"{table}: +{deltas.get(table)} != +{expected}"
            )
    if set(counts_after) != set(counts_before):
        problems["tables of the service's schema changed"].append(
            f"{sorted(counts_before)} -> {sorted(counts_after)}"
        )
    result.figures["outcomes"] = dict(outcome)
    result.figures["row_deltas"] = deltas
    poison_in_dlq = sum(
        1 for r, at in zip(store_records, store_at, strict=True) if r.expect == "dlq" and at in dlq
    )
    poison_in_dlq += sum(
        1 for r, at in zip(commands, command_at, strict=True) if r.expect == "dlq" and at in dlq
    )
    poison_total = sum(r.expect == "dlq" for r in store_records) + sum(r.expect == "dlq" for r in commands)
    result.figures["poison_in_dlq"] = f"{poison_in_dlq}/{poison_total}"
    result.lost = len(problems.get("good envelope not stored (lost)", []))
    names = [
        "good envelope not stored (lost)",
        "good envelope stored with a different payload",
        "good envelope dead-lettered",
        "poison record not in the DLQ",
        "poison record stored in the event store",
        "record stored and dead-lettered, or neither",
        "DLQ record lacks its coordinates, value or headers",
        "valid command not completed",
        "poison command not dead-lettered (or answered completed)",
        "command both completed and dead-lettered, or neither",
        "injection in a read parameter returned rows",
        "outbox rows differ from the completed enqueue commands",
        "injected outbox payloads not published verbatim",
        "row counts beyond the intended effects",
        "tables of the service's schema changed",
    ]
    for name in names:
        found = problems.get(name, [])
        result.check(
            name.replace("(lost)", "").strip() + ": none",
            not found,
            f"{len(found)}: {found[:4]}" if found else "",
        )
    result.check(
        "every poison record in the DLQ with its coordinates",
        poison_in_dlq == poison_total,
        result.figures["poison_in_dlq"],
    )


def _as_decimals(text: str | bytes) -> Any:
    """JSON with its numbers as decimals: ``1e16`` and ``10000000000000000`` are one number."""
    return json.loads(text, parse_float=Decimal)


def _check_dlq_copy(
    record: HostileRecord, at: Coordinates, copy: LogRecord, problems: dict[str, list[str]]
) -> None:
    headers = {k: v for k, v in copy.headers}
    original = record.value or b""
    dropped = headers.get("onex.dlq.value.dropped") == str(len(original)).encode() and not copy.value
    fine = (
        ((copy.value or b"") == original or dropped)
        and headers.get(LABEL_HEADER) == record.label.encode("utf-8", "replace")
        and headers.get("onex.dlq.stage")
        and headers.get("onex.dlq.error.class")
        and headers.get("onex.dlq.original.topic", b"").decode() == at[0]
    )
    if not fine:
        problems["DLQ record lacks its coordinates, value or headers"].append(
            f"{record.label} at {at[1]}/{at[2]}"
        )


def _check_statements(
    result: ScenarioResult,
    log_path: Any,
    warm_start: int,
    hostile_start: int,
    hostile_end: int,
    operations: dict[str, str],
) -> None:
    warm = read_statements(log_path, warm_start, hostile_start)
    hostile = read_statements(log_path, hostile_start, hostile_end)
    allowed = declared_statements(
        REPO_ROOT / "src" / "omnibase_infra",
        {s.sql for s in warm} | set(operations.values()) | pipelined_operations(),
    )
    strange = outside(hostile, allowed, set())
    result.figures["statements_logged"] = {
        "warm_up": len(warm),
        "hostile": len(hostile),
        "distinct_hostile": len({s.sql for s in hostile}),
        "declared": len(allowed.exact) + len(allowed.patterns),
    }
    result.check(
        "statements were captured from PostgreSQL's log",
        len(hostile) > 0 and len(warm) > 0,
        str(result.figures["statements_logged"]),
    )
    result.check(
        "no statement outside the service's repertoire", not strange, "; ".join(s[:160] for s in strange[:3])
    )
    leaked = sorted({s.sql[:160] for s in hostile for text in INJECTIONS if text in s.sql})
    result.check("no injection string inside a statement's text", not leaked, "; ".join(leaked[:3]))


__all__ = ["run_hostile"]
