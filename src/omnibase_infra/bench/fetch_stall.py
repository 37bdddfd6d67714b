"""``scripts/fetch-stall``: how long a command can wait behind aiokafka's fetch of idle partitions,
for each ``fetch_max_wait_ms``, on the real broker.

aiokafka's fetcher sends no fetch to a broker while a partition of it holds records the
application has not taken, except that after ``prefetch_backoff`` (0.1 s, not configurable
through ``AIOKafkaConsumer``) it fetches the *other* partitions of that broker. When those are
idle, the broker holds that fetch for ``fetch_max_wait_ms``, and while it is in flight nothing
else is fetched from that broker. The service reads commands and events with one consumer:
a command left in the buffer for over 0.1 s while the loop applies something else makes the
next command wait for the idle topics' fetch.

Each round here: one consumer on two fresh topics (the idle one, the commands); a command is
fetched and left in the buffer for ``--busy-ms`` (150: an apply longer than 0.1 s), then taken;
the next command is sent, and the time until the consumer returns it is the round's figure.
``render_table`` is the table docs/performance.md quotes between its ``fetch-stall`` markers
(checked against docs/results/fetch-stall.json by the unit tests). Uses
``KAFKA_BOOTSTRAP_SERVERS`` (e.g. ``eval "$(scripts/services env)"``), without TLS or SASL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from omnibase_infra.bench.tool_reports import block_between, git_revision, publish_report

BEGIN = "<!-- fetch-stall:begin (rendered from docs/results/fetch-stall.json) -->"
END = "<!-- fetch-stall:end -->"
DEFAULT_WAITS = (500, 100, 50)


def render_table(report: dict[str, Any]) -> str:
    """The markdown block of a report: the next command's wait per ``fetch_max_wait_ms``."""
    lines = [
        BEGIN,
        f"`{report['command']}` at git {report['git']}: {report['rounds']} rounds per setting, "
        f"the first command left in the buffer {report['busy_ms']} ms each round, {report['cpus']} cores.",
        "",
        "| `fetch_max_wait_ms` | the next command returned after, ms: median | max |",
        "|---|---|---|",
    ]
    delays: dict[str, list[float]] = report["next_command_ms"]
    for wait, measured in delays.items():
        lines.append(f"| {int(wait):,} | {statistics.median(measured):.0f} | {max(measured):.0f} |")
    lines.append(END)
    return "\n".join(lines)


def section(text: str) -> str | None:
    return block_between(text, BEGIN, END)


async def _rounds(bootstrap: str, wait_ms: int, rounds: int, busy_ms: int) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]  # untyped library
    from aiokafka.admin import NewTopic  # type: ignore[import-untyped]  # untyped library

    run = uuid.uuid4().hex[:8]
    idle, commands = f"onex.bench.fetch-stall.{run}.idle", f"onex.bench.fetch-stall.{run}.commands"
    await _with_admin(
        bootstrap, lambda admin: admin.create_topics([NewTopic(idle, 1, 1), NewTopic(commands, 1, 1)])
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(
        idle, commands, bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=wait_ms
    )
    await producer.start()
    await consumer.start()
    delays: list[float] = []
    try:
        await asyncio.sleep(1.0)  # assigned, positions known
        for _ in range(rounds):
            await producer.send_and_wait(commands, b"first")
            await asyncio.sleep(busy_ms / 1000)  # fetched meanwhile; the loop is busy elsewhere
            if not await consumer.getmany(timeout_ms=5000):
                raise RuntimeError("the first command of a round never came")
            started = time.monotonic()
            await producer.send_and_wait(commands, b"next")
            if not await consumer.getmany(timeout_ms=10_000):
                raise RuntimeError("the next command did not come within 10 s")
            delays.append(round((time.monotonic() - started) * 1000, 1))
    finally:
        try:
            await consumer.stop()
        finally:
            await producer.stop()
            await _with_admin(bootstrap, lambda admin: admin.delete_topics([idle, commands]))
    return delays


async def _with_admin(bootstrap: str, act: Callable[[Any], Awaitable[object]]) -> None:
    """``act`` with an admin client of ``bootstrap``, closed afterwards."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await act(admin)
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fetch-stall", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--busy-ms", type=int, default=150)
    parser.add_argument("--json", help="write the report here (docs/results/fetch-stall.json)")
    parser.add_argument("waits", nargs="*", type=int, default=list(DEFAULT_WAITS), help="fetch_max_wait_ms")
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        parser.error('KAFKA_BOOTSTRAP_SERVERS is not set (eval "$(scripts/services env)")')
    measured: dict[str, list[float]] = {}
    for wait in args.waits:
        measured[str(wait)] = asyncio.run(_rounds(bootstrap, wait, args.rounds, args.busy_ms))
        print(f"fetch_max_wait_ms {wait}: next command after {measured[str(wait)]} ms", flush=True)
    report = {
        "command": "scripts/fetch-stall " + " ".join(sys.argv[1:] if argv is None else argv),
        "git": git_revision(),
        "rounds": args.rounds,
        "busy_ms": args.busy_ms,
        "cpus": os.cpu_count(),
        "next_command_ms": measured,
    }
    publish_report(report, render_table(report), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
