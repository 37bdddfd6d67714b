"""``onex-infra dlq list`` and ``onex-infra dlq replay``: inspect and replay dead letters.

``TOPIC`` is a DLQ topic (``T.dlq``) or its source topic ``T``. Both commands read with no
consumer group and commit nothing, so they never disturb the service's consumers.

``dlq list TOPIC [--partition P] [--limit N] [--json]``: offset, original
topic/partition/offset, stage, error class and message, failed_at of the first N records.
Exit 0 (also when the DLQ topic does not exist: nothing was dead-lettered), 1 when Kafka
cannot be read, 2 when ``--partition`` names no partition of the topic, 3 on a
configuration error.

``dlq replay TOPIC (--offsets 3,5-9 | --all) [--partition P] [--stage S] [--dry-run] [--json]``:
republishes the selected records to their original topics (see ``dlq_replay``). Exit 0
when every selected record was replayed (or would be, with ``--dry-run``), 1 when a record
was refused, a send failed, a selected offset holds no record or the DLQ topic does not
exist, 2 on a bad selection, 3 on a configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from omnibase_infra.cli.console import Console, Progress, quiet_library_logs
from omnibase_infra.cli.dlq_records import (
    DlqRead,
    DlqRecord,
    OffsetSelection,
    PartitionWindow,
    SelectionError,
    TopicMissing,
    read_dlq,
    resolve_dlq_topic,
)
from omnibase_infra.cli.dlq_replay import (
    KafkaReplaySender,
    ReplayDecision,
    ReplayResult,
    plan_replay,
    send_replays,
)
from omnibase_infra.errors import ConfigurationError
from omnibase_infra.settings import load_kafka_connection

if TYPE_CHECKING:
    from omnibase_infra.models.model_kafka_producer_config import ModelKafkaSecurityConfig

Windows = Callable[[list[int]], list[PartitionWindow]]

_ERROR_WIDTH = 100


def _connection(console: Console) -> tuple[str, ModelKafkaSecurityConfig] | None:
    try:
        return load_kafka_connection()
    except ConfigurationError as exc:
        console.error(f"configuration error: {exc}")
        return None


def render_list(console: Console, read: DlqRead) -> None:
    count = len(read.records)
    plural = "s" if len(read.partitions) != 1 else ""
    console.line(
        f"{console.style(read.topic, 'bold')}: {read.total} record(s) in "
        f"{len(read.partitions)} partition{plural}" + (f", showing {count}" if count < read.total else "")
    )
    if not read.records:
        return
    rows = [("PART", "OFFSET", "ORIGINAL", "STAGE", "FAILED_AT", "ERROR")]
    for r in read.records:
        error = f"{r.context.get('error.class', '-')}: {r.context.get('error.message', '')}".rstrip(": ")
        if len(error) > _ERROR_WIDTH:
            error = error[: _ERROR_WIDTH - 3] + "..."
        rows.append(
            (str(r.partition), str(r.offset), r.original_coordinates, r.stage or "-",
             r.context.get("failed_at", "-"), error)
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for index, row in enumerate(rows):
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        console.line(console.style(text, "bold") if index == 0 else text)
    if count < read.total:
        console.line(f"... {read.total - count} more (--limit to show more)")


def run_list(args: argparse.Namespace) -> int:
    """List dead letters; see the module docstring for exit codes."""
    console = Console()
    quiet_library_logs()
    connection = _connection(console)
    if connection is None:
        return 3
    bootstrap, security = connection
    topic = resolve_dlq_topic(args.topic)
    _, windows = _selection_plan(None, args.partition)
    try:
        read = asyncio.run(
            read_dlq(
                topic,
                bootstrap=bootstrap,
                security=security,
                windows=windows,
                limit=int(args.limit),
                timeout_seconds=float(args.timeout),
            )
        )
    except SelectionError as exc:
        console.error(f"{topic}: {exc}")
        return 2
    except TopicMissing:
        if args.json:
            console.json({"topic": topic, "exists": False, "partitions": [], "total": 0, "records": []})
        else:
            console.line(
                f"{topic} does not exist: nothing has been dead-lettered from {topic[:-4]} (or a typo)"
            )
        return 0
    except Exception as exc:
        console.error(f"cannot read {topic} from {bootstrap}: {_reason(exc)}")
        return 1
    if args.json:
        console.json(
            {
                "topic": read.topic,
                "exists": True,
                "partitions": read.partitions,
                "total": read.total,
                "records": [r.as_json() for r in read.records],
            }
        )
    else:
        render_list(console, read)
    return 0


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out (is the broker reachable? --timeout_seconds)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _selection_plan(
    selection: OffsetSelection | None, partition: int | None
) -> tuple[list[tuple[int, int, int]], Windows]:
    """The ranges bound to partitions (filled when ``read_dlq`` calls back), and that callback."""
    bound: list[tuple[int, int, int]] = []

    def windows(partitions: list[int]) -> list[PartitionWindow]:
        if selection is None:
            chosen = [partition] if partition is not None else partitions
            if partition is not None and partition not in partitions:
                raise SelectionError(f"the topic has no partition {partition}")
            return [PartitionWindow(p) for p in chosen]
        default = partition if partition is not None else (partitions[0] if len(partitions) == 1 else None)
        per_partition = selection.bound(partitions, default)
        result = []
        for p, ranges in sorted(per_partition.items()):
            bound.extend((p, low, high) for low, high in ranges)
            result.append(PartitionWindow(p, min(lo for lo, _ in ranges), max(hi for _, hi in ranges) + 1))
        return result

    return bound, windows


def _selected(
    records: list[DlqRecord], bound: list[tuple[int, int, int]]
) -> tuple[list[DlqRecord], list[str]]:
    """Records inside the ranges, and the ranges that matched no record."""
    if not bound:
        return records, []
    chosen = [r for r in records if any(p == r.partition and lo <= r.offset <= hi for p, lo, hi in bound)]
    empty = [
        f"{p}:{lo}" + (f"-{hi}" if hi != lo else "")
        for p, lo, hi in bound
        if not any(r.partition == p and lo <= r.offset <= hi for r in chosen)
    ]
    return chosen, empty


def render_replay(
    console: Console,
    topic: str,
    decisions: list[ReplayDecision],
    result: ReplayResult | None,
    empty: list[str],
) -> None:
    for d in decisions:
        where = f"{d.record.partition}:{d.record.offset}"
        if d.outcome == "refused":
            console.line(f"{console.mark('fail')}  refused {where}: {d.reason}")
        elif result is None and d.outcome == "replay":
            size = len(d.record.value or b"")
            console.line(f"would replay {where} -> {d.target} ({size} bytes)")
    for item in empty:
        console.line(f"{console.mark('fail')}  no record at {item} in {topic}")
    filtered = sum(d.outcome == "filtered" for d in decisions)
    refused = sum(d.outcome == "refused" for d in decisions)
    skipped = f"skipped {filtered + refused} ({filtered} filtered by --stage, {refused} refused)"
    if result is None:
        planned = sum(d.outcome == "replay" for d in decisions)
        console.line(f"dry run: would replay {planned}, {skipped} from {topic}")
        return
    console.line(f"replayed {result.replayed}, {skipped} from {topic}")
    if result.failed_at is not None:
        where = f"{result.failed_at.partition}:{result.failed_at.offset}"
        console.error(
            f"sending {where} failed: {result.first_error}; {result.failed} failed, "
            f"{result.not_attempted} not attempted (running the same command again re-sends them all)"
        )


async def _replay(
    args: argparse.Namespace, bootstrap: str, security: ModelKafkaSecurityConfig
) -> tuple[DlqRead, list[str], list[ReplayDecision], ReplayResult | None]:
    bound, windows = _selection_plan(args.offsets, args.partition)
    read = await read_dlq(
        resolve_dlq_topic(args.topic),
        bootstrap=bootstrap,
        security=security,
        windows=windows,
        timeout_seconds=float(args.timeout),
    )
    chosen, empty = _selected(read.records, bound)
    decisions = plan_replay(chosen, args.stage)
    if args.dry_run:
        return read, empty, decisions, None
    todo = sum(d.outcome == "replay" for d in decisions)
    if todo == 0:
        return read, empty, decisions, ReplayResult()
    sender = KafkaReplaySender(bootstrap, security, float(args.timeout))
    progress = Progress(todo, "replaying", None if args.json else sys.stderr)
    await sender.start()
    try:
        result = await send_replays(
            decisions, sender, timeout_seconds=float(args.timeout), on_ack=progress.advance
        )
    finally:
        progress.close()
        await sender.stop()
    return read, empty, decisions, result


def run_replay(args: argparse.Namespace) -> int:
    """Replay selected dead letters; see the module docstring for exit codes."""
    console = Console()
    quiet_library_logs()
    connection = _connection(console)
    if connection is None:
        return 3
    bootstrap, security = connection
    topic = resolve_dlq_topic(args.topic)
    try:
        read, empty, decisions, result = asyncio.run(_replay(args, bootstrap, security))
    except TopicMissing:
        console.error(f"{topic} does not exist: there is nothing to replay")
        return 1
    except SelectionError as exc:
        console.error(f"{topic}: {exc}")
        return 2
    except Exception as exc:
        console.error(f"replay from {topic} failed: {_reason(exc)}")
        return 1
    refused = sum(d.outcome == "refused" for d in decisions)
    failed = result is not None and result.failed > 0
    if args.json:
        console.json(
            {
                "dlq_topic": read.topic,
                "dry_run": bool(args.dry_run),
                "replayed": result.replayed if result is not None else 0,
                "would_replay": sum(d.outcome == "replay" for d in decisions) if result is None else 0,
                "filtered": sum(d.outcome == "filtered" for d in decisions),
                "refused": refused,
                "failed": result.failed if result is not None else 0,
                "not_attempted": result.not_attempted if result is not None else 0,
                "error": result.first_error if result is not None else "",
                "missing": empty,
                "records": [
                    {
                        "partition": d.record.partition,
                        "offset": d.record.offset,
                        "outcome": d.outcome,
                        "target": d.target,
                        "reason": d.reason,
                    }
                    for d in decisions
                ],
            }
        )
    else:
        render_replay(console, read.topic, decisions, result, empty)
    return 1 if refused or failed or empty else 0


__all__ = ["render_list", "render_replay", "run_list", "run_replay"]
