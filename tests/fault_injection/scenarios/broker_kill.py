"""(3) The broker killed with SIGKILL and restarted (data kept) while the relay publishes.

Outbox rows are inserted throughout the stream, so the relay is publishing when the
broker dies. The event store must hold every envelope exactly once; the outbox is
at-least-once towards the broker, so copies beyond the first are counted, not hidden.
"""

from __future__ import annotations

import asyncio
import time

from fault_injection.outbox_checks import check_outbox_delivery, insert_outbox_rows
from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

TITLE = "broker killed with SIGKILL and restarted (data kept) while the outbox relay publishes"
DOWN_SECONDS = 3.0


async def start_broker(ctx: RunContext, attempts: int = 3) -> float:
    """``start-kafka --keep-data``; a failed start (e.g. its port still held) is retried."""
    for attempt in range(1, attempts + 1):
        try:
            return await ctx.servers.fault("start-kafka", "--keep-data")
        except RuntimeError:
            if attempt == attempts:
                raise
            await asyncio.sleep(5)
    raise AssertionError("unreachable")


async def run_broker_kill(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("broker-kill", TITLE)
    plan = StreamPlan(count=8_000, rate=400) if ctx.quick else StreamPlan(count=40_000, rate=500)
    kills = 1 if ctx.quick else 3
    stop_inserting = asyncio.Event()
    state: dict[str, object] = {}

    async def prepare(run: StreamRun) -> None:
        target = await run.workspace.create_topic(run.workspace.outbox_topic, 3)
        task = asyncio.create_task(
            insert_outbox_rows(ctx.servers, run.workspace.schema, target, rate=40, stop=stop_inserting)
        )
        state.update(target=target, task=task)

    async def inject(run: StreamRun) -> None:
        for moment in random_moments(ctx.rng, kills, 0.15, 0.75):
            await run.stream.reached(moment)
            started = time.time()
            await ctx.servers.fault("kill-kafka")
            await asyncio.sleep(DOWN_SECONDS)
            startup = await start_broker(ctx)
            run.record(
                FaultTiming(
                    "broker kill -9 + restart",
                    started,
                    time.time(),
                    detail=f"down {DOWN_SECONDS:.0f} s, then start-kafka --keep-data took {startup:.1f} s",
                )
            )
            await asyncio.sleep(5)
        stop_inserting.set()

    async def restore() -> None:
        stop_inserting.set()
        await start_broker(ctx)

    async def verify(run: StreamRun) -> None:
        task = state["task"]
        assert isinstance(task, asyncio.Task)
        payloads: list[str] = await task
        await check_outbox_delivery(
            ctx.servers, result, run.workspace.schema, str(state["target"]), payloads, label="outbox"
        )

    await run_streamed(ctx, result, plan, inject, prepare=prepare, verify=verify, restore=restore)
    return result


__all__ = ["run_broker_kill"]
