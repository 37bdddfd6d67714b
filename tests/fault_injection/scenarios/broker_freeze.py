"""(4) The broker frozen (SIGSTOP) for longer than the request timeout, then resumed.

A frozen broker accepts connections but answers nothing: every request times out
(the service's producer request timeout in development is 10 s). Nothing may be lost
or committed ahead of the database, and the service must resume on its own.
"""

from __future__ import annotations

import asyncio
import time

from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

TITLE = "broker frozen with SIGSTOP for longer than the request timeout, then resumed"


async def run_broker_freeze(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("broker-freeze", TITLE)
    if ctx.quick:
        plan, holds = StreamPlan(count=6_000, rate=300), [15.0]
    else:
        plan, holds = StreamPlan(count=40_000, rate=400), [15.0, 25.0]

    async def inject(run: StreamRun) -> None:
        for moment, hold in zip(random_moments(ctx.rng, len(holds), 0.15, 0.6), holds, strict=True):
            await run.stream.reached(moment)
            started = time.time()
            await ctx.servers.fault("pause-kafka")
            await asyncio.sleep(hold)
            await ctx.servers.fault("resume-kafka")
            run.record(FaultTiming(f"broker SIGSTOP {hold:.0f} s", started, time.time()))
            await asyncio.sleep(3)

    async def restore() -> None:
        await ctx.servers.fault("start-kafka", "--keep-data")  # also resumes a paused broker

    await run_streamed(ctx, result, plan, inject, restore=restore)
    return result


__all__ = ["run_broker_freeze"]
