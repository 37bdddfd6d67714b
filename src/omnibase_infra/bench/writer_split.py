"""``scripts/writer-split``: the event store's writer on one connection against a batch split
over several (``postgres_pool.write_connections``), on the real server.

``event_store_writer.write_events`` writes the bench's rows (``bench/workload.py``) into a
fresh scratch schema per pass, each configuration ``CONNECTIONSxBATCH`` in turn, the passes
alternated so that a shared machine's noise falls on all of them alike; a batch is split as
the service splits it (``split_for_connections``) and its parts are written at once, one
connection each. ``render_table`` is the table docs/performance.md quotes between its
``writer-split`` markers (checked against docs/results/writer-split.json by the unit tests).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from typing import Any

from omnibase_infra.bench.tool_reports import block_between, git_revision, publish_report

BEGIN = "<!-- writer-split:begin (rendered from docs/results/writer-split.json) -->"
END = "<!-- writer-split:end -->"
X = "\N{MULTIPLICATION SIGN}"
DEFAULT_CONFIGS = ("1x1000", "2x1000", "1x2000", "2x2000", "2x4000", "3x3000")


def parse_config(text: str) -> tuple[int, int]:
    """``"2x2000"`` → ``(2, 2000)``; a ``ValueError`` naming the text otherwise."""
    connections, _, batch = text.partition("x")
    if not (connections.isdigit() and batch.isdigit() and int(connections) >= 1 and int(batch) >= 1):
        raise ValueError(f"{text!r}: expected CONNECTIONSxBATCH, e.g. 2x2000")
    return int(connections), int(batch)


def render_table(report: dict[str, Any]) -> str:
    """The markdown block of a report: rows/s per pass and the median, per configuration."""
    lines = [
        BEGIN,
        f"`{report['command']}` at git {report['git']}: {report['rows']:,} rows, "
        f"{report['repeats']} passes, the order rotated each pass, {report['cpus']} cores, "
        f"1-minute load average {min(report['load_average_after_each_pass']):.2f} to "
        f"{max(report['load_average_after_each_pass']):.2f}.",
        "",
        f"| connections {X} batch | rows/s per pass | median | median / 1 {X} 2,000 |",
        "|---|---|---|---|",
    ]
    rates: dict[str, list[int]] = report["rows_per_s"]
    base = statistics.median(rates["1x2000"]) if "1x2000" in rates else None
    for key, passes in rates.items():
        connections, batch = parse_config(key)
        median = statistics.median(passes)
        ratio = f"{median / base:.2f}" if base else "-"
        each = " / ".join(f"{r:,}" for r in passes)
        lines.append(f"| {connections} {X} {batch:,} | {each} | {median:,.0f} | {ratio} |")
    lines.append(END)
    return "\n".join(lines)


def section(text: str) -> str | None:
    return block_between(text, BEGIN, END)


async def _measure(
    args: argparse.Namespace, configs: list[tuple[int, int]], loads: list[float]
) -> dict[str, list[int]]:
    import asyncpg

    from omnibase_infra.bench.workload import make_dataset
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.event_store_writer import (
        split_for_connections,
        write_events,
    )
    from omnibase_infra.nodes.postgres_adapter.v1_0_0.migrations import migrate

    data = make_dataset("onex.evt.writer-split.v1", args.rows, 3)
    rows = data.stored_events()
    dsn: dict[str, Any] = {
        "host": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        "port": int(os.environ.get("POSTGRES_PORT", "5432")),
        "user": os.environ["POSTGRES_USER"],
        "password": os.environ.get("POSTGRES_PASSWORD"),
        "database": os.environ["POSTGRES_DATABASE"],
    }
    admin = await asyncpg.connect(**dsn)

    async def one_pass(connections: int, batch: int) -> float:
        schema = f"writer_split_{uuid.uuid4().hex[:8]}"
        await migrate(admin, schema)
        conns = [
            await asyncpg.connect(**dsn, server_settings={"search_path": schema}) for _ in range(connections)
        ]
        try:
            started = time.perf_counter()
            for start in range(0, len(rows), batch):
                parts = split_for_connections(rows[start : start + batch], connections)
                await asyncio.gather(*(write_events(c, p) for c, p in zip(conns, parts, strict=False)))
            return len(rows) / (time.perf_counter() - started)
        finally:
            for c in conns:
                await c.close()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    passes: dict[str, list[int]] = {f"{c}x{b}": [] for c, b in configs}
    try:
        for repeat in range(args.repeats):
            # Rotated each pass: no configuration always comes first, right after a DROP.
            shift = repeat % len(configs)
            for connections, batch in configs[shift:] + configs[:shift]:
                rate = await one_pass(connections, batch)
                passes[f"{connections}x{batch}"].append(round(rate))
                loads.append(round(os.getloadavg()[0], 2))
                print(
                    f"pass {repeat + 1}: {connections} connection(s) x batch {batch}: {rate:,.0f} rows/s "
                    f"(load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    finally:
        await admin.close()
    return passes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/writer-split", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--json", help="write the report here (docs/results/writer-split.json)")
    parser.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS), help="CONNECTIONSxBATCH")
    args = parser.parse_args(argv)
    try:
        configs = [parse_config(text) for text in args.configs]
    except ValueError as exc:
        parser.error(str(exc))
    if len(set(configs)) != len(configs):
        parser.error(f"a configuration is named twice: {' '.join(args.configs)}")
    loads: list[float] = []
    passes = asyncio.run(_measure(args, configs, loads))
    report = {
        "command": "scripts/writer-split " + " ".join(sys.argv[1:] if argv is None else argv),
        "git": git_revision(),
        "rows": args.rows,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "rows_per_s": passes,
        "load_average_after_each_pass": loads,
    }
    publish_report(report, render_table(report), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
