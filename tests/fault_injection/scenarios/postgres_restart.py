"""(2) PostgreSQL restarted mid-stream, in fast and in immediate shutdown mode.

Immediate mode is a crash for the clients: sessions die mid-transaction, and the server
runs crash recovery when it starts again. The service must pause (breaker open), commit
nothing it did not write, and catch up once the breaker lets traffic through again.
"""

from __future__ import annotations

import asyncio
import time

from fault_injection.results import FaultTiming, ScenarioResult
from fault_injection.streaming import RunContext, StreamPlan, StreamRun, random_moments, run_streamed

TITLE = "PostgreSQL restarted mid-stream (fast and immediate shutdown)"


async def run_postgres_restart(ctx: RunContext) -> ScenarioResult:
    result = ScenarioResult("postgres-restart", TITLE)
    if ctx.quick:
        plan, modes = StreamPlan(count=8_000, rate=250), ["fast", "immediate"]
    else:
        plan, modes = StreamPlan(count=60_000, rate=300), ["fast", "immediate"] * 3

    async def inject(run: StreamRun) -> None:
        for moment, mode in zip(random_moments(ctx.rng, len(modes)), modes, strict=True):
            await run.stream.reached(moment)
            started = time.time()
            await ctx.servers.fault("restart-postgres", mode)
            fault = FaultTiming(f"postgres restart ({mode})", started, time.time())
            run.record(fault)
            # /ready follows the health loop's samples, so it says little here: wait for
            # the first write after the restart instead, then let the next slice come.
            await run.wait_first_row_after(fault.ended_at)
            await asyncio.sleep(1)

    async def restore() -> None:
        await ctx.servers.fault("start-postgres")

    await run_streamed(ctx, result, plan, inject, restore=restore)
    return result


__all__ = ["run_postgres_restart"]
