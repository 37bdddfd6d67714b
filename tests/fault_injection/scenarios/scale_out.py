"""(5) Three instances in one consumer group on a 6-partition topic; one is killed.

The group is first allowed to settle (every partition owned by exactly one instance).
The victim is killed with SIGKILL mid-stream and not restarted: the two survivors must
take over its partitions once its session expires, re-reading what it had not committed.
Recovery is measured on the victim's partitions only.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from service_harness import ServiceProcess

from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, run_streamed

TITLE = "3 instances in one group on 6 partitions, one killed with SIGKILL mid-stream"
_PARTITION = re.compile(r"Partition\(topic='([^']+)', partition=(\d+)\)")


def assigned_partitions(process: ServiceProcess, topic: str) -> set[int] | None:
    """The store-topic partitions of the last assignment in ``process``'s log (None before any)."""
    latest: set[int] | None = None
    for line in process.log_text().splitlines():
        if '"partitions assigned"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        parts = set()
        for text in entry.get("partitions", []):
            match = _PARTITION.fullmatch(text)
            if match and match.group(1) == topic:
                parts.add(int(match.group(2)))
        latest = parts
    return latest


async def wait_settled(run: StreamRun, within: float = 60.0) -> list[set[int]]:
    """Every store partition owned by exactly one instance."""
    topic = run.workspace.topics.store
    deadline = time.monotonic() + within
    owners: list[set[int]] = []
    while time.monotonic() < deadline:
        owners = [assigned_partitions(p, topic) or set() for p in run.services]
        flat = [p for parts in owners for p in parts]
        if sorted(flat) == list(range(run.workspace.partitions)) and all(owners):
            await asyncio.sleep(1.0)  # no further rebalance pending
            again = [assigned_partitions(p, topic) or set() for p in run.services]
            if again == owners:
                return owners
        await asyncio.sleep(0.3)
    raise TimeoutError(f"consumer group did not settle within {within} s: {owners}")


async def run_scale_out(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("scale-out", TITLE)
    plan = (
        StreamPlan(count=6_000, rate=500, instances=3)
        if ctx.quick
        else StreamPlan(count=60_000, rate=1_000, instances=3)
    )

    async def prepare(run: StreamRun) -> None:
        owners = await wait_settled(run)
        result.figures["assignment_before"] = [sorted(o) for o in owners]

    async def inject(run: StreamRun) -> None:
        owners = [assigned_partitions(p, run.workspace.topics.store) or set() for p in run.services]
        victim_index = ctx.rng.randrange(len(run.services))
        victim = run.services[victim_index]
        await run.stream.reached(ctx.rng.uniform(0.3, 0.5))
        started = time.time()
        victim.kill()
        fault = FaultTiming(
            "instance kill -9 (not restarted)",
            started,
            time.time(),
            detail=f"instance {victim_index}, partitions {sorted(owners[victim_index])}",
        )
        run.record(fault, partitions=owners[victim_index])
        survivors = [p for i, p in enumerate(run.services) if i != victim_index]
        topic = run.workspace.topics.store
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            after = [assigned_partitions(p, topic) or set() for p in survivors]
            if sorted(x for parts in after for x in parts) == list(range(run.workspace.partitions)):
                result.figures["assignment_after"] = [sorted(o) for o in after]
                result.figures["takeover_s"] = round(time.time() - fault.ended_at, 2)
                break
            await asyncio.sleep(0.2)
        result.check(
            "survivors own every partition after the kill",
            "assignment_after" in result.figures,
            str(result.figures.get("assignment_after")),
        )

    await run_streamed(ctx, result, plan, inject, prepare=prepare)
    return result


__all__ = ["run_scale_out"]
